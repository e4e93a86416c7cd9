/* CUDA direct kernels for thin [conv3d] layers (the rule of layers/conv3d_thin.h: 1x1x1 heads with few filters, layers with few input channels), which cuDNN runs far from the memory bandwidth; c3_choose_algos takes them when they measure faster than cuDNN's best. */
#include "cuda3d.h"
extern "C" {
#include "conv3d_layer.h"
}
#include "conv3d_thin.h"

extern "C" { int c3_thin_gpu_mode = 1; }

static thin3d_geom thin3d_of(const layer *l)
{
    const geom3d *g = &c3_state(*l)->g;
    thin3d_geom t = {l->batch, g->c, l->out_c, g->d, g->h, g->w, g->od, g->oh, g->ow, g->kd, g->pd, g->ph, g->pw};
    return t;
}

extern "C" int c3_thin_applies(const layer *l)
{
    const conv3d_state *st = c3_state(*l);
    if(!st || st->transposed) return 0;
    thin3d_geom t = thin3d_of(l);
    return thin3d_applies(&t, st->g.kd, st->g.kh, st->g.kw, st->g.sd, st->g.sh, st->g.sw);
}

/* blocks of a grid-stride loop over nvox voxels: at most 4096 (each block first copies the weights to shared memory) */
static int thin3d_blocks(long nvox)
{
    long b = (nvox + THIN3D_THREADS - 1) / THIN3D_THREADS;
    return b < 1 ? 1 : b > 4096 ? 4096 : (int)b;
}

/* y for the OCB filters of blockIdx.y, every output voxel; the weights first into shared memory in the forward's
 * layout (thin3d_wf_at), 16-byte aligned for the vector loads */
template <int K, int OCB>
__global__ void thin_forward_kernel(thin3d_geom g, const float *x, const float *w, float *y, long nvox)
{
    extern __shared__ float4 sh4[];
    float *wsh = (float *)sh4;
    long nw = thin3d_wf_size(&g);
    for(long i = threadIdx.x; i < nw; i += blockDim.x) wsh[i] = thin3d_layout_value(&g, 1, w, i);
    __syncthreads();
    float acc[OCB];
    for(long j = blockIdx.x * (long)blockDim.x + threadIdx.x; j < nvox; j += (long)gridDim.x * blockDim.x)
        thin3d_forward_at(&g, K, OCB, x, wsh, y, j, blockIdx.y * OCB, acc);
}

/* dx += the data gradient for the ICB channels of blockIdx.y, every image voxel; the weights in the data gradient's
 * layout (thin3d_wd_at) */
template <int K, int ICB>
__global__ void thin_dgrad_kernel(thin3d_geom g, const float *dy, const float *w, float *dx, long nvox)
{
    extern __shared__ float4 sh4[];
    float *wsh = (float *)sh4;
    long nw = thin3d_wd_size(&g);
    for(long i = threadIdx.x; i < nw; i += blockDim.x) wsh[i] = thin3d_layout_value(&g, 0, w, i);
    __syncthreads();
    float acc[ICB];
    for(long j = blockIdx.x * (long)blockDim.x + threadIdx.x; j < nvox; j += (long)gridDim.x * blockDim.x)
        thin3d_dgrad_at(&g, K, ICB, dy, wsh, dx, j, blockIdx.y * ICB, acc);
}

/* The weight gradient of filter block ob = blockIdx.y / c (THIN3D_WG_OB filters from ob * THIN3D_WG_OB) and channel
 * blockIdx.y % c over this block's share of the output voxels: each thread's sums, then the warps' (shuffles), then
 * the block's in warp order, to part[(weight index) * chunks + block] for the filters below oc. Fixed orders
 * throughout, so the same bits in every run. */
template <int K>
__global__ void thin_wgrad_kernel(thin3d_geom g, const float *x, const float *dy, long nvox, float *part)
{
    const int T = K * K * K, R = THIN3D_WG_OB * T;
    __shared__ float red[R][THIN3D_THREADS / 32];
    int p = blockIdx.y, ob = p / g.c, c = p - ob * g.c, o0 = ob * THIN3D_WG_OB;
    float acc[R];
#pragma unroll
    for(int r = 0; r < R; ++r) acc[r] = 0.f;
    for(long j = blockIdx.x * (long)blockDim.x + threadIdx.x; j < nvox; j += (long)gridDim.x * blockDim.x)
        thin3d_wgrad_at(&g, K, x, dy, o0, c, j, acc);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for(int r = 0; r < R; ++r){
        float v = acc[r];
        for(int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
        if(lane == 0) red[r][warp] = v;
    }
    __syncthreads();
    for(int r = threadIdx.x; r < R; r += blockDim.x){
        int b = r / T, t = r - b * T;
        if(o0 + b >= g.oc) continue;
        float sum = 0.f;
        for(int i = 0; i < THIN3D_THREADS / 32; ++i) sum += red[r][i];
        part[(((long)(o0 + b) * g.c + c) * T + t) * gridDim.x + blockIdx.x] = sum;
    }
}

/* dw[q] += the chunks' sums of weight q, in chunk order */
__global__ void thin_wgrad_finish_kernel(const float *part, int chunks, int nw, float *dw)
{
    int q = blockIdx.x * blockDim.x + threadIdx.x;
    if(q >= nw) return;
    double s = 0;
    for(int i = 0; i < chunks; ++i) s += part[(long)q * chunks + i];
    dw[q] += (float)s;
}

static long out_voxels(const thin3d_geom *g) { return (long)g->n * g->od * g->oh * g->ow; }
static long in_voxels(const thin3d_geom *g) { return (long)g->n * g->d * g->h * g->w; }
static size_t weight_bytes(const thin3d_geom *g) { return (size_t)g->oc * g->c * g->k * g->k * g->k * sizeof(float); }

/* weights over 48 KiB of shared memory need the kernel's opt-in (up to THIN3D_MAX_WEIGHTS floats: 64 KiB) */
template <typename F> static void shared_opt_in(F kernel, size_t bytes)
{
    if(bytes > 48 * 1024) CUDA3D_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
}

template <int K>
static void thin_forward(const thin3d_geom &g, const float *x, const float *w, float *y)
{
    long n = out_voxels(&g);
    size_t sh = (size_t)thin3d_wf_size(&g) * sizeof(float);
    if(g.oc <= 4){
        shared_opt_in(thin_forward_kernel<K, 4>, sh);
        thin_forward_kernel<K, 4><<<dim3(thin3d_blocks(n), 1), THIN3D_THREADS, sh>>>(g, x, w, y, n);
    } else {
        shared_opt_in(thin_forward_kernel<K, 16>, sh);
        thin_forward_kernel<K, 16><<<dim3(thin3d_blocks(n), thin3d_padded(g.oc) / 16), THIN3D_THREADS, sh>>>(g, x, w, y, n);
    }
    CUDA3D_CHECK_LAUNCH();
}

template <int K>
static void thin_dgrad(const thin3d_geom &g, const float *dy, const float *w, float *dx)
{
    long n = in_voxels(&g);
    size_t sh = (size_t)thin3d_wd_size(&g) * sizeof(float);
    if(g.c <= 4){
        shared_opt_in(thin_dgrad_kernel<K, 4>, sh);
        thin_dgrad_kernel<K, 4><<<dim3(thin3d_blocks(n), 1), THIN3D_THREADS, sh>>>(g, dy, w, dx, n);
    } else {
        shared_opt_in(thin_dgrad_kernel<K, 16>, sh);
        thin_dgrad_kernel<K, 16><<<dim3(thin3d_blocks(n), thin3d_padded(g.c) / 16), THIN3D_THREADS, sh>>>(g, dy, w, dx, n);
    }
    CUDA3D_CHECK_LAUNCH();
}

template <int K>
static void thin_wgrad(const thin3d_geom &g, const float *x, const float *dy, float *part, float *dw)
{
    long n = out_voxels(&g);
    int chunks = thin3d_wgrad_chunks(n), nw = g.oc * g.c * K * K * K;
    thin_wgrad_kernel<K><<<dim3(chunks, (g.oc + THIN3D_WG_OB - 1) / THIN3D_WG_OB * g.c), THIN3D_THREADS>>>(g, x, dy, n, part);
    CUDA3D_CHECK_LAUNCH();
    thin_wgrad_finish_kernel<<<(nw + 255) / 256, 256>>>(part, chunks, nw, dw);
    CUDA3D_CHECK_LAUNCH();
}

static void run_forward(const thin3d_geom &g, const float *x, const float *w, float *y)
{
    if(g.k == 1) thin_forward<1>(g, x, w, y); else thin_forward<3>(g, x, w, y);
}
static void run_dgrad(const thin3d_geom &g, const float *dy, const float *w, float *dx)
{
    if(g.k == 1) thin_dgrad<1>(g, dy, w, dx); else thin_dgrad<3>(g, dy, w, dx);
}
static void run_wgrad(const thin3d_geom &g, const float *x, const float *dy, float *part, float *dw)
{
    if(g.k == 1) thin_wgrad<1>(g, x, dy, part, dw); else thin_wgrad<3>(g, x, dy, part, dw);
}

extern "C" size_t c3_thin_workspace_bytes(const layer *l)
{
    thin3d_geom g = thin3d_of(l);
    return (size_t)thin3d_wgrad_chunks(out_voxels(&g)) * weight_bytes(&g);
}

/* l.output = the convolution of net.input (before batch norm and activation), at every precision in FP32 */
extern "C" void c3_thin_forward_gpu(layer l, network net)
{
    thin3d_geom g = thin3d_of(&l);
    run_forward(g, net.input_gpu, l.weights_gpu, l.output_gpu);
}

/* l.weight_updates += dW and, when net.delta_gpu, net.delta += dX, from l.delta (already through the activation and
 * batch norm); the block sums of dW in net.workspace */
extern "C" void c3_thin_backward_gpu(layer l, network net)
{
    thin3d_geom g = thin3d_of(&l);
    run_wgrad(g, net.input_gpu, l.delta_gpu, net.workspace, l.weight_updates_gpu);
    if(net.delta_gpu) run_dgrad(g, l.delta_gpu, l.weights_gpu, net.delta_gpu);
}

/* Milliseconds of the forward (when fw) and of the backward's operations asked for (data and weight gradient), each
 * the mean of 3 runs after one unmeasured run, on scratch buffers of the layer's sizes; -1 when the device has no
 * memory for them. */
extern "C" int c3_thin_time(const layer *l, int fw, int bd, int bf, double *fw_ms, double *bwd_ms)
{
    thin3d_geom g = thin3d_of(l);
    size_t nx = (size_t)in_voxels(&g) * g.c * sizeof(float), ny = (size_t)out_voxels(&g) * g.oc * sizeof(float);
    float *x = 0, *y = 0, *w = 0, *dw = 0, *part = 0;
    cudaEvent_t ev[4] = {0, 0, 0, 0};   /* forward start and end, backward start and end */
    int ok = -1, e;
    *fw_ms = *bwd_ms = 0;
    int have_ev = 1;
    for(e = 0; e < 4; ++e) have_ev = have_ev && cudaEventCreate(&ev[e]) == cudaSuccess;
    if(have_ev && cudaMalloc(&x, nx) == cudaSuccess && cudaMalloc(&y, ny) == cudaSuccess && cudaMalloc(&w, weight_bytes(&g)) == cudaSuccess &&
       cudaMalloc(&dw, weight_bytes(&g)) == cudaSuccess && cudaMalloc(&part, c3_thin_workspace_bytes(l)) == cudaSuccess &&
       cudaMemset(x, 0, nx) == cudaSuccess && cudaMemset(y, 0, ny) == cudaSuccess && cudaMemset(w, 0, weight_bytes(&g)) == cudaSuccess &&
       cudaMemset(dw, 0, weight_bytes(&g)) == cudaSuccess){
        float t1 = 0, t2 = 0;
        int r;
        if(fw) run_forward(g, x, w, y);   /* unmeasured first runs */
        if(bf) run_wgrad(g, x, y, part, dw);
        if(bd) run_dgrad(g, y, w, x);
        cudaEventRecord(ev[0]);
        for(r = 0; fw && r < 3; ++r) run_forward(g, x, w, y);
        cudaEventRecord(ev[1]);
        cudaEventRecord(ev[2]);
        for(r = 0; r < 3; ++r){
            if(bf) run_wgrad(g, x, y, part, dw);
            if(bd) run_dgrad(g, y, w, x);
        }
        cudaEventRecord(ev[3]);
        if(cudaEventSynchronize(ev[3]) == cudaSuccess && cudaEventElapsedTime(&t1, ev[0], ev[1]) == cudaSuccess &&
           cudaEventElapsedTime(&t2, ev[2], ev[3]) == cudaSuccess){
            *fw_ms = t1 / 3.0; *bwd_ms = t2 / 3.0;
            ok = 0;
        }
    }
    for(e = 0; e < 4; ++e) if(ev[e]) cudaEventDestroy(ev[e]);
    cudaFree(x); cudaFree(y); cudaFree(w); cudaFree(dw); cudaFree(part);
    (void)cudaGetLastError();
    return ok;
}
