/* oneDNN primitives for the CPU convolutions of [conv3d] and [deconv3d] (forward, backward-data, backward-weights), created and cached per layer (build flag ONEDNN). */
#ifndef CONV3D_ONEDNN_H
#define CONV3D_ONEDNN_H
#include "darknet.h"

#ifdef ONEDNN
/* (Re)creates the layer's primitives for its current shapes and batch (oneDNN's own blocked layouts, the reorders
 * from and to our NCDHW/OIDHW buffers included) and sets st->onednn_floats and l->workspace_size for them: the
 * blocked copies live in net.workspace. Does nothing for a GPU run. When oneDNN cannot create a primitive, it
 * prints one stderr note (once per process) and leaves st->onednn NULL: the vol2col + sgemm path runs. */
void conv3d_onednn_setup(layer *l);
/* [deconv3d] (st->transposed) runs the same three primitives with the roles swapped: its forward is the
 * correlation's backward-data, its data gradient the correlation's forward (added into net.delta).
 * The raw (transposed) convolution into l.output (OVERWRITTEN). 0: done; -1: nothing written (no primitives, or the batch or
 * workspace does not match them), run the vol2col path. */
int conv3d_onednn_forward(layer l, network net);
/* weight_updates += dW and, when net.delta is non-NULL, net.delta += dX, from l.delta, net.input and the weights;
 * l.delta must already be the delta of the raw convolution. 0: done; -1: nothing touched, run the vol2col path.
 * A [conv3d] of a network without weight_updates (forward passes only) sizes its workspace for the forward copies
 * and returns -1 here. */
int conv3d_onednn_backward(layer l, network net);
/* Frees the layer's primitives (the free hook and resize call it); the global engine and stream stay. */
void conv3d_onednn_free(layer l);
#endif
#endif
