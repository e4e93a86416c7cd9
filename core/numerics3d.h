/* Numerics written once for the C and the CUDA code: the overflow-free logistic sigmoid and softplus. */
#ifndef NUMERICS3D_H
#define NUMERICS3D_H
#include <math.h>

#ifdef __CUDACC__
#define NUMERICS3D_FN static __host__ __device__ __forceinline__
#else
#define NUMERICS3D_FN static inline
#endif

/* 1 / (1 + exp(-x)), never evaluating exp of a positive number: no overflow for any x (0 and 1 at the ends). */
NUMERICS3D_FN float sigmoid3d(float x) { return x >= 0 ? 1.f / (1.f + expf(-x)) : expf(x) / (1.f + expf(x)); }

/* log(1 + exp(x)), never evaluating exp of a positive number: no overflow for any x. */
NUMERICS3D_FN float softplus3d(float x) { return x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x)); }
#endif
