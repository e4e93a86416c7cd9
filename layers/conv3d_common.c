/* What [conv3d] and [deconv3d] share: options, construction, resizing and parsing, parameters (initialisation, SGD update, save/load), workspace sizing, and the batch-norm, bias and activation after the convolution with PyTorch semantics. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "conv3d_common.h"

int conv3d_first_layer_rule = 1;
#include "conv3d_onednn.h"
#include "cfg_options.h"
#include "option_list.h"
#include "activations.h"
#include "amp.h"
#include "blas.h"
#include "utils.h"
#include "cuda3d.h"

/* Column chunks are capped at this many floats: a full 16-channel 3x3x3 column matrix of one
 * 112x112x80 volume would be 1.7 GB. */
#define C3_COL_CAP ((size_t)16 << 20)
/* ...but aimed at this many: the small-M GEMMs (M = out channels) stream their column panel from
 * memory, and OpenBLAS sgemm M=16, K=432 runs 2-3x faster on cache-sized N than on N = 38836. */
#define C3_COL_TARGET ((size_t)256 << 10)
#define C3_CHUNK_MIN ((size_t)512)
/* bound on the per-thread workspace slots */
#define C3_MAX_THREADS 16

/* Sums in float lanes over blocks of SUM_BLOCK (so they vectorise), the blocks added in double: statistics over
 * a million voxels keep double accuracy within ~1e-7. */
#define SUM_LANES 16
#define SUM_BLOCK 1024

static double sum_f(const float *x, size_t n)
{
    double acc = 0;
    size_t i = 0;
    while(i < n){
        size_t e = n - i < SUM_BLOCK ? n : i + SUM_BLOCK;
        float a[SUM_LANES] = {0};
        int j;
        for(; i + SUM_LANES <= e; i += SUM_LANES) for(j = 0; j < SUM_LANES; ++j) a[j] += x[i + j];
        for(; i < e; ++i) a[0] += x[i];
        for(j = 0; j < SUM_LANES; ++j) acc += a[j];
    }
    return acc;
}

/* sum of (x - m)^2 */
static double sumsq_about(const float *x, size_t n, float m)
{
    double acc = 0;
    size_t i = 0;
    while(i < n){
        size_t e = n - i < SUM_BLOCK ? n : i + SUM_BLOCK;
        float a[SUM_LANES] = {0};
        int j;
        for(; i + SUM_LANES <= e; i += SUM_LANES) for(j = 0; j < SUM_LANES; ++j){ float d = x[i + j] - m; a[j] += d * d; }
        for(; i < e; ++i){ float d = x[i] - m; a[0] += d * d; }
        for(j = 0; j < SUM_LANES; ++j) acc += a[j];
    }
    return acc;
}

/* *s1 += sum of x, *s2 += sum of x * w */
static void sums2(const float *x, const float *w, size_t n, double *s1, double *s2)
{
    double a1 = 0, a2 = 0;
    size_t i = 0;
    while(i < n){
        size_t e = n - i < SUM_BLOCK ? n : i + SUM_BLOCK;
        float l1[SUM_LANES] = {0}, l2[SUM_LANES] = {0};
        int j;
        for(; i + SUM_LANES <= e; i += SUM_LANES) for(j = 0; j < SUM_LANES; ++j){ l1[j] += x[i + j]; l2[j] += x[i + j] * w[i + j]; }
        for(; i < e; ++i){ l1[0] += x[i]; l2[0] += x[i] * w[i]; }
        for(j = 0; j < SUM_LANES; ++j){ a1 += l1[j]; a2 += l2[j]; }
    }
    *s1 += a1; *s2 += a2;
}

void bn3d_stats(const float *x, int batch, int c, size_t sp, float *mean, float *var_biased)
{
    int k;
    #pragma omp parallel for schedule(static)
    for(k = 0; k < c; ++k){
        double s = 0, q = 0;
        int b;
        for(b = 0; b < batch; ++b) s += sum_f(x + ((size_t)b * c + k) * sp, sp);
        double m = s / ((double)batch * sp);
        /* two passes: sum of squares about the mean, no cancellation */
        for(b = 0; b < batch; ++b) q += sumsq_about(x + ((size_t)b * c + k) * sp, sp, (float)m);
        mean[k] = (float)m;
        var_biased[k] = (float)(q / ((double)batch * sp));
    }
}

/* positions per column chunk of a rows-row column matrix over pos positions */
static size_t chunk_for(size_t rows, size_t pos)
{
    size_t r1 = rows ? rows : 1, ch = C3_COL_TARGET / r1;
    if(ch < C3_CHUNK_MIN) ch = C3_CHUNK_MIN;
    if(ch > C3_COL_CAP / r1) ch = C3_COL_CAP / r1;
    if(ch < 1) ch = 1;
    if(ch > pos) ch = pos;
    return ch;
}

int c3_alloc_buffers(layer *l)
{
    conv3d_state *st = c3_state(*l);
    dims3d in = in_dims(*l), out = out_dims(*l);
    int rc = layer3d_set_shapes(l, l->batch, in, out);
    size_t n = (size_t)l->batch * l->outputs;
    if(l->batch_normalize && !layer3d_inference){   /* x_norm is kept for backward only */
        free(l->x_norm);
        l->x_norm = layer3d_alloc(n);
        if(!l->x_norm) rc = -1;
#ifdef GPU
        if(gpu_index >= 0){   /* fp16|bf16: kept in 16 bits, two to a float of the array */
            cuda3d_free((void **)&l->x_norm_gpu);
            st->xn_type = amp_half() ? darknet3d_precision : DARKNET3D_FP32;
            if(rc == 0 && cuda3d_make_array(&l->x_norm_gpu, st->xn_type ? 0 : l->x_norm, st->xn_type ? (n + 1) / 2 : n)) rc = -1;
        }
#endif
    }
    size_t rows = geom3d_rows(&st->g), pos = geom3d_positions(&st->g);
    st->chunk = chunk_for(rows, pos);
    /* conv3d runs its chunks on OpenMP threads, one slot each (deconv3d keeps OpenBLAS's threading) */
    st->nthreads = st->transposed || geom3d_is_identity(&st->g) ? 1 : omp_get_max_threads();
    if(st->nthreads > C3_MAX_THREADS) st->nthreads = C3_MAX_THREADS;
    /* ...when there are enough chunks to share (the deep layers have few and large ones: OpenBLAS's threads) */
    if((size_t)l->batch * ((pos + st->chunk - 1) / st->chunk) < 2 * (size_t)st->nthreads) st->nthreads = 1;
    geom3d t;
    st->chunk_dx = (!st->transposed && !geom3d_is_identity(&st->g) && geom3d_flipped(&st->g, l->out_c, &t)) ?
                   chunk_for(geom3d_rows(&t), geom3d_positions(&t)) : 0;
    l->workspace_size = c3_cpu_workspace_floats(*l) * sizeof(float);
    return rc;
}

size_t c3_cpu_slot_floats(layer l)
{
    conv3d_state *st = c3_state(l);
    if(geom3d_is_identity(&st->g)) return 0;
    size_t n = geom3d_rows(&st->g) * st->chunk;
    geom3d t;
    if(st->chunk_dx && geom3d_flipped(&st->g, l.out_c, &t)){
        size_t m = geom3d_rows(&t) * st->chunk_dx;
        if(m > n) n = m;
    }
    if(st->nthreads > 1) n += (size_t)l.nweights;
    return n;
}

size_t c3_cpu_workspace_floats(layer l)
{
    conv3d_state *st = c3_state(l);
    size_t n = geom3d_is_identity(&st->g) ? 0 :
               (size_t)(st->nthreads > 1 ? st->nthreads : 1) * c3_cpu_slot_floats(l) + (st->chunk_dx ? (size_t)l.nweights : 0);
    return n > st->onednn_floats ? n : st->onednn_floats;
}

#ifdef GPU
/* The device copies of the parameters and the reduction scratch; -1 (recorded for cuda3d_take_error) when short. */
static int c3_init_gpu(layer *l)
{
    conv3d_state *st = c3_state(*l);
    int oc = l->out_c;
    if(cuda3d_make_array(&l->weights_gpu, l->weights, l->nweights)) return -1;
    int train = !layer3d_inference;   /* no update buffers in a network for forward passes only */
    if(train && cuda3d_make_array(&l->weight_updates_gpu, l->weight_updates, l->nweights)) return -1;
    if(l->nbiases){
        if(cuda3d_make_array(&l->biases_gpu, l->biases, oc)) return -1;
        if(train && cuda3d_make_array(&l->bias_updates_gpu, l->bias_updates, oc)) return -1;
    }
    if(l->batch_normalize){
        if(cuda3d_make_array(&l->scales_gpu, l->scales, oc)) return -1;
        if(train && cuda3d_make_array(&l->scale_updates_gpu, l->scale_updates, oc)) return -1;
        if(cuda3d_make_array(&l->mean_gpu, l->mean, oc)) return -1;
        if(cuda3d_make_array(&l->variance_gpu, l->variance, oc)) return -1;
        if(cuda3d_make_array(&l->rolling_mean_gpu, l->rolling_mean, oc)) return -1;
        if(cuda3d_make_array(&l->rolling_variance_gpu, l->rolling_variance, oc)) return -1;
    }
    if(st->pre_bias){
        if(cuda3d_make_array(&st->pre_b_gpu, st->pre_b, oc)) return -1;
        if(train && cuda3d_make_array(&st->pre_b_updates_gpu, st->pre_b_updates, oc)) return -1;
    }
    if(cuda3d_malloc((void **)&st->acc_gpu, 2 * (size_t)oc * sizeof(double))) return -1;
    if(cuda3d_malloc((void **)&st->part_gpu, 2 * (size_t)oc * C3_SUM_BLOCKS * sizeof(double))) return -1;
    if(cuda3d_malloc((void **)&st->coef_gpu, 3 * (size_t)oc * sizeof(float))) return -1;
    return 0;
}

void c3_free_gpu(conv3d_state *st)
{
    if(!st) return;
    cuda3d_free((void **)&st->pre_b_gpu);
    cuda3d_free((void **)&st->pre_b_updates_gpu);
    cuda3d_free((void **)&st->acc_gpu);
    cuda3d_free((void **)&st->part_gpu);
    cuda3d_free((void **)&st->coef_gpu);
}
#endif

int c3_init(layer *l, int batch, dims3d in, dims3d out, geom3d g, int transposed,
            int batch_normalize, int bias, ACTIVATION act, int fan_in)
{
    int oc = out.c;
    int pre = batch_normalize && bias;
    conv3d_state *st = calloc(1, sizeof(conv3d_state) + (pre ? 2 * (size_t)oc * sizeof(float) : 0));
    if(!st) return -1;
    st->g = g; st->transposed = transposed; st->bias = bias; st->pre_bias = pre;
    if(pre){ st->pre_b = st->mem; st->pre_b_updates = st->mem + oc; }
    l->plugin_state = st;
    l->batch = batch;
    l->c = in.c; l->d = in.d; l->h = in.d * in.h; l->w = in.w;
    l->out_c = out.c; l->out_d = out.d; l->out_h = out.d * out.h; l->out_w = out.w;
    l->n = oc;
    l->size = g.kw; l->stride = g.sw; l->pad = g.pw;   /* informative only: the per-axis values are in the state */
    l->batch_normalize = batch_normalize;
    l->activation = act;
    l->nweights = (int)((size_t)in.c * oc * g.kd * g.kh * g.kw);
    l->nbiases = (batch_normalize || bias) ? oc : 0;
    l->extra = pre ? oc : 0;
    l->weights = layer3d_alloc(l->nweights);
    l->weight_updates = layer3d_inference ? 0 : layer3d_alloc(l->nweights);
    if(!l->weights || (!layer3d_inference && !l->weight_updates)) return -1;
    /* PyTorch's default initialisation of Conv3d/ConvTranspose3d (kaiming_uniform with a = sqrt(5)), which the
     * public V-Net code keeps: weights and conv biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)); BN gamma 1, beta 0.
     * With BN after a convolution, the weight scale sets the effective learning rate (it goes as lr / |w|^2): He-normal
     * (std sqrt(2 / fan_in), 2.45x larger) gives an effective rate about 6x smaller, and on LA-mini valid_16 Dice 0.59
     * against 0.80 for PyTorch at the same protocol (docs/dbisl.md). */
    float bound = 1.f / sqrtf((float)(fan_in > 0 ? fan_in : 1));
    int i;
    for(i = 0; i < l->nweights; ++i) l->weights[i] = rand_uniform(-bound, bound);
    if(l->nbiases){
        l->biases = layer3d_alloc(oc);
        l->bias_updates = layer3d_inference ? 0 : layer3d_alloc(oc);
        if(!batch_normalize) for(i = 0; i < oc; ++i) l->biases[i] = rand_uniform(-bound, bound);
    }
    if(pre) for(i = 0; i < oc; ++i) st->pre_b[i] = rand_uniform(-bound, bound);
    if(batch_normalize){
        l->scales = layer3d_alloc(oc);
        l->scale_updates = layer3d_inference ? 0 : layer3d_alloc(oc);
        l->mean = layer3d_alloc(oc);
        l->variance = layer3d_alloc(oc);
        l->rolling_mean = layer3d_alloc(oc);
        l->rolling_variance = layer3d_alloc(oc);
        for(i = 0; i < oc; ++i){ l->scales[i] = 1; l->rolling_variance[i] = 1; }
    }
#ifdef GPU
    if(gpu_index >= 0 && c3_init_gpu(l)) return -1;
#endif
    return c3_alloc_buffers(l);
}

static int read_axes(list *options, const char *sec, const char *key, int def, int required, int out[3], char *err, size_t errlen)
{
    static const char *ax[3] = {"_d", "_h", "_w"};
    char name[32];
    int i, cubic, have_all = 1;
    for(i = 0; i < 3; ++i){
        snprintf(name, sizeof(name), "%s%s", key, ax[i]);
        if(!option_find(options, name)) have_all = 0;
    }
    if(cfg_int(options, sec, key, def, required && !have_all, &cubic, err, errlen)) return -1;
    for(i = 0; i < 3; ++i){
        snprintf(name, sizeof(name), "%s%s", key, ax[i]);
        if(cfg_int(options, sec, name, cubic, 0, &out[i], err, errlen)) return -1;
    }
    return 0;
}

int conv3d_read_options(list *options, const char *sec, conv3d_options *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    if(cfg_int(options, sec, "filters", 0, 1, &o->filters, err, errlen)) return -1;
    if(read_axes(options, sec, "size", 1, 1, o->k, err, errlen)) return -1;
    if(read_axes(options, sec, "stride", 1, 0, o->s, err, errlen)) return -1;
    if(read_axes(options, sec, "pad", 0, 0, o->p, err, errlen)) return -1;
    if(cfg_int(options, sec, "batch_normalize", 0, 0, &o->batch_normalize, err, errlen)) return -1;
    if(cfg_int(options, sec, "bias", 1, 0, &o->bias, err, errlen)) return -1;
    if(cfg_activation(options, "activation", "linear", &o->activation, err, errlen)) return -1;
    return 0;
}


/* Checks shared by [conv3d] and [deconv3d] parsing. */
int c3_check_run(size_params params, char *err, size_t errlen)
{
    if(params.net && params.net->adam){
        snprintf(err, errlen, "adam=1 is not supported by this layer (Darknet SGD with momentum only)");
        return -1;
    }
#if defined(GPU) && !defined(CUDNN)
    if(gpu_index >= 0){
        snprintf(err, errlen, "this GPU build has no cuDNN, which the 3D convolutions need: rebuild with CUDNN=1 or run with -nogpu");
        return -1;
    }
#endif
    return 0;
}

geom3d c3_geom(dims3d in, dims3d out, const conv3d_options *o, int transposed)
{
    dims3d im = transposed ? out : in, pos = transposed ? in : out;
    geom3d g = {im.c, im.d, im.h, im.w, pos.d, pos.h, pos.w, o->k[0], o->k[1], o->k[2], o->s[0], o->s[1], o->s[2],
                o->p[0], o->p[1], o->p[2]};
    return g;
}

/* The oneDNN primitives (CPU) and cuDNN descriptors (GPU) for the layer's current geometry; -1 when cuDNN refuses */
static int c3_setup_backends(layer *l)
{
#ifdef ONEDNN
    conv3d_onednn_setup(l);
#endif
#ifdef GPU
    if(gpu_index >= 0 && c3_cudnn_setup(l)) return -1;
#endif
    return 0;
}

layer c3_make_layer(int batch, dims3d in, conv3d_options o, const c3_kind *k)
{
    layer l = {0};
    l.type = *k->type;
    dims3d out = k->out_dims(in, &o);
    geom3d g = c3_geom(in, out, &o, k->transposed);
    /* PyTorch's fan-in: the channels of the convolution's image times the taps (ConvTranspose3d: out_c * k^3) */
    int fan_in = g.c * o.k[0] * o.k[1] * o.k[2];
    if(c3_init(&l, batch, in, out, g, k->transposed, o.batch_normalize, o.bias, o.activation, fan_in)){
        free_layer(l);
        layer empty = {0};
        return empty;
    }
    c3_state(l)->first = o.first;
    l.forward = k->forward;
    l.backward = k->backward;
    l.update = k->update;
#ifdef GPU
    l.forward_gpu = k->forward_gpu;
    l.backward_gpu = k->backward_gpu;
    l.update_gpu = k->update_gpu;
#endif
    if(c3_setup_backends(&l)){
        free_layer(l);
        layer empty = {0};
        return empty;
    }
    double gflop = 2.0 * l.nweights * geom3d_positions(&g) / 1e9;
    fprintf(stderr, "%-8s %4d %dx%dx%d/%dx%dx%d p%dx%dx%d%s %4d x%4d x%4d x%4d -> %4d x%4d x%4d x%4d %6.3f BFLOPs\n",
            k->name, o.filters, o.k[0], o.k[1], o.k[2], o.s[0], o.s[1], o.s[2], o.p[0], o.p[1], o.p[2],
            o.batch_normalize ? " bn" : "", in.c, in.d, in.h, in.w, out.c, out.d, out.h, out.w, gflop);
    return l;
}

int c3_resize_layer(layer *l, int d, int h, int w, const c3_kind *k)
{
    conv3d_state *st = c3_state(*l);
    conv3d_options o = {0};
    o.filters = l->out_c;
    o.k[0] = st->g.kd; o.k[1] = st->g.kh; o.k[2] = st->g.kw;
    o.s[0] = st->g.sd; o.s[1] = st->g.sh; o.s[2] = st->g.sw;
    o.p[0] = st->g.pd; o.p[1] = st->g.ph; o.p[2] = st->g.pw;
    dims3d in = {l->c, d, h, w};
    dims3d out = k->out_dims(in, &o);
    if(out.d < 1 || out.h < 1 || out.w < 1) return -1;
    st->g = c3_geom(in, out, &o, k->transposed);
    l->d = d; l->h = d * h; l->w = w;
    l->out_d = out.d; l->out_h = out.d * out.h; l->out_w = out.w;
    if(c3_alloc_buffers(l)) return -1;
    return c3_setup_backends(l);
}

int c3_parse_section(list *options, size_params params, layer *l, const c3_kind *k, char *err, size_t errlen)
{
    dims3d in;
    conv3d_options o;
    char sec[32];
    snprintf(sec, sizeof(sec), "[%s]", k->name);
    if(params_dims(params, &in, err, errlen)) return -1;
    if(conv3d_read_options(options, sec, &o, err, errlen)) return -1;
    if(c3_check_run(params, err, errlen)) return -1;
    dims3d out = k->out_dims(in, &o);
    if(out.d < 1 || out.h < 1 || out.w < 1){
        if(k->transposed)
            snprintf(err, errlen, "key 'pad': output (in-1)*stride - 2*pad + size is empty for input %dx%dx%d", in.d, in.h, in.w);
        else
            snprintf(err, errlen, "key 'size': kernel %dx%dx%d does not fit the padded input %dx%dx%d (pad %d,%d,%d): empty output",
                     o.k[0], o.k[1], o.k[2], in.d, in.h, in.w, o.p[0], o.p[1], o.p[2]);
        return -1;
    }
    o.first = conv3d_first_layer_rule && params.index == 0;
    *l = c3_make_layer(params.batch, in, o, k);
    if(!l->weights) return layer3d_alloc_error(err, errlen);
    return 0;
}

/* Spans are walked in blocks this long, so the activation (or its gradient) runs on data still in L1. */
#define C3_BLOCK 2048

/* 1.f where c holds, else 0.f, without a branch: x * one_if(x > 0) is Darknet's relu x*(x>0) bit for bit (NaN stays
 * NaN), but GCC only vectorises it this way (with trapping math it keeps the comparison as a branch). */
static inline float one_if(int c)
{
    uint32_t u = 0x3f800000u & (uint32_t)-c;
    float r;
    memcpy(&r, &u, sizeof(r));
    return r;
}

/* x = act(x), Darknet's formulas; the common activations get their own loops (relu vectorised) */
static void act_span(float *x, size_t n, ACTIVATION a)
{
    size_t i;
    switch(a){
    case LINEAR: return;
    case RELU: for(i = 0; i < n; ++i) x[i] *= one_if(x[i] > 0); return;
    case LEAKY: for(i = 0; i < n; ++i) x[i] = leaky_activate(x[i]); return;
    case LOGISTIC: for(i = 0; i < n; ++i) x[i] = logistic_activate(x[i]); return;
    default: for(i = 0; i < n; ++i) x[i] = activate(x[i], a); return;
    }
}

/* d *= act'(ga * xn + be) for the activations c3_grad_from_x_norm takes: relu and leaky have slope 1 where their
 * output y = act(a) is positive and y > 0 exactly when a > 0 (relu(a) = a * (a > 0), leaky(a) = a or a / 10), so the
 * sign of a, computed as the forward pass computes it, gives Darknet's gradient_array(y) bit for bit */
static void grad_span_xn(const float *xn, size_t n, float ga, float be, ACTIVATION a, float *d)
{
    size_t i;
    if(a == RELU) for(i = 0; i < n; ++i) d[i] *= one_if(ga * xn[i] + be > 0);
    else if(a == LEAKY) for(i = 0; i < n; ++i) d[i] *= ga * xn[i] + be > 0 ? 1.f : .1f;
}

int c3_backward_reads_output(const layer *l)
{
    if(!l->delta) return 0;   /* inference network: no backward pass */
    if(l->activation == LINEAR) return 0;
    return !(l->batch_normalize && l->x_norm && (l->activation == RELU || l->activation == LEAKY));
}

/* d *= act'(y), with y the activated output (Darknet's gradient_array) */
static void grad_span(const float *y, size_t n, ACTIVATION a, float *d)
{
    size_t i;
    switch(a){
    case LINEAR: return;
    case RELU: for(i = 0; i < n; ++i) d[i] *= one_if(y[i] > 0); return;
    case LEAKY: for(i = 0; i < n; ++i) d[i] *= leaky_gradient(y[i]); return;
    case LOGISTIC: for(i = 0; i < n; ++i) d[i] *= logistic_gradient(y[i]); return;
    default: for(i = 0; i < n; ++i) d[i] *= gradient(y[i], a); return;
    }
}

/* y[b][c][:] += v[c] */
static void add_channel(float *y, const float *v, int batch, int c, size_t sp)
{
    long bc;
    #pragma omp parallel for schedule(static)
    for(bc = 0; bc < (long)batch * c; ++bc){
        float a = v[bc % c];
        float *p = y + bc * sp;
        size_t i;
        for(i = 0; i < sp; ++i) p[i] += a;
    }
}

/* The activation runs inside these channel-parallel loops (Darknet's activate_array/gradient_array are one thread). */
void c3_post_forward(layer l, network net)
{
    conv3d_state *st = c3_state(l);
    int c = l.out_c;
    size_t sp = l.outputs / c;
    const ACTIVATION act = l.activation;
    long bc;
    if(l.batch_normalize){
        if(st->pre_bias) add_channel(l.output, st->pre_b, l.batch, c, sp);
        if(net.train){
            bn3d_stats(l.output, l.batch, c, sp, l.mean, l.variance);
            double m = (double)l.batch * sp;
            int k;
            for(k = 0; k < c; ++k){
                /* PyTorch: the running variance takes the UNBIASED batch variance */
                double unb = m > 1 ? l.variance[k] * m / (m - 1) : l.variance[k];
                l.rolling_mean[k] = (1 - BN3D_MOMENTUM) * l.rolling_mean[k] + BN3D_MOMENTUM * l.mean[k];
                l.rolling_variance[k] = (float)((1 - BN3D_MOMENTUM) * l.rolling_variance[k] + BN3D_MOMENTUM * unb);
            }
        }
        const float *mu = net.train ? l.mean : l.rolling_mean;
        const float *var = net.train ? l.variance : l.rolling_variance;
        #pragma omp parallel for schedule(static)
        for(bc = 0; bc < (long)l.batch * c; ++bc){
            int k = (int)(bc % c);
            float m0 = mu[k], is = 1.f / sqrtf(var[k] + BN3D_EPS), ga = l.scales[k], be = l.biases[k];
            float *y = l.output + bc * sp, *xn = l.x_norm ? l.x_norm + bc * sp : 0;   /* no x_norm: inference network */
            size_t i0, i;
            for(i0 = 0; i0 < sp; i0 += C3_BLOCK){
                size_t e = sp - i0 < C3_BLOCK ? sp : i0 + C3_BLOCK;
                if(xn) for(i = i0; i < e; ++i){
                    float t = (y[i] - m0) * is;
                    xn[i] = t;
                    y[i] = ga * t + be;
                }
                else for(i = i0; i < e; ++i) y[i] = ga * ((y[i] - m0) * is) + be;
                act_span(y + i0, e - i0, act);
            }
        }
    }else{
        #pragma omp parallel for schedule(static)
        for(bc = 0; bc < (long)l.batch * c; ++bc){
            float be = l.nbiases ? l.biases[bc % c] : 0.f;
            float *y = l.output + bc * sp;
            size_t i0, i;
            for(i0 = 0; i0 < sp; i0 += C3_BLOCK){
                size_t e = sp - i0 < C3_BLOCK ? sp : i0 + C3_BLOCK;
                if(l.nbiases) for(i = i0; i < e; ++i) y[i] += be;
                act_span(y + i0, e - i0, act);
            }
        }
    }
}

void c3_recompute_output(layer l, network net)
{
    int c = l.out_c;
    size_t sp = l.outputs / c;
    long bc;
    (void)net;
    #pragma omp parallel for schedule(static)
    for(bc = 0; bc < (long)l.batch * c; ++bc){
        float ga = l.scales[bc % c], be = l.biases[bc % c];
        float *y = l.output + bc * sp;
        const float *xn = l.x_norm + bc * sp;
        size_t i0, i;
        for(i0 = 0; i0 < sp; i0 += C3_BLOCK){
            size_t e = sp - i0 < C3_BLOCK ? sp : i0 + C3_BLOCK;
            for(i = i0; i < e; ++i) y[i] = ga * xn[i] + be;
            act_span(y + i0, e - i0, l.activation);
        }
    }
}

void c3_post_backward(layer l, network net)
{
    conv3d_state *st = c3_state(l);
    int c = l.out_c;
    size_t sp = l.outputs / c;
    const ACTIVATION act = l.activation;
    int k;
    if(!l.batch_normalize){
        if(!l.nbiases){
            long bc;
            #pragma omp parallel for schedule(static)
            for(bc = 0; bc < (long)l.batch * c; ++bc) grad_span(l.output + bc * sp, sp, act, l.delta + bc * sp);
            return;
        }
        #pragma omp parallel for schedule(static)
        for(k = 0; k < c; ++k){
            double s = 0;
            int b;
            size_t i0;
            for(b = 0; b < l.batch; ++b){
                float *d = l.delta + ((size_t)b * c + k) * sp;
                const float *y = l.output + ((size_t)b * c + k) * sp;
                for(i0 = 0; i0 < sp; i0 += C3_BLOCK){
                    size_t e = sp - i0 < C3_BLOCK ? sp : i0 + C3_BLOCK;
                    grad_span(y + i0, e - i0, act, d + i0);
                    s += sum_f(d + i0, e - i0);
                }
            }
            l.bias_updates[k] += (float)s;
        }
        return;
    }
    double m = (double)l.batch * sp;
    #pragma omp parallel for schedule(static)
    for(k = 0; k < c; ++k){
        double sdy = 0, sdyx = 0, sdz = 0;
        int b;
        size_t i0, i;
        const int from_xn = act == RELU || act == LEAKY;   /* l.output may hold a later layer's values (c3_backward_reads_output) */
        const float ga = l.scales[k], be = l.biases[k];
        for(b = 0; b < l.batch; ++b){
            float *d = l.delta + ((size_t)b * c + k) * sp;
            const float *xn = l.x_norm + ((size_t)b * c + k) * sp, *y = l.output + ((size_t)b * c + k) * sp;
            for(i0 = 0; i0 < sp; i0 += C3_BLOCK){
                size_t e = sp - i0 < C3_BLOCK ? sp : i0 + C3_BLOCK;
                if(from_xn) grad_span_xn(xn + i0, e - i0, ga, be, act, d + i0);
                else grad_span(y + i0, e - i0, act, d + i0);
                sums2(d + i0, xn + i0, e - i0, &sdy, &sdyx);
            }
        }
        l.bias_updates[k] += (float)sdy;
        l.scale_updates[k] += (float)sdyx;
        float var = net.train ? l.variance[k] : l.rolling_variance[k];
        float g = l.scales[k] / sqrtf(var + BN3D_EPS);
        /* training: dz = g * (dy - mean(dy) - xhat * mean(dy * xhat)); inference: BN is affine */
        float mdy = net.train ? (float)(sdy / m) : 0.f, mdyx = net.train ? (float)(sdyx / m) : 0.f;
        for(b = 0; b < l.batch; ++b){
            float *d = l.delta + ((size_t)b * c + k) * sp;
            const float *xn = l.x_norm + ((size_t)b * c + k) * sp;
            for(i0 = 0; i0 < sp; i0 += C3_BLOCK){
                size_t e = sp - i0 < C3_BLOCK ? sp : i0 + C3_BLOCK;
                for(i = i0; i < e; ++i) d[i] = g * (d[i] - mdy - xn[i] * mdyx);
                if(st->pre_bias) sdz += sum_f(d + i0, e - i0);
            }
        }
        if(st->pre_bias) st->pre_b_updates[k] += (float)sdz;
    }
}

/* Darknet's three weight passes (decay into the update, step, momentum) fused into one threaded pass: per element
 * the same operations in the same order, so the same bits */
static void sgd_weights(float *w, float *u, size_t n, float dec, float step, float mom)
{
    long i;
    #pragma omp parallel for schedule(static) if(n > 65536)
    for(i = 0; i < (long)n; ++i){
        float v = u[i] + dec * w[i];
        w[i] += step * v;
        u[i] = mom * v;
    }
}

void c3_update(layer l, update_args a)
{
    conv3d_state *st = c3_state(l);
    float lr = a.learning_rate * l.learning_rate_scale;
    int n = l.out_c;
    if(l.nbiases){
        axpy_cpu(n, lr / a.batch, l.bias_updates, 1, l.biases, 1);
        scal_cpu(n, a.momentum, l.bias_updates, 1);
    }
    if(l.scales){
        axpy_cpu(n, lr / a.batch, l.scale_updates, 1, l.scales, 1);
        scal_cpu(n, a.momentum, l.scale_updates, 1);
    }
    if(st->pre_bias){
        axpy_cpu(n, lr / a.batch, st->pre_b_updates, 1, st->pre_b, 1);
        scal_cpu(n, a.momentum, st->pre_b_updates, 1);
    }
    sgd_weights(l.weights, l.weight_updates, (size_t)l.nweights, -a.decay * a.batch, lr / a.batch, a.momentum);
}

int c3_save(layer l, FILE *fp)
{
    conv3d_state *st = c3_state(l);
#ifdef GPU
    if(gpu_index >= 0) c3_pull(l);
#endif
    if(l.nbiases && write_floats(l.biases, l.nbiases, fp)) return -1;
    if(l.batch_normalize){
        if(write_floats(l.scales, l.out_c, fp)) return -1;
        if(write_floats(l.rolling_mean, l.out_c, fp)) return -1;
        if(write_floats(l.rolling_variance, l.out_c, fp)) return -1;
    }
    if(write_floats(l.weights, l.nweights, fp)) return -1;
    if(st->pre_bias && write_floats(st->pre_b, l.out_c, fp)) return -1;
    return 0;
}

int c3_load(layer l, FILE *fp)
{
    conv3d_state *st = c3_state(l);
    if(l.nbiases && read_floats(l.biases, l.nbiases, fp)) return -1;
    if(l.batch_normalize){
        if(read_floats(l.scales, l.out_c, fp)) return -1;
        if(read_floats(l.rolling_mean, l.out_c, fp)) return -1;
        if(read_floats(l.rolling_variance, l.out_c, fp)) return -1;
    }
    if(read_floats(l.weights, l.nweights, fp)) return -1;
    if(st->pre_bias && read_floats(st->pre_b, l.out_c, fp)) return -1;
#ifdef GPU
    if(gpu_index >= 0) c3_push(l);
#endif
    return 0;
}

#ifdef GPU
static void push_pull(layer l, int push)
{
    conv3d_state *st = c3_state(l);
    void (*f)(float *, float *, size_t) = push ? layer3d_push : layer3d_pull;
    f(l.weights_gpu, l.weights, l.nweights);
    f(l.weight_updates_gpu, l.weight_updates, l.nweights);
    f(l.biases_gpu, l.biases, l.nbiases);
    f(l.bias_updates_gpu, l.bias_updates, l.nbiases);
    if(l.batch_normalize){
        f(l.scales_gpu, l.scales, l.out_c);
        f(l.scale_updates_gpu, l.scale_updates, l.out_c);
        f(l.rolling_mean_gpu, l.rolling_mean, l.out_c);
        f(l.rolling_variance_gpu, l.rolling_variance, l.out_c);
    }
    if(st->pre_bias){
        f(st->pre_b_gpu, st->pre_b, l.out_c);
        f(st->pre_b_updates_gpu, st->pre_b_updates, l.out_c);
    }
}
void c3_push(layer l) { push_pull(l, 1); }
void c3_pull(layer l) { push_pull(l, 0); }
#endif
