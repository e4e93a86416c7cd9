/* [deconv3d]: transposed 3D convolution (PyTorch ConvTranspose3d semantics) with optional batch-norm inside the layer and a Darknet activation. */
#ifndef DECONV3D_LAYER_H
#define DECONV3D_LAYER_H
#include "darknet.h"
#include "conv3d_layer.h"

/* Keys: those of [conv3d] (conv3d_read_options). Output size out = (in - 1)*s - 2p + k per axis
 * (no output_padding). Weights [in_c][out_c][kd][kh][kw] as ConvTranspose3d; the same BN/bias
 * treatment and weights-file order as [conv3d] (see conv3d_common.h).
 * Contract: as [conv3d]: forward OVERWRITES l.output; backward rewrites l.delta in place,
 * ACCUMULATES the parameter updates and ADDS into net.delta when non-NULL.
 * CPU: with ONEDNN oneDNN's convolution primitives with the roles swapped (conv3d_onednn.c); else, or when oneDNN cannot
 *      make them, forward = gemm + col2vol, backward = vol2col + two gemms (no col2vol).
 * GPU: cuDNN backward-data as forward, cuDNN forward as backward-data. */
dims3d deconv3d_out_dims(dims3d in, const conv3d_options *o);
layer make_deconv3d_layer(int batch, dims3d in, conv3d_options o);
void forward_deconv3d_layer(layer l, network net);
void backward_deconv3d_layer(layer l, network net);
void update_deconv3d_layer(layer l, update_args a);
int resize_deconv3d_layer(layer *l, int d, int h, int w);
int parse_deconv3d_section(list *options, size_params params, layer *l, char *err, size_t errlen);
int save_deconv3d_weights(layer l, FILE *fp);
int load_deconv3d_weights(layer l, FILE *fp);
#ifdef GPU
void forward_deconv3d_layer_gpu(layer l, network net);
void backward_deconv3d_layer_gpu(layer l, network net);
void update_deconv3d_layer_gpu(layer l, update_args a);
#endif
#endif
