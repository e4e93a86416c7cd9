/* [dualsplit]: a named branch point (a copy of one earlier 3D layer's output) from which a second decoder starts; built on Darknet's [route]. */
#ifndef DUALSPLIT_LAYER_H
#define DUALSPLIT_LAYER_H
#include "darknet.h"

/* Why it exists: the dual-decoder V-Net runs the encoder once and then two decoders one after the
 * other in the cfg; the second decoder must start again from the encoder's bottleneck, not from the
 * last layer of the first decoder. `[route] layers=N` with one index already does exactly that, and
 * [dualsplit] is that same route layer (make_route_layer with a single input, same forward/backward,
 * CPU and GPU) with three additions:
 *   - the split is named in the cfg, so a reader sees where the second decoder begins;
 *   - parsing checks that the source is a 3D layer (out_h a multiple of out_d) and keeps its depth
 *     fields (d, out_d), so the 3D layers that follow see c x d x h x w;
 *   - it reports itself as "dualsplit" in the layer table (./darknet seg3d params).
 * Keys: layers (one earlier layer: negative = relative to this layer, else absolute; required).
 *
 * Contract (route's): forward overwrites l.output with a copy of the source's output; backward ADDS
 * l.delta into the source layer's delta (so the source accumulates the gradients of both branches:
 * the layer after it, and the decoder that starts here). net.input/net.delta are not used. */
layer make_dualsplit_layer(network *net, int batch, int source);
int parse_dualsplit_section(list *options, size_params params, layer *l, char *err, size_t errlen);
#endif
