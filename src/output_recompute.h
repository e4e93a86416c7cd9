/* Lets the outputs of a training network that can be rebuilt cheaply share one arena by lifetime, rebuilding them just before the backward steps that read them. */
#ifndef OUTPUT_RECOMPUTE_H
#define OUTPUT_RECOMPUTE_H
#include <stddef.h>
#include "darknet.h"

/* Darknet keeps every layer's output from its forward step to the end of the backward pass. Two kinds of output can
 * be rebuilt from what stays: a [conv3d]/[deconv3d] with batch norm keeps x_norm for its backward, and its output
 * is act(scale * x_norm + bias) (c3_recompute_output: the same arithmetic as the forward pass, so the same bits);
 * an [upsample3d] output is its forward pass again, from an input that is kept or rebuilt itself. Such an output is
 * needed in the forward pass from its layer's step to the last layer that reads it, and in the backward pass only
 * at the steps of the layers whose backward reads it (a [conv3d]/[deconv3d]/[dtransform]/[r2s] reading its input
 * for the weight gradient, the layer's own backward when it reads its output, a dependent [upsample3d]'s rebuild):
 * it is rebuilt at the first such backward step (recompute_before, backward_network; patches/darknet3d.patch). A
 * batch-norm output that no later holder changes (a skip connection: read by the next layer, then by a [shortcut]
 * of each decoder, and in backward by the rebuilds of those [shortcut]s' buffers) is not kept between two reads
 * either: after each of the three longest runs of forward steps, and of backward steps, that do not read it, it is
 * rebuilt again (recompute_forward before forward_network's step, recompute_backward before backward_network's). The
 * outputs are placed in one arena (net->output_arena; on a GPU its device twin, made by src/buffer_mirror.h) where
 * no two needed at a common step overlap (src/buffer_plan.h); the forward passes overwrite every value they write, so
 * training gives the same bits as with one buffer per layer.
 * An inference network (no backward pass) places every output so, with its forward span only, but the ones read
 * after the forward pass. Left as they are: an output another layer holds too where that layer cannot run again
 * (training), the outputs the [dbisl] layer reads (prediction reads its seg heads), the last layer's, and networks
 * with a layer type outside the known list or stopbackward. Returns 0 with *before the bytes of the outputs that moved, *after the arena's bytes
 * and *bound the bytes of them alive at the busiest step; 1 when nothing moved; -1 when a buffer could not be
 * allocated (err says which; the network is left as it was). */
int network_recompute_outputs(network *net, size_t *before, size_t *after, size_t *bound, char *err, size_t errlen);
#endif
