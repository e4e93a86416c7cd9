/* CPU forward and backward of stock [shortcut] when both inputs have the output's shape (every V-Net skip): one fused, threaded pass instead of Darknet's copy + strided add + activation. */
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
#endif
