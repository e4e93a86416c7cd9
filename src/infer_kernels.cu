/* CUDA twin of the sliding window's host loops (src/infer.c): a window gathered from the device copy of the volume into the network's input, the heads' foreground probability, and its sum and count added into the padded volume. */
#include "cuda3d.h"
extern "C" {
#include "infer_gpu.h"
}

__global__ void sw_gather_kernel(const float *vol, sw_geom g, int z0, int y0, int x0, long n, float *dst)
{
    long e = (long)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;
    if(e < n) dst[e] = sw_gather_at(vol, g, z0, y0, x0, e);
}

__global__ void sw_prob_kernel(const float *o, long vox, long stride, int mode, int first, float scale, long n, float *prob)
{
    long i = (long)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;
    if(i >= n) return;
    float p = sw_prob_at(o, vox, stride, mode, i / vox, i % vox);
    p = first ? p : prob[i] + p;
    prob[i] = scale == 1.f ? p : p * scale;
}

/* one window's elements go to distinct voxels, so its threads never collide; windows are added one launch after
 * another, in the host's order, so every sum is made in the same order as on the host */
__global__ void sw_scatter_kernel(const float *prob, sw_geom g, int z0, int y0, int x0, long n, float *sum, float *cnt)
{
    long e = (long)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;
    if(e >= n) return;
    long j = sw_scatter_index(g, z0, y0, x0, e);
    sum[j] += prob[e];
    cnt[j] += 1.f;
}

static long sw_elements(sw_geom g) { return (long)g.patch[0] * g.patch[1] * g.patch[2]; }

extern "C" void sw_gather_gpu(const float *vol, sw_geom g, int z0, int y0, int x0, float *dst)
{
    long n = sw_elements(g);
    sw_gather_kernel<<<cuda_gridsize(n), BLOCK>>>(vol, g, z0, y0, x0, n, dst);
    CUDA3D_CHECK_LAUNCH();
}

extern "C" void sw_prob_gpu(const float *o, long vox, long stride, int mode, int batch, int first, float scale, float *prob)
{
    long n = vox * batch;
    sw_prob_kernel<<<cuda_gridsize(n), BLOCK>>>(o, vox, stride, mode, first, scale, n, prob);
    CUDA3D_CHECK_LAUNCH();
}

extern "C" void sw_scatter_gpu(const float *prob, sw_geom g, int z0, int y0, int x0, float *sum, float *cnt)
{
    long n = sw_elements(g);
    sw_scatter_kernel<<<cuda_gridsize(n), BLOCK>>>(prob, g, z0, y0, x0, n, sum, cnt);
    CUDA3D_CHECK_LAUNCH();
}
