/* `./darknet seg3d train`: the training loop (two-stream batches, Darknet's SGD and lr policies, safe checkpoints, resume, validation, loss chart). */
#ifndef TRAIN_H
#define TRAIN_H
#include "darknet.h"

/* ./darknet seg3d train <data> <cfg> [weights] [-clear] [-nogpu] [-gpus 0] [-seed S] [-max_batches N]
 *                       [-valid_every N] [-benchmark_layers] [-deterministic] [-dont_show]
 * [net] keys read here (Darknet ignores them): save_every (1000), last_every (100), valid_every (0 = off; the flag
 * overrides it), deterministic (0), infer_stride (validation windows). Each checkpoint <x>.weights gets <x>.weights.state
 * (train_state.h); a weights argument with its state resumes exactly. Returns the exit code: 0, 1 error, 2 usage,
 * 3 non-finite loss or weights. */
int seg3d_train(int argc, char **argv);

/* Writes weights to <path>.tmp, flushes and renames it over <path>: a crash never leaves a half-written file.
 * Returns 0; -1 on a write error (reported); 3 when a weight is not finite (nothing written, <path> unchanged). */
int save_weights_atomic(network *net, const char *path);
#endif
