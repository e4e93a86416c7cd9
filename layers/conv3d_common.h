/* What [conv3d] and [deconv3d] share: their options, state, construction, resizing and parsing, weight initialisation, workspace sizing, batch-norm/bias/activation with PyTorch semantics, SGD update and save/load. */
#ifndef CONV3D_COMMON_H
#define CONV3D_COMMON_H
#include <stdio.h>
#include "darknet.h"
#include "layer3d.h"
#include "vol2col.h"
#include "conv3d_thin.h"

#define BN3D_EPS 1e-5f
#define BN3D_MOMENTUM 0.01f   /* rolling = (1 - m) * rolling + m * batch statistic (Darknet's .99/.01) */

/* Keys shared by [conv3d] and [deconv3d]:
 *   filters (required), size or size_d/size_h/size_w, stride or stride_d/h/w (default 1),
 *   pad or pad_d/h/w (default 0; integer padding like PyTorch's padding=), batch_normalize (0/1, default 0),
 *   bias (0/1, default 1), activation (Darknet name, default linear).
 * Per-axis keys default to the cubic key; size is required unless all of size_d/h/w are given. */
typedef struct {
    int filters;
    int k[3], s[3], p[3];       /* d, h, w */
    int batch_normalize, bias;
    ACTIVATION activation;
    int first;                  /* 1: the network's first layer, whose input's gradient Darknet never computes (not a
                                 * cfg key: set by the parser from the layer's index) */
} conv3d_options;
int conv3d_read_options(list *options, const char *sec, conv3d_options *o, char *err, size_t errlen);
/* 1 (the default): the parser marks a network's layer 0 as first; 0: no layer is first, so that a test that asks a
 * lone layer for its input's gradient on the GPU gets the operation searched and its workspace sized */
extern int conv3d_first_layer_rule;

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
    int first;          /* conv3d_options.first: the GPU's algorithm search leaves the input's gradient out */
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
    /* the batch-norm/bias reductions' scratch, owned here and freed with the layer (c3_free_gpu) */
    double *acc_gpu;    /* 2*out_c channel sums */
    double *part_gpu;   /* 2*out_c rows of C3_SUM_BLOCKS block sums (deterministic mode) */
    float *coef_gpu;    /* 3*out_c backward coefficients */
    size_t cudnn_ws;    /* bytes of net.workspace cuDNN uses (the 16-bit scratch of precision fp16|bf16 follows) */
    int math[3];        /* cudnnMathType_t each chosen algorithm runs with, indexed by C3_FW, C3_BD, C3_BF */
    int nhwc;           /* 1: the 16-bit copies of precision fp16|bf16 are channels-last (c3_cudnn_setup) */
    int nhwc_fallback;  /* 1: channels-last was asked for and cuDNN had no algorithm for it, so NCDHW */
    int thin;           /* C3_THIN_FW | C3_THIN_BWD: the passes that run the direct kernels for thin layers instead of cuDNN */
    int xn_type;        /* the type x_norm_gpu holds: DARKNET3D_FP32 (floats), or DARKNET3D_FP16/BF16 (16-bit values) when the
                         * layer was sized at precision fp16|bf16 (docs/design.md, "Mixed precision") */
#endif
    float mem[];
} conv3d_state;

static inline conv3d_state *c3_state(layer l) { return (conv3d_state *)l.plugin_state; }

/* the layer's convolution as the direct kernels for thin layers see it (layers/conv3d_thin.h): the image's channels
 * g.c, the positions' channels yc (a [conv3d]'s filters, a [deconv3d]'s input) */
static inline thin3d_geom c3_thin_geom(layer l)
{
    const conv3d_state *st = c3_state(l);
    const geom3d *g = &st->g;
    thin3d_geom t = {l.batch, g->c, st->transposed ? l.c : l.out_c, g->d, g->h, g->w, g->od, g->oh, g->ow, g->kd, g->sd, g->pd, g->ph, g->pw};
    return t;
}

/* most blocks one GPU channel reduction uses (its deterministic partial sums have this many per row) */
#define C3_SUM_BLOCKS 128

/* What differs between [conv3d] (transposed = 0) and [deconv3d] (transposed = 1); each layer file holds one. */
typedef struct {
    const char *name;           /* section name without brackets */
    const LAYER_TYPE *type;
    int transposed;             /* 1: the convolution's image is the layer's OUTPUT (the adjoint of a convolution) */
    dims3d (*out_dims)(dims3d in, const conv3d_options *o);
    void (*forward)(layer l, network net);
    void (*backward)(layer l, network net);
    void (*update)(layer l, update_args a);
#ifdef GPU
    void (*forward_gpu)(layer l, network net);
    void (*backward_gpu)(layer l, network net);
    void (*update_gpu)(layer l, update_args a);
#endif
} c3_kind;

/* The convolution seen by vol2col and cuDNN: image = input, positions = output; transposed: the other way round. */
geom3d c3_geom(dims3d in, dims3d out, const conv3d_options *o, int transposed);
/* make_/resize_/parse_ of both layers: a layer of kind k (an empty layer when memory, CPU or GPU, is short), a new
 * input size (d, h = true height, w; -1 and the layer untouched when the output would be empty, -1 when memory is
 * short), the cfg section. */
layer c3_make_layer(int batch, dims3d in, conv3d_options o, const c3_kind *k);
int c3_resize_layer(layer *l, int d, int h, int w, const c3_kind *k);
int c3_parse_section(list *options, size_params params, layer *l, const c3_kind *k, char *err, size_t errlen);
/* Run-level checks of both: no adam, cuDNN present for GPU runs. */
int c3_check_run(size_params params, char *err, size_t errlen);

/* Allocates parameters, state and the geometry-dependent buffers; sets shapes, nweights/nbiases/extra and the CPU
 * workspace size. Initialisation is PyTorch's default for Conv3d/ConvTranspose3d (kaiming_uniform with a = sqrt(5)):
 * weights, the conv bias and the pre-BN bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)); BN gamma 1, beta 0, rolling mean 0,
 * rolling variance 1. fan_in: conv3d in_c*k^3, deconv3d out_c*k^3 (PyTorch's). Returns -1 when memory is short. */
int c3_init(layer *l, int batch, dims3d in, dims3d out, geom3d g, int transposed,
            int batch_normalize, int bias, ACTIVATION act, int fan_in);
/* (Re)allocates output, delta, x_norm (CPU and GPU) for the current shapes and sets the CPU workspace size;
 * -1 when memory is short (a GPU failure recorded for cuda3d_take_error). */
int c3_alloc_buffers(layer *l);
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
/* 1 when c3_post_backward(_gpu) reads l.output, 0 when the layer's output buffer may be overwritten after its forward
 * pass (src/shortcut_share.h): no backward pass (inference network), a linear activation, or batch norm with x_norm
 * and relu or leaky, whose gradient is taken from the sign of scale * x_norm + bias. */
int c3_backward_reads_output(const layer *l);
/* With batch norm and x_norm: writes l.output = act(scale * x_norm + bias) as c3_post_forward computes it from the
 * x_norm it keeps, so the same bits as the forward pass wrote (src/output_recompute.h rebuilds dropped outputs so). */
void c3_recompute_output(layer l, network net);
/* Darknet SGD (update_convolutional_layer): lr/batch steps, momentum on the update buffers, decay on weights only. */
void c3_update(layer l, update_args a);
/* Write/read the parameters in the weights-file order above: 0, or -1 on a failed write / short read. */
int c3_save(layer l, FILE *fp);
int c3_load(layer l, FILE *fp);

/* Plain BN pieces (exposed for tests): statistics per channel of x [batch][c][sp], double accumulation */
void bn3d_stats(const float *x, int batch, int c, size_t sp, float *mean, float *var_biased);

#ifdef GPU
/* (Re)creates the cuDNN descriptors for the layer's geometry (image = x, positions = y) and picks algorithms within
 * a bounded workspace; sets l->workspace_size. -1 (recorded for cuda3d_take_error) when cuDNN refuses. */
int c3_cudnn_setup(layer *l);
/* precision fp16|bf16: the layer's part of net.workspace after cuDNN's (cudnn_bytes): 16-bit copies of the
 * convolution's image x (conv3d input / deconv3d output, or its gradient), positions y (conv3d output / deconv3d
 * input, or its gradient), weights w and weight gradient dw. */
typedef struct { size_t cudnn_bytes; void *x, *y, *w, *dw; } half_scratch;
half_scratch c3_half_scratch(layer l, network net);
#ifdef CUDNN
/* the convolution's operations: forward, backward-data, backward-filter (in the convolution's terms, x to y) */
enum { C3_FW, C3_BD, C3_BF };
/* l.convDesc set to the math type operation op's algorithm was chosen with; every cuDNN call of the layer takes it */
cudnnConvolutionDescriptor_t c3_conv_desc(layer l, int op);
#endif
/* The cuDNN algorithm searches (one per new convolution shape) made since the last c3_search_stats: count, seconds,
 * the largest device scratch one allocated (bytes), how many fell back to cuDNN's heuristic ranking for want of device
 * memory; how many shapes run the direct kernels for thin layers in their forward and in their backward pass, and
 * over the shapes measured against cuDNN's choice, the milliseconds of one forward and backward with the faster of
 * the two in each direction, and with cuDNN's alone. */
typedef struct { int searches, short_of_memory, thin_fw, thin_bwd, thin_measured; double seconds, best_ms, cudnn_ms; size_t scratch_bytes; } c3_search_report;
void c3_search_stats(c3_search_report *r);
/* The direct kernels for thin [conv3d] and [deconv3d] layers (layers/conv3d_thin.h has the shape rule; FP32 at every
 * precision): 1 when l's shape qualifies; the forward into l.output; the backward adding into l.weight_updates and
 * net.delta, with block sums in c3_thin_workspace_bytes of net.workspace; the milliseconds of the layer's forward pass
 * (fwd) and of its backward with the operations asked for (bwd_data: the input's gradient, bwd_weights) on scratch (-1:
 * no memory). c3_thin_gpu_mode: 0 never; 1, the default, in each direction
 * (forward; backward) where they measure faster than cuDNN's choice, and in both in deterministic mode, whose cuDNN
 * choice is not measured; 2 always (the tests). */
enum { C3_THIN_FW = 1, C3_THIN_BWD = 2 };
extern int c3_thin_gpu_mode;
int c3_thin_applies(const layer *l);
size_t c3_thin_workspace_bytes(const layer *l);
void c3_thin_forward_gpu(layer l, network net);
void c3_thin_backward_gpu(layer l, network net);
int c3_thin_time(const layer *l, int fwd, int bwd_data, int bwd_weights, double *fw_ms, double *bwd_ms);
/* Forward and backward of either kind at precision fp16|bf16 (the FP32 paths stay in each layer's own file). */
void c3_forward_half_gpu(layer l, network net);
void c3_backward_half_gpu(layer l, network net);
/* frees the state's device buffers (the pre-BN bias and the reduction scratch); the free hook calls it */
void c3_free_gpu(conv3d_state *st);
void c3_post_forward_gpu(layer l, network net);
void c3_post_backward_gpu(layer l, network net);
void c3_recompute_output_gpu(layer l, network net);
void c3_update_gpu(layer l, update_args a);
void c3_push(layer l);
void c3_pull(layer l);
#endif
#endif
