/* CUDA twin of conv3d_common.c: pre-BN bias, batch-norm with PyTorch semantics, bias, activation and the SGD update of [conv3d]/[deconv3d]. */
#include "cuda3d.h"
#include "amp_device.cuh"
#include "act_fused.cuh"
extern "C" {
#include "activations.h"
#include "conv3d_common.h"
#include "amp.h"
}

#define C3_THREADS 256

extern "C" int darknet3d_deterministic;

/* The channel sums accumulate into the layer's st->acc_gpu (zeroed here); atomics in double keep them as exact as the
 * CPU's. Deterministic mode: each block's sums go to st->part_gpu[row * nblocks + block] instead of an atomicAdd, and
 * chan_sum_finish_kernel adds them in block order, so the sum is the same from run to run. The scratch is the
 * layer's (conv3d_state), sized for its channels at make time, so a running network never allocates. */
static double *zeroed_acc(const conv3d_state *st, int rows)
{
    CUDA3D_CHECK(cudaMemset(st->acc_gpu, 0, (size_t)rows * sizeof(double)));
    return st->acc_gpu;
}

__global__ void chan_sum_finish_kernel(const double *part, int nblocks, int rows, double *acc)
{
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if(r >= rows) return;
    double t = 0;
    for(int i = 0; i < nblocks; ++i) t += part[(size_t)r * nblocks + i];
    acc[r] += t;
}

/* The gradient of relu or leaky after batch norm, from the kept x_norm: the sign of scale * xn + bias, computed as
 * normalize_kernel computes it, is that of the activated output (c3_backward_reads_output), so d * bn_act_factor is
 * gradient_array_gpu(output) on d, bit for bit (multiplied with __fmul_rn, never contracted into an FMA).
 * scales NULL: no activation gradient (factor 1). */
struct bn_act_grad {
    const float *scales, *biases;
    int leaky;
};

template <typename T>
__device__ __forceinline__ float bn_act_factor(bn_act_grad g, int k, T xn)
{
    if(!g.scales) return 1.f;
    float a = g.scales[k] * amp_to_float(xn) + g.biases[k];
    return a > 0 ? 1.f : (g.leaky ? .1f : 0.f);
}

/* acc[k] += sum over batch and space of (a - shift[k]) (squared when sq), and acc[c + k] += sum a*b when b, where a is
 * first multiplied by the activation gradient g (which needs b = x_norm); with part, the block sums are stored there
 * (rows k and c + k) for chan_sum_finish_kernel instead */
template <typename T>
__global__ void chan_sum_kernel(const float *a, const T *b, const float *shift, int sq, int batch, int c, size_t sp, double *acc,
                                double *part, bn_act_grad g)
{
    __shared__ double s1[C3_THREADS], s2[C3_THREADS];
    int k = blockIdx.y;
    double t1 = 0, t2 = 0;
    float m = shift ? shift[k] : 0.f;
    /* the samples in order, each sample's plane of channel k in grid strides: no division per element */
    for(int bi = 0; bi < batch; ++bi){
        size_t base = ((size_t)bi * c + k) * sp;
        for(size_t s = (size_t)blockIdx.x * blockDim.x + threadIdx.x; s < sp; s += (size_t)gridDim.x * blockDim.x){
            size_t idx = base + s;
            float ai = a[idx];
            if(g.scales) ai = __fmul_rn(ai, bn_act_factor(g, k, b[idx]));
            double v = (double)ai - m;
            t1 += sq ? v * v : v;
            if(b) t2 += (double)ai * amp_to_float(b[idx]);
        }
    }
    s1[threadIdx.x] = t1; s2[threadIdx.x] = t2;
    __syncthreads();
    for(int s = blockDim.x / 2; s > 0; s >>= 1){
        if(threadIdx.x < s){ s1[threadIdx.x] += s1[threadIdx.x + s]; s2[threadIdx.x] += s2[threadIdx.x + s]; }
        __syncthreads();
    }
    if(threadIdx.x == 0){
        if(part){
            part[(size_t)k * gridDim.x + blockIdx.x] = s1[0];
            if(b) part[((size_t)c + k) * gridDim.x + blockIdx.x] = s2[0];
        } else {
            atomicAdd(acc + k, s1[0]);
            if(b) atomicAdd(acc + c + k, s2[0]);
        }
    }
}

template <typename T>
static void chan_sum(const conv3d_state *st, const float *a, const T *b, const float *shift, int sq, int batch, int c, size_t sp,
                     double *acc, bn_act_grad g = bn_act_grad{0, 0, 0})
{
    size_t n = (size_t)batch * sp;
    int bx = (int)((n + C3_THREADS - 1) / C3_THREADS);
    if(bx > C3_SUM_BLOCKS) bx = C3_SUM_BLOCKS;
    dim3 grid(bx, c);
    int rows = b ? 2 * c : c;
    double *part = darknet3d_deterministic ? st->part_gpu : 0;
    chan_sum_kernel<<<grid, C3_THREADS>>>(a, b, shift, sq, batch, c, sp, acc, part, g);
    CUDA3D_CHECK_LAUNCH();
    if(part){
        chan_sum_finish_kernel<<<(rows + 255) / 256, 256>>>(part, bx, rows, acc);
        CUDA3D_CHECK_LAUNCH();
    }
}

/* y += v[channel], then the fused activation act (core/act_fused.cuh; ACT_FUSED_APART leaves y there) */
__global__ void add_channel_kernel(float *y, const float *v, int c, size_t sp, size_t n, int act)
{
    size_t i = (size_t)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;
    if(i < n) y[i] = act_fused_apply(y[i] + v[cuda3d_channel(i, sp, c)], act);
}

__global__ void mean_kernel(const double *acc, int c, double m, float *mean)
{
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if(k < c) mean[k] = (float)(acc[k] / m);
}

__global__ void var_kernel(const double *acc, int c, double m, float *mean, float *var, float *rmean, float *rvar, float mom)
{
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if(k >= c) return;
    double v = acc[k] / m;
    var[k] = (float)v;
    /* PyTorch: the running variance takes the UNBIASED batch variance */
    double unb = m > 1 ? v * m / (m - 1) : v;
    rmean[k] = (1 - mom) * rmean[k] + mom * mean[k];
    rvar[k] = (float)((1 - mom) * rvar[k] + mom * unb);
}

/* x_norm is kept in T (conv3d_state.xn_type); y is computed from the kept value, so the output rebuilt from it
 * (bn_recompute_kernel) is this one bit for bit */
template <typename T>
__global__ void normalize_kernel(float *y, T *xn, const float *mean, const float *var, const float *scales, const float *biases,
                                 int c, size_t sp, size_t n, int act)
{
    size_t i = (size_t)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;
    if(i >= n) return;
    int k = cuda3d_channel(i, sp, c);
    float t = (y[i] - mean[k]) * rsqrtf(var[k] + BN3D_EPS);
    if(xn){   /* NULL in an inference network */
        T h = amp_from_float<T>(t);
        xn[i] = h;
        t = amp_to_float(h);
    }
    y[i] = act_fused_apply(scales[k] * t + biases[k], act);
}

/* y = scale * x_norm + bias, as normalize_kernel computes it from the value it keeps */
template <typename T>
__global__ void bn_recompute_kernel(float *y, const T *xn, const float *scales, const float *biases, int c, size_t sp, size_t n, int act)
{
    size_t i = (size_t)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;
    if(i >= n) return;
    int k = cuda3d_channel(i, sp, c);
    y[i] = act_fused_apply(scales[k] * amp_to_float(xn[i]) + biases[k], act);
}

/* from the sums of dy and dy*xhat: the parameter updates and the coefficients of dz = g*(dy - a - xhat*b) */
__global__ void bn_back_coef_kernel(const double *acc, int c, double m, int train, const float *scales, const float *var,
                                    float *bias_updates, float *scale_updates, float *coef)
{
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if(k >= c) return;
    bias_updates[k] += (float)acc[k];
    scale_updates[k] += (float)acc[c + k];
    coef[k] = scales[k] * rsqrtf(var[k] + BN3D_EPS);
    coef[c + k] = train ? (float)(acc[k] / m) : 0.f;
    coef[2 * c + k] = train ? (float)(acc[c + k] / m) : 0.f;
}

/* d = coef * (d * g - a - xhat * b), g the activation gradient (bn_act_grad) */
template <typename T>
__global__ void bn_back_kernel(float *d, const T *xn, const float *coef, int c, size_t sp, size_t n, bn_act_grad g)
{
    size_t i = (size_t)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;
    if(i >= n) return;
    int k = cuda3d_channel(i, sp, c);
    float di = d[i];
    if(g.scales) di = __fmul_rn(di, bn_act_factor(g, k, xn[i]));   /* rounded here, as the stored product was: no FMA */
    d[i] = coef[k] * (di - coef[c + k] - amp_to_float(xn[i]) * coef[2 * c + k]);
}

__global__ void acc_add_kernel(const double *acc, int c, float *out)
{
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if(k < c) out[k] += (float)acc[k];
}

/* f(x_norm) with l's x_norm_gpu as the type it is kept in (conv3d_state.xn_type: FP32, or 16 bits at precision
 * fp16|bf16, as c3_alloc_buffers chose) */
template <typename F> static void with_x_norm(layer l, F f)
{
    int t = c3_state(l)->xn_type;
    if(t == DARKNET3D_FP16) f((__half *)l.x_norm_gpu);
    else if(t == DARKNET3D_BF16) f((__nv_bfloat16 *)l.x_norm_gpu);
    else f(l.x_norm_gpu);
}

extern "C" void c3_post_forward_gpu(layer l, network net)
{
    conv3d_state *st = c3_state(l);
    int c = l.out_c;
    size_t sp = l.outputs / c, n = (size_t)l.batch * l.outputs;
    int cb = (c + 255) / 256, act = act_fused(l.activation);
    if(l.batch_normalize){
        if(st->pre_bias){
            add_channel_kernel<<<cuda_gridsize(n), BLOCK>>>(l.output_gpu, st->pre_b_gpu, c, sp, n, (int)LINEAR);
            CUDA3D_CHECK_LAUNCH();
        }
        const float *mu = l.rolling_mean_gpu, *var = l.rolling_variance_gpu;
        if(net.train){
            double m = (double)l.batch * sp;
            double *acc = zeroed_acc(st, 2 * c);
            chan_sum(st, l.output_gpu, (const float *)0, (const float *)0, 0, l.batch, c, sp, acc);
            mean_kernel<<<cb, 256>>>(acc, c, m, l.mean_gpu);
            CUDA3D_CHECK(cudaMemset(acc, 0, c * sizeof(double)));
            chan_sum(st, l.output_gpu, (const float *)0, l.mean_gpu, 1, l.batch, c, sp, acc);
            var_kernel<<<cb, 256>>>(acc, c, m, l.mean_gpu, l.variance_gpu, l.rolling_mean_gpu, l.rolling_variance_gpu, BN3D_MOMENTUM);
            CUDA3D_CHECK_LAUNCH();
            mu = l.mean_gpu; var = l.variance_gpu;
        }
        with_x_norm(l, [&](auto xn){
            normalize_kernel<<<cuda_gridsize(n), BLOCK>>>(l.output_gpu, xn, mu, var, l.scales_gpu, l.biases_gpu, c, sp, n, act);
        });
        CUDA3D_CHECK_LAUNCH();
    }else if(l.nbiases){
        add_channel_kernel<<<cuda_gridsize(n), BLOCK>>>(l.output_gpu, l.biases_gpu, c, sp, n, act);
        CUDA3D_CHECK_LAUNCH();
    }else act = ACT_FUSED_APART;   /* no kernel wrote the output */
    if(act == ACT_FUSED_APART && l.activation != LINEAR) activate_array_gpu(l.output_gpu, (int)n, l.activation);
}

extern "C" void c3_recompute_output_gpu(layer l, network net)
{
    size_t n = (size_t)l.batch * l.outputs;
    int act = act_fused(l.activation);
    (void)net;
    with_x_norm(l, [&](auto xn){
        bn_recompute_kernel<<<cuda_gridsize(n), BLOCK>>>(l.output_gpu, xn, l.scales_gpu, l.biases_gpu, l.out_c, l.outputs / l.out_c, n, act);
    });
    CUDA3D_CHECK_LAUNCH();
    if(act == ACT_FUSED_APART) activate_array_gpu(l.output_gpu, (int)n, l.activation);
}

extern "C" void c3_post_backward_gpu(layer l, network net)
{
    conv3d_state *st = c3_state(l);
    int c = l.out_c;
    size_t sp = l.outputs / c, n = (size_t)l.batch * l.outputs;
    int cb = (c + 255) / 256;
    /* relu or leaky after batch norm: their gradient is taken from x_norm inside the two passes below (l.output_gpu
     * may hold a later layer's values, c3_backward_reads_output); any other activation from the output, first */
    bn_act_grad g = {0, 0, 0};
    if(l.batch_normalize && (l.activation == RELU || l.activation == LEAKY)) g = bn_act_grad{l.scales_gpu, l.biases_gpu, l.activation == LEAKY};
    else gradient_array_gpu(l.output_gpu, (int)n, l.activation, l.delta_gpu);
    if(!l.batch_normalize){
        if(!l.nbiases) return;
        double *acc = zeroed_acc(st, c);
        chan_sum(st, l.delta_gpu, (const float *)0, (const float *)0, 0, l.batch, c, sp, acc);
        acc_add_kernel<<<cb, 256>>>(acc, c, l.bias_updates_gpu);
        CUDA3D_CHECK_LAUNCH();
        return;
    }
    double m = (double)l.batch * sp;
    double *acc = zeroed_acc(st, 2 * c);
    float *coef = st->coef_gpu;
    with_x_norm(l, [&](auto xn){ chan_sum(st, l.delta_gpu, xn, (const float *)0, 0, l.batch, c, sp, acc, g); });
    bn_back_coef_kernel<<<cb, 256>>>(acc, c, m, net.train, l.scales_gpu, net.train ? l.variance_gpu : l.rolling_variance_gpu,
                                     l.bias_updates_gpu, l.scale_updates_gpu, coef);
    CUDA3D_CHECK_LAUNCH();
    with_x_norm(l, [&](auto xn){ bn_back_kernel<<<cuda_gridsize(n), BLOCK>>>(l.delta_gpu, xn, coef, c, sp, n, g); });
    CUDA3D_CHECK_LAUNCH();
    if(st->pre_bias){
        acc = zeroed_acc(st, c);
        chan_sum(st, l.delta_gpu, (const float *)0, (const float *)0, 0, l.batch, c, sp, acc);
        acc_add_kernel<<<cb, 256>>>(acc, c, st->pre_b_updates_gpu);
        CUDA3D_CHECK_LAUNCH();
    }
}

/* Darknet's SGD step on one parameter array in one pass: dw += decay_k * w (when decay), w += rate * dw, dw *= momentum
 * (update_convolutional_layer_gpu's axpy, axpy and scal; each multiply-add one FMA, as nvcc compiles Darknet's axpy) */
__global__ void sgd_step_kernel(float *w, float *dw, size_t n, int decay, float decay_k, float rate, float momentum)
{
    size_t i = (size_t)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;
    if(i >= n) return;
    float x = w[i], g = dw[i];
    if(decay) g = __fmaf_rn(decay_k, x, g);
    w[i] = __fmaf_rn(rate, g, x);
    dw[i] = g * momentum;
}

static void sgd_step(float *w, float *dw, size_t n, int decay, float decay_k, float rate, float momentum)
{
    sgd_step_kernel<<<cuda_gridsize(n), BLOCK>>>(w, dw, n, decay, decay_k, rate, momentum);
    CUDA3D_CHECK_LAUNCH();
}

extern "C" void c3_update_gpu(layer l, update_args a)
{
    conv3d_state *st = c3_state(l);
    float lr = a.learning_rate * l.learning_rate_scale, rate = lr / a.batch;
    int n = l.out_c;
    if(l.nbiases) sgd_step(l.biases_gpu, l.bias_updates_gpu, n, 0, 0.f, rate, a.momentum);
    if(l.scales_gpu) sgd_step(l.scales_gpu, l.scale_updates_gpu, n, 0, 0.f, rate, a.momentum);
    if(st->pre_bias) sgd_step(st->pre_b_gpu, st->pre_b_updates_gpu, n, 0, 0.f, rate, a.momentum);
    sgd_step(l.weights_gpu, l.weight_updates_gpu, l.nweights, 1, -a.decay * a.batch, rate, a.momentum);
}
