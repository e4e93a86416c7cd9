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

/* A block's store: the 16-bit types overwrite (the scratch copies), FP32 adds when beta is 1 (the FP32 buffers) */
template <typename D> __device__ __forceinline__ void amp_store(D *p, float v, float beta) { (void)beta; *p = amp_from_float<D>(v); }
template <> __device__ __forceinline__ void amp_store<float>(float *p, float v, float beta) { *p = (beta != 0 ? *p : 0.f) + v; }

/* Transpose and convert: each of the grid's z blocks of rows x cols values of src becomes cols x rows in dst, through
 * a 32 x 33 tile in shared memory so that reads and writes both run along rows (coalesced). The tile loops stride by
 * the grid, which depends only on blockIdx, so every thread of a block reaches each __syncthreads. */
#define AMP_TILE 32
#define AMP_TILE_ROWS 8
template <typename S, typename D> __global__ void amp_transpose_kernel(const S *src, D *dst, size_t rows, size_t cols, float beta)
{
    __shared__ float tile[AMP_TILE][AMP_TILE + 1];
    size_t blk = (size_t)blockIdx.z * rows * cols;
    src += blk; dst += blk;
    for(size_t r0 = (size_t)blockIdx.y * AMP_TILE; r0 < rows; r0 += (size_t)gridDim.y * AMP_TILE)
        for(size_t c0 = (size_t)blockIdx.x * AMP_TILE; c0 < cols; c0 += (size_t)gridDim.x * AMP_TILE){
            for(int j = threadIdx.y; j < AMP_TILE; j += AMP_TILE_ROWS){
                size_t r = r0 + j, c = c0 + threadIdx.x;
                if(r < rows && c < cols) tile[j][threadIdx.x] = amp_to_float(src[r * cols + c]);
            }
            __syncthreads();
            for(int j = threadIdx.y; j < AMP_TILE; j += AMP_TILE_ROWS){
                size_t c = c0 + j, r = r0 + threadIdx.x;
                if(r < rows && c < cols) amp_store(dst + c * rows + r, tile[threadIdx.x][j], beta);
            }
            __syncthreads();
        }
}

template <typename S, typename D> static void amp_transpose(const S *src, D *dst, size_t batch, size_t rows, size_t cols, float beta)
{
    size_t gx = (cols + AMP_TILE - 1) / AMP_TILE, gy = (rows + AMP_TILE - 1) / AMP_TILE, b0;
    dim3 block(AMP_TILE, AMP_TILE_ROWS);
    for(b0 = 0; b0 < batch; b0 += 65535){   /* the grid's z and y extents are at most 65535; the tile loops cover the rest */
        size_t nb = batch - b0 < 65535 ? batch - b0 : 65535;
        dim3 grid((unsigned)(gx < (1u << 20) ? gx : (1u << 20)), (unsigned)(gy < 65535 ? gy : 65535), (unsigned)nb);
        amp_transpose_kernel<<<grid, block>>>(src + b0 * rows * cols, dst + b0 * rows * cols, rows, cols, beta);
        CUDA3D_CHECK_LAUNCH();
    }
}

extern "C" void amp_to_half_t_gpu(const float *src, void *dst, int batch, int rows, size_t cols)
{
    size_t n = (size_t)batch * rows * cols;
    if(!n) return;
    if(rows == 1 || cols == 1){ amp_to_half_gpu(src, dst, n); return; }   /* one row or column: both layouts are the same */
    if(darknet3d_precision == DARKNET3D_BF16) amp_transpose(src, (__nv_bfloat16 *)dst, batch, rows, cols, 0.f);
    else amp_transpose(src, (__half *)dst, batch, rows, cols, 0.f);
}

extern "C" void amp_from_half_t_gpu(const void *src, float *dst, int batch, size_t rows, int cols, float beta)
{
    size_t n = (size_t)batch * rows * cols;
    if(!n) return;
    if(rows == 1 || cols == 1){ amp_from_half_gpu(src, dst, n, beta); return; }
    if(darknet3d_precision == DARKNET3D_BF16) amp_transpose((const __nv_bfloat16 *)src, dst, batch, rows, cols, beta);
    else amp_transpose((const __half *)src, dst, batch, rows, cols, beta);
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
