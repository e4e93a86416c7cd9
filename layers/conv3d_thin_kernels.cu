/* CUDA direct kernels for thin [conv3d] and [deconv3d] layers (the rule of layers/conv3d_thin.h: heads, first layers, 16-filter layers and the 2x2x2 down- and up-sampling at full resolution), which cuDNN runs far from the hardware's rates; c3_choose_algos takes them where they measure faster than cuDNN's choice. */
#include "cuda3d.h"
extern "C" {
#include "conv3d_layer.h"
}

extern "C" { int c3_thin_gpu_mode = 1; }

extern "C" int c3_thin_applies(const layer *l)
{
    const conv3d_state *st = c3_state(*l);
    if(!st) return 0;
    thin3d_geom t = c3_thin_geom(*l);
    return thin3d_applies(&t, st->g.kd, st->g.kh, st->g.kw, st->g.sd, st->g.sh, st->g.sw);
}

/* blocks of a grid-stride loop over nvox voxels: at most 1024, a few waves of a large GPU, since each block first
 * builds the weight layout in shared memory (up to 13824 values, each with its index arithmetic) */
static int thin3d_blocks(long nvox)
{
    long b = (nvox + THIN3D_THREADS - 1) / THIN3D_THREADS;
    return b < 1 ? 1 : b > 1024 ? 1024 : (int)b;
}

/* y for the OCB filters of blockIdx.y, every output voxel; the weights first into shared memory in the forward's
 * layout (thin3d_wf_at), 16-byte aligned for the vector loads */
template <int K, int S, int OCB>
__global__ void thin_forward_kernel(thin3d_geom g, const float *x, const float *w, float *y, long nvox, int add)
{
    extern __shared__ float4 sh4[];
    float *wsh = (float *)sh4;
    int nw = (int)thin3d_wf_size(&g);
    for(int i = threadIdx.x; i < nw; i += blockDim.x) wsh[i] = thin3d_layout_value(&g, 1, w, i);
    __syncthreads();
    float acc[OCB];
    for(long j = blockIdx.x * (long)blockDim.x + threadIdx.x; j < nvox; j += (long)gridDim.x * blockDim.x)
        thin3d_forward_at(&g, K, S, OCB, x, wsh, y, j, blockIdx.y * OCB, add, acc);
}

/* dx += the data gradient for the ICB channels of blockIdx.y, every image voxel; the weights in the data gradient's
 * layout (thin3d_wd_at) */
template <int K, int S, int ICB>
__global__ void thin_dgrad_kernel(thin3d_geom g, const float *dy, const float *w, float *dx, long nvox, int add)
{
    extern __shared__ float4 sh4[];
    float *wsh = (float *)sh4;
    int nw = (int)thin3d_wd_size(&g);
    for(int i = threadIdx.x; i < nw; i += blockDim.x) wsh[i] = thin3d_layout_value(&g, 0, w, i);
    __syncthreads();
    float acc[ICB];
    for(long j = blockIdx.x * (long)blockDim.x + threadIdx.x; j < nvox; j += (long)gridDim.x * blockDim.x)
        thin3d_dgrad_at(&g, K, S, ICB, dy, wsh, dx, j, blockIdx.y * ICB, add, acc);
}

/* The weight gradient of filter block ob = blockIdx.y / c (THIN3D_WG_OB filters from ob * THIN3D_WG_OB) and channel
 * blockIdx.y % c over this block's share of the output voxels: each thread's sums, then the warps' (shuffles), then
 * the block's in warp order, to part[(weight index) * chunks + block] for the filters below oc. Fixed orders
 * throughout, so the same bits in every run. */
template <int K, int S>
__global__ void thin_wgrad_kernel(thin3d_geom g, const float *x, const float *dy, long nvox, float *part)
{
    const int T = K * K * K, R = THIN3D_WG_OB * T;
    __shared__ float red[R][THIN3D_THREADS / 32];
    int p = blockIdx.y, ob = p / g.c, c = p - ob * g.c, o0 = ob * THIN3D_WG_OB;
    float acc[R];
#pragma unroll
    for(int r = 0; r < R; ++r) acc[r] = 0.f;
    for(long j = blockIdx.x * (long)blockDim.x + threadIdx.x; j < nvox; j += (long)gridDim.x * blockDim.x)
        thin3d_wgrad_at(&g, K, S, x, dy, o0, c, j, acc);
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

/* While c3_thin_time measures (thin_timing), a refused opt-in or launch is recorded in thin_failed and the layer
 * keeps cuDNN; while the network runs, it is fatal (core/cuda3d.h). */
static int thin_timing, thin_failed;
static void thin_check(cudaError_t e)
{
    if(!thin_timing) CUDA3D_CHECK(e);
    else if(e != cudaSuccess){ thin_failed = 1; (void)cudaGetLastError(); }
}
#define THIN_CHECK_LAUNCH() thin_check(cudaPeekAtLastError())

/* weights over 48 KiB of shared memory need the kernel's opt-in (up to THIN3D_MAX_WEIGHTS floats: 64 KiB) */
template <typename F> static void shared_opt_in(F kernel, size_t bytes)
{
    if(bytes > 48 * 1024) thin_check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
}

template <int K, int S>
static void thin_forward(const thin3d_geom &g, const float *x, const float *w, float *y, int add)
{
    long n = out_voxels(&g);
    size_t sh = (size_t)thin3d_wf_size(&g) * sizeof(float);
    if(g.oc <= 4){
        shared_opt_in(thin_forward_kernel<K, S, 4>, sh);
        thin_forward_kernel<K, S, 4><<<dim3(thin3d_blocks(n), 1), THIN3D_THREADS, sh>>>(g, x, w, y, n, add);
    } else {
        shared_opt_in(thin_forward_kernel<K, S, 16>, sh);
        thin_forward_kernel<K, S, 16><<<dim3(thin3d_blocks(n), thin3d_padded(g.oc) / 16), THIN3D_THREADS, sh>>>(g, x, w, y, n, add);
    }
    THIN_CHECK_LAUNCH();
}

template <int K, int S>
static void thin_dgrad(const thin3d_geom &g, const float *dy, const float *w, float *dx, int add)
{
    long n = in_voxels(&g);
    size_t sh = (size_t)thin3d_wd_size(&g) * sizeof(float);
    if(g.c <= 4){
        shared_opt_in(thin_dgrad_kernel<K, S, 4>, sh);
        thin_dgrad_kernel<K, S, 4><<<dim3(thin3d_blocks(n), 1), THIN3D_THREADS, sh>>>(g, dy, w, dx, n, add);
    } else {
        shared_opt_in(thin_dgrad_kernel<K, S, 16>, sh);
        thin_dgrad_kernel<K, S, 16><<<dim3(thin3d_blocks(n), thin3d_padded(g.c) / 16), THIN3D_THREADS, sh>>>(g, dy, w, dx, n, add);
    }
    THIN_CHECK_LAUNCH();
}

template <int K, int S>
static void thin_wgrad(const thin3d_geom &g, const float *x, const float *dy, float *part, float *dw)
{
    long n = out_voxels(&g);
    int chunks = thin3d_wgrad_chunks(n), nw = g.oc * g.c * K * K * K;
    thin_wgrad_kernel<K, S><<<dim3(chunks, (g.oc + THIN3D_WG_OB - 1) / THIN3D_WG_OB * g.c), THIN3D_THREADS>>>(g, x, dy, n, part);
    THIN_CHECK_LAUNCH();
    thin_wgrad_finish_kernel<<<(nw + 255) / 256, 256>>>(part, chunks, nw, dw);
    THIN_CHECK_LAUNCH();
}

/* the three geometries of the rule: 1x1x1 and 3x3x3 at stride 1, 2x2x2 at stride 2 */
static void run_forward(const thin3d_geom &g, const float *x, const float *w, float *y, int add)
{
    if(g.k == 1) thin_forward<1, 1>(g, x, w, y, add); else if(g.k == 2) thin_forward<2, 2>(g, x, w, y, add); else thin_forward<3, 1>(g, x, w, y, add);
}
static void run_dgrad(const thin3d_geom &g, const float *dy, const float *w, float *dx, int add)
{
    if(g.k == 1) thin_dgrad<1, 1>(g, dy, w, dx, add); else if(g.k == 2) thin_dgrad<2, 2>(g, dy, w, dx, add); else thin_dgrad<3, 1>(g, dy, w, dx, add);
}
static void run_wgrad(const thin3d_geom &g, const float *x, const float *dy, float *part, float *dw)
{
    if(g.k == 1) thin_wgrad<1, 1>(g, x, dy, part, dw); else if(g.k == 2) thin_wgrad<2, 2>(g, x, dy, part, dw); else thin_wgrad<3, 1>(g, x, dy, part, dw);
}

/* A layer's passes in the convolution's terms (x the image, y the positions): [conv3d] forward y = conv(x), backward
 * dW from (x, dy) and dx += adjoint(dy); [deconv3d] forward x = adjoint(y), backward dW from (dx, y) and dy += conv(dx).
 * in/out are the layer's input and output (or their gradients). */
static void pass_forward(const thin3d_geom &g, int transposed, const float *w, const float *in, float *out)
{
    if(!transposed) run_forward(g, in, w, out, 0); else run_dgrad(g, in, w, out, 0);
}
static void pass_backward(const thin3d_geom &g, int transposed, const float *w, const float *in, const float *dout, float *din,
                          float *part, float *dw)
{
    if(!transposed){
        if(dw) run_wgrad(g, in, dout, part, dw);
        if(din) run_dgrad(g, dout, w, din, 1);
    } else {
        if(dw) run_wgrad(g, dout, in, part, dw);
        if(din) run_forward(g, dout, w, din, 1);
    }
}

extern "C" size_t c3_thin_workspace_bytes(const layer *l)
{
    thin3d_geom g = c3_thin_geom(*l);
    return (size_t)thin3d_wgrad_chunks(out_voxels(&g)) * weight_bytes(&g);
}

/* l.output = the layer's linear part on net.input (before batch norm and activation), at every precision in FP32 */
extern "C" void c3_thin_forward_gpu(layer l, network net)
{
    thin3d_geom g = c3_thin_geom(l);
    pass_forward(g, c3_state(l)->transposed, l.weights_gpu, net.input_gpu, l.output_gpu);
}

/* l.weight_updates += dW and, when net.delta_gpu, net.delta += the input's gradient, from l.delta (already through
 * the activation and batch norm); the block sums of dW in net.workspace */
extern "C" void c3_thin_backward_gpu(layer l, network net)
{
    thin3d_geom g = c3_thin_geom(l);
    pass_backward(g, c3_state(l)->transposed, l.weights_gpu, net.input_gpu, l.delta_gpu, net.delta_gpu, net.workspace, l.weight_updates_gpu);
}

/* Milliseconds of the layer's forward pass (when fwd) and of its backward pass with the operations asked for (the
 * input's gradient, the weight gradient), each the mean of 3 runs after one unmeasured run, on zeroed scratch buffers
 * of the layer's sizes; -1 when the device has no memory for them or refuses a launch. */
extern "C" int c3_thin_time(const layer *l, int fwd, int bwd_data, int bwd_weights, double *fw_ms, double *bwd_ms)
{
    thin3d_geom g = c3_thin_geom(*l);
    int tr = c3_state(*l)->transposed;
    size_t nx = (size_t)in_voxels(&g) * g.c * sizeof(float), ny = (size_t)out_voxels(&g) * g.oc * sizeof(float);
    float *x = 0, *y = 0, *w = 0, *dw = 0, *part = 0;
    cudaEvent_t ev[4] = {0, 0, 0, 0};   /* forward start and end, backward start and end */
    int ok = -1, e, have_ev = 1;
    *fw_ms = *bwd_ms = 0;
    for(e = 0; e < 4; ++e) have_ev = have_ev && cudaEventCreate(&ev[e]) == cudaSuccess;
    if(have_ev && cudaMalloc(&x, nx) == cudaSuccess && cudaMalloc(&y, ny) == cudaSuccess && cudaMalloc(&w, weight_bytes(&g)) == cudaSuccess &&
       cudaMalloc(&dw, weight_bytes(&g)) == cudaSuccess && cudaMalloc(&part, c3_thin_workspace_bytes(l)) == cudaSuccess &&
       cudaMemset(x, 0, nx) == cudaSuccess && cudaMemset(y, 0, ny) == cudaSuccess && cudaMemset(w, 0, weight_bytes(&g)) == cudaSuccess &&
       cudaMemset(dw, 0, weight_bytes(&g)) == cudaSuccess){
        float *in = tr ? y : x, *out = tr ? x : y, *din = bwd_data ? in : 0, *gw = bwd_weights ? dw : 0, t1 = 0, t2 = 0;
        int r;
        thin_timing = 1;
        thin_failed = 0;
        if(fwd) pass_forward(g, tr, w, in, out);   /* unmeasured first runs */
        pass_backward(g, tr, w, in, out, din, part, gw);
        cudaEventRecord(ev[0]);
        for(r = 0; fwd && r < 3; ++r) pass_forward(g, tr, w, in, out);
        cudaEventRecord(ev[1]);
        cudaEventRecord(ev[2]);
        for(r = 0; r < 3; ++r) pass_backward(g, tr, w, in, out, din, part, gw);
        cudaEventRecord(ev[3]);
        thin_timing = 0;
        if(!thin_failed && cudaEventSynchronize(ev[3]) == cudaSuccess && cudaEventElapsedTime(&t1, ev[0], ev[1]) == cudaSuccess &&
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
