/* The sliding window's device steps (src/infer_kernels.cu), called by network_predict_volume on a GPU: gather a window into the network's input, the heads' probability, add it to the padded sums. */
#ifndef INFER_GPU_H
#define INFER_GPU_H
#include "sw_index.h"

#ifdef GPU
/* dst (device, the window's pd*ph*pw floats) = the window at padded start (z0, y0, x0) of vol (device) */
void sw_gather_gpu(const float *vol, sw_geom g, int z0, int y0, int x0, float *dst);
/* prob[i] (device, batch*vox) = the probability of output o (device, stride values per sample) read as mode
 * (SW_PROB_*); first = 0 adds it to prob instead; the result is multiplied by scale (1: not at all) */
void sw_prob_gpu(const float *o, long vox, long stride, int mode, int batch, int first, float scale, float *prob);
/* sum[j] += prob[e], cnt[j] += 1 for each element e of the window at (z0, y0, x0), j its padded index (device) */
void sw_scatter_gpu(const float *prob, sw_geom g, int z0, int y0, int x0, float *sum, float *cnt);
#endif
#endif
