/* Lets a [shortcut] add in place into the output buffer of the layer before it when no other layer reads that output, saving one activation-sized buffer per such [shortcut]. */
#ifndef SHORTCUT_SHARE_H
#define SHORTCUT_SHARE_H
#include <stddef.h>
#include "darknet.h"

/* A [shortcut] (equal shapes, layers/shortcut_fast.h) computes out = alpha * in + beta * from, where `in` is the
 * output of the layer before it. When that layer is a [conv3d] or [deconv3d] whose backward pass does not read its
 * own output (c3_backward_reads_output: batch norm with relu or leaky, a linear activation, or an inference network)
 * and no other layer reads that output (the rules of src/delta_share.c: the next layer, the inputs of [route],
 * [dualsplit] and [shortcut], the heads of [dbisl]), the [shortcut] takes that layer's output buffer (CPU and GPU)
 * as its own and adds in place: each element is read before it is written, so every value is the same bits (on the
 * GPU too: the fused pass of layers/shortcut_fast.h).
 * Not done when `from` is the layer before, when another layer holds either buffer (a [dropout] after the
 * [shortcut], a single-input [route]), or when the network has a layer type outside the known list.
 * Returns the number of [shortcut]s changed and adds the bytes freed to *saved. free_network frees a buffer several
 * layers hold once (patches/darknet3d.patch). */
int network_share_shortcut_outputs(network *net, size_t *saved);
#endif
