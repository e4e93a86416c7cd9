/* [conv3d]: 3D convolution (PyTorch Conv3d semantics) with optional batch-norm inside the layer and a Darknet activation. */
#ifndef CONV3D_LAYER_H
#define CONV3D_LAYER_H
#include "darknet.h"
#include "layer3d.h"
#include "conv3d_common.h"

/* Output size, exactly PyTorch's: floor((n + 2p - k)/s) + 1; dims with c < 1 or any size < 1 mean "empty". */
dims3d conv3d_out_dims(dims3d in, const conv3d_options *o);

/* Contract:
 *   forward  OVERWRITES l.output (and l.x_norm, l.mean/l.variance, and in training the rolling statistics).
 *   backward turns l.delta in place into the delta of the raw convolution, ACCUMULATES weight_updates,
 *            bias_updates, scale_updates (and the pre-BN bias updates), and ADDS into net.delta when non-NULL.
 *   update   Darknet SGD (momentum, decay on weights). Adam is not supported (parse rejects it).
 * CPU: with ONEDNN (the Makefile's default when libdnnl-dev is installed) oneDNN's convolution primitives, cached per
 *      layer (conv3d_onednn.c), their blocked copies in net.workspace; else, or when oneDNN cannot make them,
 *      vol2col + cblas_sgemm over bounded column chunks in net.workspace (l.workspace_size bytes).
 * GPU: cuDNN Nd convolution (cuDNN is required for GPU use: parse refuses a GPU run without it),
 *      exact FP32 (no TF32) so results match the CPU; algorithms are chosen once per shape. */
layer make_conv3d_layer(int batch, dims3d in, conv3d_options o);
void forward_conv3d_layer(layer l, network net);
void backward_conv3d_layer(layer l, network net);
void update_conv3d_layer(layer l, update_args a);
/* New input size (d, h = true height, w); returns -1 (layer untouched) when the output would be empty. */
int resize_conv3d_layer(layer *l, int d, int h, int w);
/* Free hook of [conv3d] and [deconv3d] (registered in layers/layers3d.c): frees plugin_state and the oneDNN/GPU/cuDNN
 * objects behind it; free_layer frees the stock buffers afterwards. */
void free_conv3d_layer(layer l);
int parse_conv3d_section(list *options, size_params params, layer *l, char *err, size_t errlen);
int save_conv3d_weights(layer l, FILE *fp);
int load_conv3d_weights(layer l, FILE *fp);

#ifdef GPU
void forward_conv3d_layer_gpu(layer l, network net);
void backward_conv3d_layer_gpu(layer l, network net);
void update_conv3d_layer_gpu(layer l, update_args a);
#endif
#endif
