/* The pieces of a seg3d training run that src/cmd_train.c puts together: safe weight checkpoints, validation and the per-layer benchmark. */
#ifndef TRAIN_H
#define TRAIN_H
#include <limits.h>
#include "darknet.h"
#include "dataset.h"
#include "loader.h"
#include "train_state.h"

/* room for any path a training run builds: one the system accepts (PATH_MAX) and a suffix such as ".state" */
#define TRAIN_PATH_BUF (PATH_MAX + 32)

/* Writes weights to <path>.tmp, flushes and renames it over <path>: a crash never leaves a half-written file.
 * *size is the byte size of this network's weights files written before (-1: none yet); the first good write
 * sets it, and a later write of another size is a failed write (a network's weights never change size).
 * Returns 0; -1 on a write error (reported); 3 when a weight is not finite (nothing written, <path> unchanged). */
int save_weights_atomic(network *net, const char *path, long *size);

/* save_weights_atomic, then the .state that goes with it (b: the batch trained last); a state that cannot be
 * written is a warning (the resume will be approximate). 0, 3 (weights not finite: nothing written) or -1. */
int train_checkpoint(network *net, const char *path, const loader_batch *b, const train_progress *pr, long *size);

/* Mean Dice over the valid list of ds, sliding window at the cfg's infer stride (or half a window); NAN when
 * no case could be scored (each failure reported). *secs: the time it took; *scored: the cases the mean is over. */
double train_validate(network *net, dataset *ds, const char *cfg, double *secs, int *scored);

/* One sub-batch of training: Darknet's train_network_datum (forward, backward, and the update at the last sub-batch
 * of a step), with precision fp16's loss scaling (core/amp.h) when amp is not NULL: the update buffers saved before
 * the step's first backward pass, the loss scaled by scaler->scale, the update skipped on overflow (one line on
 * stderr says so). *saved carries "saved for this step" between sub-batches (start it at 0). Returns the loss. */
float train_datum(network *net, amp_params *amp, amp_scaler *scaler, int *saved);

/* -benchmark_layers: on = 1 wraps every layer's forward and backward (the GPU ones in a GPU run) in a timer,
 * on = 0 puts them back; train_bench_report prints the table of one iteration that took `total` seconds. */
void train_bench_wrap(network *net, int on);
void train_bench_report(network *net, int iter, double total);
#endif
