/* Numerics written once for the C and the CUDA code: the overflow-free logistic sigmoid and softplus. */
#ifndef NUMERICS3D_H
#define NUMERICS3D_H
#include <math.h>

#ifdef __CUDACC__
#define NUMERICS3D_FN static __host__ __device__ __forceinline__
#else
#define NUMERICS3D_FN static inline
#endif

/* Below -104, expf underflows to +0 in float (exp(-104) < 2^-150, half the smallest subnormal), so the functions
 * below return what the formula gives there without calling expf: glibc's underflow path sets errno and is several
 * times slower, and the r2s transforms (k = -1500) take it for most voxels. */
#define NUMERICS3D_EXP_ZERO (-104.f)

/* 1 / (1 + exp(-x)), never evaluating exp of a positive number: no overflow for any x (0 and 1 at the ends). */
NUMERICS3D_FN float sigmoid3d(float x)
{
    if(x < NUMERICS3D_EXP_ZERO) return 0.f;
    if(x > -NUMERICS3D_EXP_ZERO) return 1.f;
    return x >= 0 ? 1.f / (1.f + expf(-x)) : expf(x) / (1.f + expf(x));
}

/* log(1 + exp(x)), never evaluating exp of a positive number: no overflow for any x. */
NUMERICS3D_FN float softplus3d(float x)
{
    if(x < NUMERICS3D_EXP_ZERO) return 0.f;
    if(x > -NUMERICS3D_EXP_ZERO) return x;
    return x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x));
}
#endif
