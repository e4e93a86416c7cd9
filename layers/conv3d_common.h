/* Batch-norm, bias and activation inside [conv3d]/[deconv3d] with PyTorch semantics, plus the parameter handling (alloc, SGD update, save/load) both layers share. */
#ifndef CONV3D_COMMON_H
#define CONV3D_COMMON_H
#include <stdio.h>
#include "darknet.h"
#include "layer3d.h"
#include "vol2col.h"

#define BN3D_EPS 1e-5f
#define BN3D_MOMENTUM 0.01f   /* rolling = (1 - m) * rolling + m * batch statistic (Darknet's .99/.01) */

/* Private state of a conv3d/deconv3d layer, in l.plugin_state (one block: free_layer frees it).
 * Parameters of such a layer (PyTorch Conv3d/ConvTranspose3d [+ BatchNorm3d]):
 *   l.weights   conv3d [out_c][in_c][kd][kh][kw], deconv3d [in_c][out_c][kd][kh][kw] (PyTorch layouts)
 *   l.biases    BN beta when batch_normalize, else the conv bias (NULL when bias=0 and no BN)
 *   l.scales, l.rolling_mean, l.rolling_variance   BN gamma and running statistics
 *   pre_b       the conv bias added BEFORE BN (batch_normalize=1 and bias=1 only; counted in l.extra)
 * Weights file order: biases, [scales, rolling_mean, rolling_variance], weights, [pre_b]. */
typedef struct {
    geom3d g;           /* conv3d: image = input, positions = output; deconv3d: image = output, positions = input */
    int transposed;
    int bias;           /* the cfg key */
    int pre_bias;       /* batch_normalize && bias */
    size_t chunk;       /* positions per CPU column chunk (bounds the workspace) */
    size_t chunk_dx;    /* conv3d with geom3d_flipped: image voxels per chunk of the data-gradient columns; else 0 */
    int nthreads;       /* threads the CPU workspace has room for (conv3d: one column chunk and one dW each) */
    float *pre_b, *pre_b_updates;
    void *onednn;       /* conv3d with ONEDNN: the cached oneDNN primitives (conv3d_onednn.c), NULL = vol2col path */
    size_t onednn_floats; /* floats of net.workspace those primitives use (0 without them) */
#ifdef GPU
    float *pre_b_gpu, *pre_b_updates_gpu;
#endif
    float mem[];
} conv3d_state;

static inline conv3d_state *c3_state(layer l) { return (conv3d_state *)l.plugin_state; }

/* Allocates parameters (He-normal weights, gamma = 1, rolling var = 1, the rest 0), state, and
 * the geometry-dependent buffers; sets shapes, nweights/nbiases/extra, the CPU workspace size and
 * the update functions. Returns -1 when memory is short. */
int c3_init(layer *l, int batch, dims3d in, dims3d out, geom3d g, int transposed,
            int batch_normalize, int bias, ACTIVATION act, int fan_in);
/* (Re)allocates output, delta, x_norm (CPU and GPU) for the current shapes and sets the CPU workspace size. */
void c3_alloc_buffers(layer *l);
/* Floats of net.workspace the CPU path uses with the current chunk sizes: nthreads slots of c3_cpu_slot_floats
 * (a column chunk, the larger of the forward/weight-gradient and the flipped data-gradient columns, then with
 * nthreads > 1 a private weight gradient), then, with chunk_dx, the flipped weights (at the end); at least
 * st->onednn_floats (the oneDNN path's blocked copies). */
size_t c3_cpu_workspace_floats(layer l);
size_t c3_cpu_slot_floats(layer l);

/* After the linear part has OVERWRITTEN l.output with the raw convolution: adds the pre-BN bias,
 * batch-normalises (batch statistics and rolling update when net.train, rolling statistics
 * otherwise; x_norm kept for backward), adds l.biases, applies the activation. */
void c3_post_forward(layer l, network net);
/* Turns l.delta (w.r.t. the activated output) IN PLACE into the delta w.r.t. the raw convolution,
 * ACCUMULATING bias_updates, scale_updates and the pre-BN bias updates. Train/inference BN follow net.train. */
void c3_post_backward(layer l, network net);
/* Darknet SGD (update_convolutional_layer): lr/batch steps, momentum on the update buffers, decay on weights only. */
void c3_update(layer l, update_args a);
void c3_save(layer l, FILE *fp);
int c3_load(layer l, FILE *fp);

/* Plain BN pieces (exposed for tests): statistics per channel of x [batch][c][sp], double accumulation */
void bn3d_stats(const float *x, int batch, int c, size_t sp, float *mean, float *var_biased);

#ifdef GPU
void c3_post_forward_gpu(layer l, network net);
void c3_post_backward_gpu(layer l, network net);
void c3_update_gpu(layer l, update_args a);
void c3_push(layer l);
void c3_pull(layer l);
#endif
#endif
