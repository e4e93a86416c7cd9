/* CUDA twin of the [upsample3d] layer: trilinear forward (one thread per output) and its backward (atomicAdd scatter, or a gather without atomics under -deterministic). */
#include "cuda3d.h"
extern "C" {
#include "upsample3d_layer.h"
#include "layer3d.h"
#include "trilinear.h"
}

extern "C" int darknet3d_deterministic;

/* taps: tri_tap (trilinear.h), the arithmetic of axis_taps() in upsample3d_layer.c (PyTorch's, in float) */
__device__ static inline void up3d_tap(int o, int n, float scale, int align_corners, int *i0, int *i1, float *l0, float *l1)
{
    tri_tap(o, n, scale, align_corners, i0, i1, l1);
    *l0 = 1.f - *l1;
}

__global__ void upsample3d_forward_kernel(size_t total, int d, int h, int w, int od, int oh, int ow, int ac,
                                          float s_d, float s_h, float s_w, const float *x, float *y)
{
    size_t i = (size_t)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;
    if(i >= total) return;
    int q = i % ow; size_t k = i / ow;
    int r = k % oh; k /= oh;
    int z = k % od; size_t b = k / od;
    int z0, z1, r0, r1, c0, c1;
    float lz0, lz1, lr0, lr1, a0, a1;
    up3d_tap(z, d, s_d, ac, &z0, &z1, &lz0, &lz1);
    up3d_tap(r, h, s_h, ac, &r0, &r1, &lr0, &lr1);
    up3d_tap(q, w, s_w, ac, &c0, &c1, &a0, &a1);
    const float *xb = x + b * d * h * w;
    const float *p0 = xb + (size_t)z0 * h * w, *p1 = xb + (size_t)z1 * h * w;
    r0 *= w; r1 *= w;
    y[i] = lz0 * (lr0 * (a0 * p0[r0 + c0] + a1 * p0[r0 + c1]) + lr1 * (a0 * p0[r1 + c0] + a1 * p0[r1 + c1])) +
           lz1 * (lr0 * (a0 * p1[r0 + c0] + a1 * p1[r0 + c1]) + lr1 * (a0 * p1[r1 + c0] + a1 * p1[r1 + c1]));
}

__global__ void upsample3d_backward_kernel(size_t total, int d, int h, int w, int od, int oh, int ow, int ac,
                                           float s_d, float s_h, float s_w, const float *dy, float *dx)
{
    size_t i = (size_t)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;
    if(i >= total) return;
    int q = i % ow; size_t k = i / ow;
    int r = k % oh; k /= oh;
    int z = k % od; size_t b = k / od;
    int z0, z1, r0, r1, c0, c1;
    float lz0, lz1, lr0, lr1, a0, a1;
    up3d_tap(z, d, s_d, ac, &z0, &z1, &lz0, &lz1);
    up3d_tap(r, h, s_h, ac, &r0, &r1, &lr0, &lr1);
    up3d_tap(q, w, s_w, ac, &c0, &c1, &a0, &a1);
    float *xb = dx + b * d * h * w;
    float *p0 = xb + (size_t)z0 * h * w, *p1 = xb + (size_t)z1 * h * w;
    r0 *= w; r1 *= w;
    float g = dy[i];
    float g00 = lz0 * lr0 * g, g01 = lz0 * lr1 * g, g10 = lz1 * lr0 * g, g11 = lz1 * lr1 * g;
    /* several outputs read the same input: scatter with atomics (as PyTorch's CUDA kernel does) */
    atomicAdd(p0 + r0 + c0, g00 * a0); atomicAdd(p0 + r0 + c1, g00 * a1);
    atomicAdd(p0 + r1 + c0, g01 * a0); atomicAdd(p0 + r1 + c1, g01 * a1);
    atomicAdd(p1 + r0 + c0, g10 * a0); atomicAdd(p1 + r0 + c1, g10 * a1);
    atomicAdd(p1 + r1 + c0, g11 * a0); atomicAdd(p1 + r1 + c1, g11 * a1);
}

/* -deterministic: one thread per input element sums the outputs that read it, in a fixed order */
__global__ void upsample3d_backward_gather_kernel(size_t total, int d, int h, int w, int od, int oh, int ow, int ac, const float *dy, float *dx)
{
    size_t i = (size_t)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;
    if(i >= total) return;
    int x = i % w; size_t k = i / w;
    int y = k % h; k /= h;
    int z = k % d; size_t b = k / d;
    dx[i] += tri_adjoint_at(dy + b * od * oh * ow, d, h, w, od, oh, ow, ac, z, y, x);
}

extern "C" void upsample3d_forward_gpu(int nc, int d, int h, int w, int od, int oh, int ow, int align_corners, const float *x, float *y)
{
    size_t total = (size_t)nc * od * oh * ow;
    if(!total) return;
    upsample3d_forward_kernel<<<cuda_gridsize(total), BLOCK>>>(total, d, h, w, od, oh, ow, align_corners,
        tri_scale(d, od, align_corners), tri_scale(h, oh, align_corners), tri_scale(w, ow, align_corners), x, y);
    CUDA3D_CHECK_LAUNCH();
}

extern "C" void upsample3d_backward_gpu(int nc, int d, int h, int w, int od, int oh, int ow, int align_corners, const float *dy, float *dx)
{
    size_t total = (size_t)nc * od * oh * ow;
    if(!total) return;
    if(darknet3d_deterministic){
        size_t nin = (size_t)nc * d * h * w;
        upsample3d_backward_gather_kernel<<<cuda_gridsize(nin), BLOCK>>>(nin, d, h, w, od, oh, ow, align_corners, dy, dx);
        CUDA3D_CHECK_LAUNCH();
        return;
    }
    upsample3d_backward_kernel<<<cuda_gridsize(total), BLOCK>>>(total, d, h, w, od, oh, ow, align_corners,
        tri_scale(d, od, align_corners), tri_scale(h, oh, align_corners), tri_scale(w, ow, align_corners), dy, dx);
    CUDA3D_CHECK_LAUNCH();
}

extern "C" void forward_upsample3d_layer_gpu(const layer l, network net)
{
    const upsample3d_state *st = (const upsample3d_state *)l.plugin_state;
    dims3d i = in_dims(l), o = out_dims(l);
    upsample3d_forward_gpu(l.batch * l.c, i.d, i.h, i.w, o.d, o.h, o.w, st->align_corners, net.input_gpu, l.output_gpu);
}

extern "C" void backward_upsample3d_layer_gpu(const layer l, network net)
{
    if(!net.delta_gpu) return;
    const upsample3d_state *st = (const upsample3d_state *)l.plugin_state;
    dims3d i = in_dims(l), o = out_dims(l);
    upsample3d_backward_gpu(l.batch * l.c, i.d, i.h, i.w, o.d, o.h, o.w, st->align_corners, l.delta_gpu, net.delta_gpu);
}
