/* [r2s]: the regression-to-segmentation transform Y = sigmoid(k*x) of the DBiSL paper (k < 0 because distances are negative inside). */
#ifndef R2S_LAYER_H
#define R2S_LAYER_H
#include "darknet.h"

/* Contract: forward overwrites l.output; backward ADDS k*y*(1-y)*l.delta (times 1 - tanh(x)^2 with
 * input=preact) into net.delta. Weightless.
 * Keys: k (float, default -1500); input = distance (default: x is a distance R, y = sigmoid(k*x)) | preact
 * (x is a distance head's pre-activation: y = sigmoid(k*tanh(x)), what [dbisl] reads as T_r2s(R^)).
 * The layer keeps k in l.alpha and the input's activation (LINEAR or TANH) in l.activation. */
layer make_r2s_layer(int batch, int c, int d, int h, int w, float k, ACTIVATION input_act);
void forward_r2s_layer(const layer l, network net);
void backward_r2s_layer(const layer l, network net);
int parse_r2s_section(list *options, size_params params, layer *l, char *err, size_t errlen);

/* Elementwise kernels, also used by the [dbisl] loss: y = sigmoid(k*x); dx += k*y*(1-y)*dy */
void r2s_forward_cpu(int n, float k, const float *x, float *y);
void r2s_backward_cpu(int n, float k, const float *y, const float *dy, float *dx);
/* The same with x a pre-activation: y = sigmoid(k*tanh(x)); dx += k*y*(1-y)*(1-tanh(x)^2)*dy */
void r2s_tanh_forward_cpu(int n, float k, const float *x, float *y);
void r2s_tanh_backward_cpu(int n, float k, const float *x, const float *y, const float *dy, float *dx);
#ifdef GPU
void forward_r2s_layer_gpu(const layer l, network net);
void backward_r2s_layer_gpu(const layer l, network net);
void r2s_forward_gpu(int n, float k, const float *x, float *y);
void r2s_backward_gpu(int n, float k, const float *y, const float *dy, float *dx);
void r2s_tanh_forward_gpu(int n, float k, const float *x, float *y);
void r2s_tanh_backward_gpu(int n, float k, const float *x, const float *y, const float *dy, float *dx);
#endif
#endif
