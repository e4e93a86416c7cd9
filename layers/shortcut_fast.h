/* Forward and backward of stock [shortcut] when both inputs have the output's shape (every V-Net skip): one fused pass each (threaded on the CPU, a kernel on the GPU) instead of Darknet's copy + strided add + activation. */
#ifndef SHORTCUT_FAST_H
#define SHORTCUT_FAST_H
#include "darknet.h"

/* 1 when layer i of net is a [shortcut] whose input, `from` layer and output all have the same shape (c, d*h, w and
 * outputs per sample), so that the fused pass below computes exactly what Darknet's shortcut does. */
int shortcut_fast_applies(const network *net, int i);

/* out = alpha * in + beta * from, then the layer's activation (none for linear): the same floating-point
 * operations, in the same order per element, as stock forward_shortcut_layer, so the results are identical. */
void forward_shortcut_fast(layer l, network net);
/* delta through the activation, then net.delta += alpha * delta and from.delta += beta * delta (stock order). */
void backward_shortcut_fast(layer l, network net);
#ifdef GPU
/* The same two passes on the device (layers/shortcut_fast_kernels.cu), with Darknet's GPU formulas for linear, relu and
 * leaky fused into them (other activations run as Darknet's separate pass); the forward may add in place (input and
 * output one buffer, src/shortcut_share.h). */
void forward_shortcut_fast_gpu(layer l, network net);
void backward_shortcut_fast_gpu(layer l, network net);
#endif
#endif
