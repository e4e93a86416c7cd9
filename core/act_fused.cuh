/* The activations our CUDA kernels apply inside a pass that writes a layer's output (and their gradients), with Darknet's own formulas (activation_kernels.cu), so every value is the bits activate_array_gpu/gradient_array_gpu would give. */
#ifndef ACT_FUSED_CUH
#define ACT_FUSED_CUH
#include "darknet.h"

/* ACT_FUSED_APART: an activation the kernels leave to Darknet's own pass afterwards */
#define ACT_FUSED_APART (-1)
static inline int act_fused(ACTIVATION a) { return a == LINEAR || a == RELU || a == LEAKY ? (int)a : ACT_FUSED_APART; }

/* a from act_fused; ACT_FUSED_APART and LINEAR return x */
__device__ __forceinline__ float act_fused_apply(float x, int a)
{
    if(a == RELU) return x * (x > 0);
    if(a == LEAKY) return (x > 0) ? x : .1f * x;
    return x;
}

/* the derivative at the activated output y */
__device__ __forceinline__ float act_fused_grad(float y, int a)
{
    if(a == RELU) return (y > 0);
    if(a == LEAKY) return (y > 0) ? 1 : .1f;
    return 1;
}
#endif
