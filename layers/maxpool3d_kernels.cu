/* CUDA twin of the [maxpool3d] layer: max and argmax per output (one thread each), and the argmax scatter backward. */
#include "cuda3d.h"
extern "C" {
#include "maxpool3d_layer.h"
#include "layer3d.h"
}

__global__ void maxpool3d_forward_kernel(size_t total, int d, int h, int w, int od, int oh, int ow, maxpool3d_state p,
                                         const float *x, float *y, int *indexes)
{
    size_t i = (size_t)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;
    if(i >= total) return;
    int q = i % ow; size_t k = i / ow;
    int r = k % oh; k /= oh;
    int z = k % od; size_t b = k / od;
    int z0 = z * p.sd - p.pd, z1 = z0 + p.kd;
    int r0 = r * p.sh - p.ph, r1 = r0 + p.kh;
    int q0 = q * p.sw - p.pw, q1 = q0 + p.kw;
    if(z0 < 0) z0 = 0;
    if(r0 < 0) r0 = 0;
    if(q0 < 0) q0 = 0;
    if(z1 > d) z1 = d;
    if(r1 > h) r1 = h;
    if(q1 > w) q1 = w;
    const float *xb = x + b * d * h * w;
    /* same scan order and tie/NaN rule as the CPU reference */
    size_t best = ((size_t)z0 * h + r0) * w + q0;
    float m = -INFINITY;
    for(int zz = z0; zz < z1; ++zz) for(int rr = r0; rr < r1; ++rr) for(int qq = q0; qq < q1; ++qq){
        size_t j = ((size_t)zz * h + rr) * w + qq;
        float v = xb[j];
        if(v > m || isnan(v)){ m = v; best = j; }
    }
    y[i] = m;
    indexes[i] = (int)(b * d * h * w + best);
}

__global__ void maxpool3d_backward_kernel(size_t total, const int *indexes, const float *dy, float *dx)
{
    size_t i = (size_t)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;
    if(i >= total) return;
    atomicAdd(dx + indexes[i], dy[i]); /* overlapping windows can share an argmax */
}

extern "C" void forward_maxpool3d_layer_gpu(const layer l, network net)
{
    const maxpool3d_state *p = (const maxpool3d_state *)l.plugin_state;
    dims3d i = in_dims(l), o = out_dims(l);
    size_t total = (size_t)l.batch * l.outputs;
    if(!total) return;
    maxpool3d_forward_kernel<<<cuda_gridsize(total), BLOCK>>>(total, i.d, i.h, i.w, o.d, o.h, o.w, *p,
                                                              net.input_gpu, l.output_gpu, l.indexes_gpu);
    CUDA3D_CHECK_LAUNCH();
}

extern "C" void backward_maxpool3d_layer_gpu(const layer l, network net)
{
    if(!net.delta_gpu) return;
    size_t total = (size_t)l.batch * l.outputs;
    if(!total) return;
    maxpool3d_backward_kernel<<<cuda_gridsize(total), BLOCK>>>(total, l.indexes_gpu, l.delta_gpu, net.delta_gpu);
    CUDA3D_CHECK_LAUNCH();
}
