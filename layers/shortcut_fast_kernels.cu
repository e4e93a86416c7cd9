/* CUDA twin of layers/shortcut_fast.c: the fused forward and backward of stock [shortcut] for equal shapes, one pass each instead of Darknet's copy + strided add + activation and gradient + axpy + strided add. */
#include "cuda3d.h"
#include "act_fused.cuh"
extern "C" {
#include "shortcut_fast.h"
#include "activations.h"
}

/* out = act(s1 * in + s2 * add), as Darknet's copy, shortcut_kernel (s1*out + s2*add) and activation; in may be out
 * (the in-place [shortcut] of src/shortcut_share.h): each element is read before it is written */
__global__ void shortcut_fast_forward_kernel(size_t n, float s1, float s2, const float *in, const float *add, float *out, int act)
{
    size_t i = (size_t)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;
    if(i >= n) return;
    float o = in[i];
    out[i] = act_fused_apply(s1 * o + s2 * add[i], act);
}

/* d *= act'(y) (kept in delta, as gradient_array_gpu does), then nd += s1 * d and fd = one * fd + s2 * d (axpy_gpu and
 * shortcut_kernel); nd and fd may be one buffer (`from` is the layer before), and the two adds stay in that order.
 * one is 1, passed at run time as Darknet passes its s1: with a literal 1 the compiler fuses s2 * d into the add, and
 * the sum would differ from Darknet's in the last bit wherever s2 * d is not exact. */
__global__ void shortcut_fast_backward_kernel(size_t n, float s1, float s2, float one, const float *y, float *delta, float *nd, float *fd, int act)
{
    size_t i = (size_t)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;
    if(i >= n) return;
    float d = delta[i];
    if(act != LINEAR){ d *= act_fused_grad(y[i], act); delta[i] = d; }
    if(nd) nd[i] += s1 * d;
    if(fd){ float f = fd[i]; fd[i] = one * f + s2 * d; }
}

extern "C" void forward_shortcut_fast_gpu(layer l, network net)
{
    size_t n = (size_t)l.outputs * l.batch;
    int act = act_fused(l.activation);
    shortcut_fast_forward_kernel<<<cuda_gridsize(n), BLOCK>>>(n, l.alpha, l.beta, net.input_gpu, net.layers[l.index].output_gpu,
                                                             l.output_gpu, act == ACT_FUSED_APART ? (int)LINEAR : act);
    CUDA3D_CHECK_LAUNCH();
    if(act == ACT_FUSED_APART) activate_array_gpu(l.output_gpu, (int)n, l.activation);
}

extern "C" void backward_shortcut_fast_gpu(layer l, network net)
{
    size_t n = (size_t)l.outputs * l.batch;
    int act = act_fused(l.activation);
    if(act == ACT_FUSED_APART){ gradient_array_gpu(l.output_gpu, (int)n, l.activation, l.delta_gpu); act = LINEAR; }
    float *nd = net.delta_gpu, *fd = net.layers[l.index].delta_gpu;
    if(!nd && !fd && act == LINEAR) return;
    shortcut_fast_backward_kernel<<<cuda_gridsize(n), BLOCK>>>(n, l.alpha, l.beta, 1.f, l.output_gpu, l.delta_gpu, nd, fd, act);
    CUDA3D_CHECK_LAUNCH();
}
