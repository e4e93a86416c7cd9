/* CUDA side of mixed precision: FP32 <-> fp16/bf16 conversions for the convolutions and the overflow check and unscaling of an fp16 training step (core/amp.h). */
#include "amp_device.cuh"
#include "cuda3d.h"
extern "C" {
#include "amp.h"
}

#define AMP_BLOCK 256

static unsigned amp_blocks(size_t n)
{
    size_t b = (n + AMP_BLOCK - 1) / AMP_BLOCK;
    return (unsigned)(b < 65535u * 32u ? b : 65535u * 32u);   /* grid-stride loops cover the rest */
}

template <typename T> __global__ void amp_to_half_kernel(const float *src, T *dst, size_t n)
{
    for(size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = amp_from_float<T>(src[i]);
}

template <typename T> __global__ void amp_from_half_kernel(const T *src, float *dst, size_t n, float beta)
{
    for(size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = (beta != 0 ? dst[i] : 0.f) + amp_to_float(src[i]);
}

extern "C" void amp_to_half_gpu(const float *src, void *dst, size_t n)
{
    if(!n) return;
    if(darknet3d_precision == DARKNET3D_BF16) amp_to_half_kernel<<<amp_blocks(n), AMP_BLOCK>>>(src, (__nv_bfloat16 *)dst, n);
    else amp_to_half_kernel<<<amp_blocks(n), AMP_BLOCK>>>(src, (__half *)dst, n);
    CUDA3D_CHECK_LAUNCH();
}

extern "C" void amp_from_half_gpu(const void *src, float *dst, size_t n, float beta)
{
    if(!n) return;
    if(darknet3d_precision == DARKNET3D_BF16) amp_from_half_kernel<<<amp_blocks(n), AMP_BLOCK>>>((const __nv_bfloat16 *)src, dst, n, beta);
    else amp_from_half_kernel<<<amp_blocks(n), AMP_BLOCK>>>((const __half *)src, dst, n, beta);
    CUDA3D_CHECK_LAUNCH();
}

struct amp_params {
    int count;
    float **arr;        /* the update buffers (device) */
    size_t *n;
    float **saved;      /* their values at amp_step_begin (device) */
    int *flag_gpu;      /* 1 when a non-finite gradient was found */
};

extern "C" amp_params *amp_params_make(float **arrays, const size_t *n, int count, char *err, size_t errlen)
{
    amp_params *p = (amp_params *)calloc(1, sizeof(amp_params));
    if(!p){ snprintf(err, errlen, "out of memory"); return 0; }
    p->count = count;
    p->arr = (float **)calloc(count > 0 ? count : 1, sizeof(float *));
    p->saved = (float **)calloc(count > 0 ? count : 1, sizeof(float *));
    p->n = (size_t *)calloc(count > 0 ? count : 1, sizeof(size_t));
    if(!p->arr || !p->saved || !p->n){ amp_params_free(p); snprintf(err, errlen, "out of memory"); return 0; }
    for(int i = 0; i < count; ++i){
        p->arr[i] = arrays[i];
        p->n[i] = n[i];
        if(cuda3d_malloc((void **)&p->saved[i], n[i] * sizeof(float))) goto fail;
    }
    if(cuda3d_malloc((void **)&p->flag_gpu, sizeof(int))) goto fail;
    return p;
fail:
    {
        char why[600] = "";
        cuda3d_take_error(why, sizeof(why));
        snprintf(err, errlen, "fp16 loss scaling: cannot allocate the saved update buffers: %s", why);
    }
    amp_params_free(p);
    return 0;
}

extern "C" void amp_params_free(amp_params *p)
{
    if(!p) return;
    for(int i = 0; i < p->count && p->saved; ++i) cuda3d_free((void **)&p->saved[i]);
    cuda3d_free((void **)&p->flag_gpu);
    free(p->arr); free(p->saved); free(p->n);
    free(p);
}

extern "C" void amp_step_begin(amp_params *p)
{
    for(int i = 0; i < p->count; ++i)
        CUDA3D_CHECK(cudaMemcpyAsync(p->saved[i], p->arr[i], p->n[i] * sizeof(float), cudaMemcpyDeviceToDevice, 0));
}

__global__ void amp_check_kernel(const float *u, size_t n, int *flag)
{
    for(size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        if(!isfinite(u[i])){ *flag = 1; return; }
}

/* u = saved + (u - saved) * inv: the new gradient unscaled, the momentum kept as it was */
__global__ void amp_unscale_kernel(float *u, const float *saved, size_t n, float inv)
{
    for(size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        u[i] = saved[i] + (u[i] - saved[i]) * inv;
}

extern "C" int amp_step_finish(amp_params *p, amp_scaler *s)
{
    int i, overflow = 0;
    CUDA3D_CHECK(cudaMemset(p->flag_gpu, 0, sizeof(int)));
    for(i = 0; i < p->count; ++i){
        if(!p->n[i]) continue;   /* a grid of 0 blocks is an invalid launch */
        amp_check_kernel<<<amp_blocks(p->n[i]), AMP_BLOCK>>>(p->arr[i], p->n[i], p->flag_gpu);
        CUDA3D_CHECK_LAUNCH();
    }
    CUDA3D_CHECK(cudaMemcpy(&overflow, p->flag_gpu, sizeof(int), cudaMemcpyDeviceToHost));
    float inv = 1.f / s->scale;
    for(i = 0; i < p->count; ++i){
        if(overflow) CUDA3D_CHECK(cudaMemcpyAsync(p->arr[i], p->saved[i], p->n[i] * sizeof(float), cudaMemcpyDeviceToDevice, 0));
        else if(p->n[i]){
            amp_unscale_kernel<<<amp_blocks(p->n[i]), AMP_BLOCK>>>(p->arr[i], p->saved[i], p->n[i], inv);
            CUDA3D_CHECK_LAUNCH();
        }
    }
    return amp_scaler_step(s, overflow);
}
