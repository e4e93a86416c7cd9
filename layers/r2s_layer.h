/* [r2s]: the regression-to-segmentation transform Y = sigmoid(k*x) of the DBiSL paper (k < 0 because distances are negative inside). */
#ifndef R2S_LAYER_H
#define R2S_LAYER_H
#include "darknet.h"

/* Contract: forward overwrites l.output; backward ADDS k*y*(1-y)*l.delta into net.delta.
 * Weightless. Keys: k (float, default -1500). */
layer make_r2s_layer(int batch, int c, int d, int h, int w, float k);
void forward_r2s_layer(const layer l, network net);
void backward_r2s_layer(const layer l, network net);
int parse_r2s_section(list *options, size_params params, layer *l, char *err, size_t errlen);

/* Elementwise kernels, also used by the [dbisl] loss: y = sigmoid(k*x); dx += k*y*(1-y)*dy */
void r2s_forward_cpu(int n, float k, const float *x, float *y);
void r2s_backward_cpu(int n, float k, const float *y, const float *dy, float *dx);
#ifdef GPU
void forward_r2s_layer_gpu(const layer l, network net);
void backward_r2s_layer_gpu(const layer l, network net);
void r2s_forward_gpu(int n, float k, const float *x, float *y);
void r2s_backward_gpu(int n, float k, const float *y, const float *dy, float *dx);
#endif
#endif
