/* Training batches for seg3d: two-stream (labeled / unlabeled) sampling, random crops with zero padding, flip/rot90 augmentation, loaded in a background thread. */
#ifndef LOADER_H
#define LOADER_H
#include <stdint.h>
#include "darknet.h"
#include "dataset.h"

/* ---------------------------------------------------------------------------------------------
 * Batch layout (what get_next_batch would copy into net.input / net.truth; loader_batch_bind uses it in place):
 *
 *   rows = batch * subdivisions. Each consecutive group of `batch` rows (one sub-batch, what one
 *   forward pass sees) holds `labeled_per_batch` labeled samples first, then the unlabeled ones.
 *
 *   X row r (C*D*H*W floats, C = 1): image crop, NCDHW, idx = w + W*(h + H*d).
 *   y row r (D*H*W + 1 floats):
 *       y[0 .. D*H*W-1]  label crop at the same voxels (class ids as floats: 0/1 for LA);
 *                        all 0 for an unlabeled sample;
 *       y[D*H*W]         1 = labeled sample, 0 = unlabeled sample.
 *   The loss layer reads this from net.truth with l.truths = D*H*W + 1 (per sample).
 *
 * Crop geometry: D = net->d = nz (depth, NIfTI k), H = net->h = ny (j), W = net->w = nx (i).
 * Crop origin (ox, oy, oz) in volume voxels: uniform in [0, n - crop] along an axis when the
 * volume is at least the crop, else uniform in [n - crop, 0], i.e. the volume lies at a random
 * position inside the crop and the rest is zero (image and label).
 *
 * Augmentation (DTC's RandomRotFlip generalised): output voxel (x, y, z) takes the cropped voxel
 *   (x, y, z) -> undo flips: x = W-1-x if flip&1, y = H-1-y if flip&2, z = D-1-z if flip&4
 *             -> undo rot90 k times: (x, y) <- (y, W-1-x)         (needs H == W)
 *             -> volume voxel (ox + x, oy + y, oz + z), zero outside the volume.
 * i.e. out = Flip(Rot^k(crop)) with Rot(a)[x][y] = a[y][W-1-x], a 90-degree turn in the i-j plane.
 * ------------------------------------------------------------------------------------------- */

#define LOADER_FLIP_W 1   /* flip along i (x, width) */
#define LOADER_FLIP_H 2   /* flip along j (y, height) */
#define LOADER_FLIP_D 4   /* flip along k (z, depth) */

typedef struct {
    int batch;              /* rows per sub-batch (net->batch) */
    int subdivisions;       /* sub-batches per loaded batch (net->subdivisions); rows = batch * subdivisions */
    int labeled_per_batch;  /* labeled rows per sub-batch; <= 0: the .data value, else half of batch rounded up;
                               always all rows when the data set has no unlabeled list */
    int d, h, w;            /* crop size (depth, height, width) */
    int flip;               /* LOADER_FLIP_* mask: each set axis is flipped with probability 1/2 */
    int rot90;              /* 1: rotate by k*90 degrees in the i-j plane, k uniform in 0..3 (needs h == w) */
    uint64_t seed;          /* one seed fixes the whole sequence of samples, crops and augmentations */
} loader_params;

/* batch/subdivisions/d/h/w from the network; DTC's augmentation (flip i or j, rot90) when h == w; seed 0 */
loader_params loader_params_from_net(const network *net);

/* Which case and transform produced a row (for tests, logs and debugging). */
typedef struct {
    int split;              /* SPLIT_LABELED or SPLIT_UNLABELED */
    int index;              /* case index in that split's list */
    int ox, oy, oz;         /* crop origin in volume voxels (may be negative: padding) */
    int flip;               /* LOADER_FLIP_* bits applied */
    int rot;                /* k, number of 90-degree turns */
} loader_sample_info;

typedef struct {
    data d;                 /* Darknet data: d.X rows x (D*H*W), d.y rows x (D*H*W + 1); each matrix one block, its
                             * rows in order (loader_batch_bind), page-locked on a GPU run (pinned) */
    int pinned;             /* bit 0: d.X's block is page-locked, bit 1: d.y's */
    loader_sample_info *info;
    int rows;
    unsigned char *state;   /* the sequence's position right after this batch (loader_restore continues from it) */
    size_t state_bytes;
} loader_batch;

typedef struct loader loader;

/* Validates the parameters against the data set; starts no thread. NULL with err on error. */
loader *loader_create(dataset *ds, const loader_params *p, char *err, size_t errlen);
/* Stops the thread if running and frees everything (batches handed out become invalid). */
void loader_free(loader *L);

/* Synchronous: fills b (from loader_alloc_batch) with the next batch of the sequence. Reads volumes
 * into the data set's cache on first use. 0 or -1 with err (a volume that cannot be read). Do not
 * call while the background thread runs. */
int loader_fill(loader *L, loader_batch *b, char *err, size_t errlen);
/* A batch's buffers; on failure d.X.vals or info is NULL (out of memory). */
loader_batch loader_alloc_batch(const loader *L);
void loader_free_batch(loader_batch *b);
/* Points net->input (and net->truth, when the network has one) at rows [offset, offset + net->batch) of b: what
 * get_next_batch would copy there, used in place. 1 when done; 0, nothing changed, when b's row lengths are not the
 * network's (the caller copies with get_next_batch then). The caller keeps the network's own two pointers and puts
 * them back once the batch is used (they are what free_network frees). */
int loader_batch_bind(const loader_batch *b, int offset, network *net);

/* Background loading (Darknet's load_data pattern): the first call starts the thread and waits for
 * batch 1; every call returns the batch the thread finished and immediately starts the next one,
 * so loading overlaps the caller's training step. *out stays valid until the next call.
 * The sequence is the same as with loader_fill for the same seed. 0 or -1 with err. */
int loader_next(loader *L, loader_batch **out, char *err, size_t errlen);
/* Stops the thread after the batch in progress is finished; that batch is kept and is what the next
 * loader_next returns (it restarts the thread), so stopping does not change the sequence. After a
 * read error loader_next keeps returning -1 with the same message. */
void loader_stop(loader *L);

/* Bytes of a loader position (loader_batch.state): the generator, then each stream's epoch, position and order. */
size_t loader_state_bytes(const loader *L);
/* Makes the next batch the one that followed the batch whose state is given (same data set lists and
 * parameters): a resumed run draws the same samples as one never stopped. Only before the first loader_next
 * or loader_fill. 0, or -1 with err when the state does not fit this loader. */
int loader_restore(loader *L, const unsigned char *state, size_t bytes, char *err, size_t errlen);

/* Epochs completed by the labeled / unlabeled stream (a stream's epoch ends when each case has been drawn once). */
int loader_epoch(const loader *L, int split);
/* labeled rows per sub-batch actually used */
int loader_labeled_per_batch(const loader *L);

/* The crop/augment kernel: writes the W*H*D image crop to x and, when y != NULL, the label crop as floats
 * (zeros when lab == NULL). Exposed for tests. */
void loader_extract(const float *img, const uint8_t *lab, int nx, int ny, int nz,
                    int W, int H, int D, const loader_sample_info *s, float *x, float *y);

#endif
