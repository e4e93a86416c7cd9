/* [upsample3d]: trilinear upsampling of NCDHW volumes by integer factors, with the semantics of PyTorch's F.interpolate(mode='trilinear'). */
#ifndef UPSAMPLE3D_LAYER_H
#define UPSAMPLE3D_LAYER_H
#include "darknet.h"

/* Keys: stride (int, default 2; the factor on every axis), stride_d / stride_h / stride_w (override it
 * per axis), align_corners (0/1, default 1 as in MC-Net's trilinear decoder; DTC uses 0).
 * Output: c x (d*sd) x (h*sh) x (w*sw). Weightless.
 *
 * Source coordinate of output index o on an axis of input size n and output size m:
 *   align_corners=1: src = o * (n-1)/(m-1)   (0 when m == 1)
 *   align_corners=0: src = max(0, (o + 0.5)/s - 0.5)
 * then i0 = floor(src), i1 = min(i0 + 1, n - 1), weights (1 - f, f) with f = src - i0.
 * With an integer factor s and m = n*s, PyTorch 1.13 gives the same result for scale_factor=s and for
 * size=m (1/s == n/m), so the two variants agree; tests/fixtures/small_layers checks both.
 *
 * Contract: forward overwrites l.output; backward ADDS the transposed interpolation of l.delta into
 * net.delta (skipped when net.delta is NULL). The GPU backward scatters with atomicAdd, so its
 * float summation order (and last bits) may differ from run to run. */
typedef struct { int sd, sh, sw, align_corners; } upsample3d_state;

layer make_upsample3d_layer(int batch, int c, int d, int h, int w, int sd, int sh, int sw, int align_corners);
void forward_upsample3d_layer(const layer l, network net);
void backward_upsample3d_layer(const layer l, network net);
int parse_upsample3d_section(list *options, size_params params, layer *l, char *err, size_t errlen);

/* Plain kernels on nc = batch*channels volumes: y = up(x) overwrites; dx += up^T(dy) accumulates. */
void upsample3d_forward_cpu(int nc, int d, int h, int w, int od, int oh, int ow, int align_corners, const float *x, float *y);
void upsample3d_backward_cpu(int nc, int d, int h, int w, int od, int oh, int ow, int align_corners, const float *dy, float *dx);
#ifdef GPU
void forward_upsample3d_layer_gpu(const layer l, network net);
void backward_upsample3d_layer_gpu(const layer l, network net);
void upsample3d_forward_gpu(int nc, int d, int h, int w, int od, int oh, int ow, int align_corners, const float *x, float *y);
void upsample3d_backward_gpu(int nc, int d, int h, int w, int od, int oh, int ow, int align_corners, const float *dy, float *dx);
#endif
#endif
