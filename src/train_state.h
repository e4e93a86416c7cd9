/* Exact resume of seg3d train: the `<weights>.state` file that goes with a checkpoint (momentum, random streams, loader position, progress and chart history). */
#ifndef TRAIN_STATE_H
#define TRAIN_STATE_H
#include <stddef.h>
#include <stdint.h>
#include "darknet.h"
#include "loader.h"
#include "amp.h"

/* ---------------------------------------------------------------------------------------------
 * A checkpoint is two files: Darknet's `<name>.weights` (unchanged format: inference and fine-tuning
 * need nothing else) and `<name>.weights.state`, which holds everything else a run needs to go on
 * as if never stopped:
 *   - the SGD momentum buffers of every trainable layer (weight/bias/scale updates, conv3d's pre-BN bias);
 *   - rand()'s state (weight initialisation and [dropout] masks on the CPU);
 *   - the loader's position (its generator, each stream's shuffled order, position and epoch);
 *   - the running average loss, the best validation Dice and its iteration, the chart's history;
 *   - the fp16 loss scale, its count of good steps and of skipped steps;
 *   - the seed and the thread count of the run that wrote it.
 * The state names the weights file it belongs to by size and hash and by `seen`: a state that does not
 * match (a kill between the two renames, a weights file copied without it) is refused, never half-used.
 * All numbers are in the machine's byte order; the file ends with a hash of its contents.
 * ------------------------------------------------------------------------------------------- */

/* What the training loop carries from iteration to iteration besides the network and the loader. */
typedef struct {
    uint64_t seed;          /* -seed of the run that started the chain */
    float avg_loss;         /* running average printed per iteration (< 0: none yet) */
    double best_dice;       /* best mean validation Dice so far (< 0: none yet) */
    int best_iter;
    int nseries;            /* chart history: loss series per point */
    int npoints, cap;
    int *iter;              /* [npoints] */
    float *val;             /* [npoints][nseries] */
    int nvalid, vcap;
    int *viter;             /* [nvalid] */
    double *vdice;
    amp_scaler amp;         /* the fp16 loss scale and its schedule (core/amp.h) */
} train_progress;

void train_progress_init(train_progress *p, int nseries, uint64_t seed);
/* appends one point (nseries values) / one validation result; -1 when memory is short */
int train_progress_add(train_progress *p, int iter, const float *values);
int train_progress_add_valid(train_progress *p, int iter, double dice);
void train_progress_free(train_progress *p);

/* rand() with a state that can be saved: seeds it like srand(seed) (the same sequence), on a state
 * buffer owned here. Returns 1 when the state can be saved and restored exactly on this C library
 * (checked by drawing and replaying), 0 when not (a resume then cannot be exact). */
int train_rand_seed(unsigned seed);
#define TRAIN_RAND_BYTES 128

/* Writes <state_path> atomically (a temporary file, flushed, then renamed) for the weights file just
 * written at <weights_path>; b is the batch trained last (its loader position). 0, or -1 with err. */
int train_state_save(const char *state_path, const char *weights_path, network *net, const loader_batch *b,
                     const train_progress *p, char *err, size_t errlen);

/* Reads <state_path>, checks it belongs to <weights_path> and to this network, loader and thread count,
 * then restores momentum, rand(), the loader position and *p (p must be initialised: its history is
 * replaced). Nothing is changed unless everything fits. 0; 1 when there is no state file; -1 with err
 * (why the state cannot be used). A thread count other than the writer's is not an error: *threads_then
 * tells it (results then differ in the last bits from an uninterrupted run). */
int train_state_load(const char *state_path, const char *weights_path, network *net, loader *L,
                     train_progress *p, int *threads_then, char *err, size_t errlen);

#ifdef GPU
/* The fp16 training step's view of the network (core/amp.h): the device update (momentum) buffers of every
 * trainable layer; NULL with err for a layer whose parameters are not known here, or short device memory. */
amp_params *train_amp_params(network *net, char *err, size_t errlen);
#endif
#endif
