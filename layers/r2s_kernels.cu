/* CUDA twin of the [r2s] layer: Y = sigmoid(k*x) and its backward. */
#include "cuda3d.h"
#include "numerics3d.h"
extern "C" {
#include "r2s_layer.h"
}

__global__ void r2s_forward_kernel(int n, float k, const float *x, float *y)
{
    size_t i = (size_t)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;   /* cuda_gridsize: 2-D past 65535 blocks */
    if(i >= (size_t)n) return;
    y[i] = sigmoid3d(k * x[i]);
}

__global__ void r2s_backward_kernel(int n, float k, const float *y, const float *dy, float *dx)
{
    size_t i = (size_t)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;   /* cuda_gridsize: 2-D past 65535 blocks */
    if(i >= (size_t)n) return;
    dx[i] += k * y[i] * (1.f - y[i]) * dy[i];
}

__global__ void r2s_tanh_forward_kernel(int n, float k, const float *x, float *y)
{
    size_t i = (size_t)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;   /* cuda_gridsize: 2-D past 65535 blocks */
    if(i >= (size_t)n) return;
    y[i] = sigmoid3d(k * tanhf(x[i]));
}

__global__ void r2s_tanh_backward_kernel(int n, float k, const float *x, const float *y, const float *dy, float *dx)
{
    size_t i = (size_t)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;   /* cuda_gridsize: 2-D past 65535 blocks */
    if(i >= (size_t)n) return;
    float t = tanhf(x[i]);
    dx[i] += k * y[i] * (1.f - y[i]) * dy[i] * (1.f - t * t);
}

extern "C" void r2s_tanh_forward_gpu(int n, float k, const float *x, float *y)
{
    r2s_tanh_forward_kernel<<<cuda_gridsize(n), BLOCK>>>(n, k, x, y);
    CUDA3D_CHECK_LAUNCH();
}

extern "C" void r2s_tanh_backward_gpu(int n, float k, const float *x, const float *y, const float *dy, float *dx)
{
    r2s_tanh_backward_kernel<<<cuda_gridsize(n), BLOCK>>>(n, k, x, y, dy, dx);
    CUDA3D_CHECK_LAUNCH();
}

extern "C" void r2s_forward_gpu(int n, float k, const float *x, float *y)
{
    r2s_forward_kernel<<<cuda_gridsize(n), BLOCK>>>(n, k, x, y);
    CUDA3D_CHECK_LAUNCH();
}

extern "C" void r2s_backward_gpu(int n, float k, const float *y, const float *dy, float *dx)
{
    r2s_backward_kernel<<<cuda_gridsize(n), BLOCK>>>(n, k, y, dy, dx);
    CUDA3D_CHECK_LAUNCH();
}

extern "C" void forward_r2s_layer_gpu(const layer l, network net)
{
    if(l.activation == TANH) r2s_tanh_forward_gpu(l.batch * l.outputs, l.alpha, net.input_gpu, l.output_gpu);
    else r2s_forward_gpu(l.batch * l.outputs, l.alpha, net.input_gpu, l.output_gpu);
}

extern "C" void backward_r2s_layer_gpu(const layer l, network net)
{
    if(!net.delta_gpu) return;
    if(l.activation == TANH) r2s_tanh_backward_gpu(l.batch * l.outputs, l.alpha, net.input_gpu, l.output_gpu, l.delta_gpu, net.delta_gpu);
    else r2s_backward_gpu(l.batch * l.outputs, l.alpha, l.output_gpu, l.delta_gpu, net.delta_gpu);
}
