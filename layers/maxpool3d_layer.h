/* [maxpool3d]: 3D max pooling of NCDHW volumes with PyTorch MaxPool3d's output size, padding and tie rule. */
#ifndef MAXPOOL3D_LAYER_H
#define MAXPOOL3D_LAYER_H
#include "darknet.h"

/* Keys: size (window on every axis; required unless all of size_d, size_h, size_w are given),
 * size_d / size_h / size_w (override per axis), stride (default: the window, as in PyTorch),
 * stride_d / stride_h / stride_w, pad (default 0; at most half the window, as PyTorch requires),
 * pad_d / pad_h / pad_w. Output per axis: floor((n + 2*pad - size) / stride) + 1 (floor mode).
 * Padding never wins (it is -inf). Ties: the first maximum in d, h, w scan order wins; a NaN wins
 * (PyTorch's CPU rule). Weightless.
 *
 * Contract: forward overwrites l.output and l.indexes (per output, the flat index of its argmax in
 * the batch input, b*inputs + ...); backward ADDS each l.delta value into net.delta at its argmax
 * (skipped when net.delta is NULL). The GPU backward scatters with atomicAdd (windows may overlap). */
typedef struct { int kd, kh, kw, sd, sh, sw, pd, ph, pw; } maxpool3d_state;

layer make_maxpool3d_layer(int batch, int c, int d, int h, int w, maxpool3d_state p);
void forward_maxpool3d_layer(const layer l, network net);
void backward_maxpool3d_layer(const layer l, network net);
int parse_maxpool3d_section(list *options, size_params params, layer *l, char *err, size_t errlen);
/* Output size of one axis, < 1 when the window does not fit into the padded input */
int maxpool3d_out_size(int n, int k, int s, int p);

#ifdef GPU
void forward_maxpool3d_layer_gpu(const layer l, network net);
void backward_maxpool3d_layer_gpu(const layer l, network net);
#endif
#endif
