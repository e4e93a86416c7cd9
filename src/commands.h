/* Entry points of the seg3d commands, one module each (src/cmd_*.c): argv as given to seg3d_main, the return value is the process exit code. */
#ifndef COMMANDS_H
#define COMMANDS_H

/* ./darknet seg3d train <data> <cfg> [weights] [-clear] [-nogpu] [-gpus 0] [-seed S] [-max_batches N]
 *                       [-valid_every N] [-benchmark_layers] [-deterministic] [-precision fp32|tf32|fp16|bf16] [-dont_show]
 * [net] keys read here (Darknet ignores them): save_every (1000), last_every (100), valid_every (0 = off; the flag
 * overrides it), deterministic (0), infer_stride (validation windows). Each checkpoint <x>.weights gets <x>.weights.state
 * (train_state.h); a weights argument with its state resumes exactly. Exit code: 0, 1 error, 2 usage,
 * 3 non-finite loss or weights. */
int seg3d_train(int argc, char **argv);

/* ./darknet seg3d predict|test|metrics|sdf ... (usage: ./darknet seg3d) */
int seg3d_predict(int argc, char **argv);
int seg3d_test(int argc, char **argv);
int seg3d_metrics(int argc, char **argv);
int seg3d_sdf(int argc, char **argv);
/* ./darknet seg3d heads <cfg> <weights> <image> [...] [-stride D H W] (src/cmd_heads.c) */
int seg3d_heads(int argc, char **argv);

#endif
