/* Inference over whole volumes: sliding windows (DTC/UA-MT test_single_case placement), the network's foreground probability, thresholding, largest component and the metrics of two label volumes. */
#ifndef INFER_H
#define INFER_H
#include <stddef.h>
#include "darknet.h"
#include "progress.h"
#include "volume_io.h"
#include "metrics.h"

/* Window starts along one axis of (padded) length size >= patch, as DTC/UA-MT test_single_case:
 *   steps = ceil((size - patch) / stride) + 1,  start_i = min(stride*i, size - patch),
 * except that a stride larger than the window is taken as the window, so every voxel is covered.
 * Writes the starts to `starts` when non-NULL; returns the number of steps (0 on bad arguments). */
int sw_starts(int size, int patch, int stride, int *starts);

/* Computes foreground probabilities of n windows: `in` holds `slots` windows of patch voxels each
 * (1 channel, idx = w + W*(h + H*d)), windows n..slots-1 are zero filler; writes slots*patch values to prob.
 * origin[3*b .. 3*b+2] is window b's first voxel (d, h, w) in the volume (negative where the volume is padded).
 * Returns 0, or -1 with err. */
typedef int (*sw_fn)(void *ctx, float *in, const int *origin, int n, int slots, float *prob, char *err, size_t errlen);

/* Sliding window over a D x H x W volume with windows pd x ph x pw (= patch[0..2]) and strides stride[0..2]
 * (along d, h, w). A volume smaller than the window along an axis is zero padded to the window size, the
 * padding split as DTC does (left = pad/2, right = the rest) and cropped back. Probabilities of overlapping
 * windows are averaged (sum / count). `slots` windows go to fn per call. prob (D*H*W) is overwritten;
 * count (D*H*W, optional) receives the number of windows that covered each voxel. Returns 0 or -1 with err. */
int sliding_window(const float *vol, int D, int H, int W, const int patch[3], const int stride[3], int slots,
                   sw_fn fn, void *ctx, float *prob, float *count, char *err, size_t errlen);

/* Foreground probability of the network's last forward pass, for all net->batch samples (writes
 * net->batch * d*h*w floats; the output must have the input's spatial size). Which output:
 *  - a [dbisl] layer present: its seg inputs (l.input_layers[2*i], i = decoder) are logits -> sigmoid;
 *    decoder 0 = a, 1 = b, -1 = mean of the decoders' probabilities (= a with one decoder);
 *  - else the output layer: 1 channel -> sigmoid, unless it already gives probabilities ([r2s], stock
 *    [logistic], or a layer whose activation is logistic); 2 channels -> softmax, foreground = channel 1.
 * On GPU (gpu_index >= 0) the heads are pulled from the device. Returns 0 or -1 with err. */
int network_foreground_prob(network *net, int decoder, float *prob, char *err, size_t errlen);
/* 0 when the network has the output network_foreground_prob reads for this decoder (-decoder checked before any
 * volume is read), else -1 with err */
int network_decoder_check(network *net, int decoder, char *err, size_t errlen);

/* windows the device sliding window (GPU builds) has run since the start: the tests read it to know which path ran */
extern long sw_device_windows;

/* Sliding-window foreground probability of a whole volume (nx*ny*nz floats, nx fastest) with `net`
 * (input 1 x net->d x net->h x net->w; net->batch windows per forward pass, net->train = 0).
 * stride along (d, h, w) = (z, y, x). prob is overwritten. Returns 0; -2 with err when a probability is not finite
 * (NaN or infinite: the map is no segmentation); -1 with err on any other failure. */
int network_predict_volume(network *net, const float *vol, int nx, int ny, int nz, const int stride[3],
                           int decoder, float *prob, char *err, size_t errlen);
/* The same, reporting finished windows to pg (NULL: none). */
int network_predict_volume_progress(network *net, const float *vol, int nx, int ny, int nz, const int stride[3],
                                    int decoder, progress *pg, float *prob, char *err, size_t errlen);

/* Keeps only the largest 26-connected component of a binary mask (in place); ties keep the component met
 * first in memory order. Returns the size kept (0 for an empty mask), -1 out of memory. */
long largest_component(unsigned char *mask, int D, int H, int W);

/* Reads `[net] infer_stride = D,H,W` from a cfg file (Darknet ignores unknown [net] keys).
 * Returns 1 found, 0 absent, -1 with err (unreadable file or malformed value). */
int cfg_infer_stride(const char *cfg, int stride[3], char *err, size_t errlen);

/* Windows per forward pass when -batch is not given: 1 on the CPU (as fast as 4 and a quarter of the activations,
 * docs/performance.md "Inference network"), 0 = the cfg's [net] batch on the GPU. */
int infer_default_batch(void);

/* The stride used when none is given: half the network's window along each axis (1 for a window of 1). */
void infer_default_stride(const network *net, int stride[3]);

/* Probability -> uint8 label volume (p > 0.5 as DTC/UA-MT), keeping only the largest component when lcc.
 * Allocates lab (nx x ny x nz, spacing 1). Returns the foreground voxel count, or -1 with err. */
long threshold_label(const float *prob, int nx, int ny, int nz, int lcc, volume *lab, char *err, size_t errlen);

/* Metrics of two label volumes of the same size (masks: value != 0), spacing of ref along (d, h, w) =
 * (dz, dy, dx). 0, or -1 with err. */
int volume_metrics(const volume *pred, const volume *ref, seg_metrics *m, char *err, size_t errlen);

#endif
