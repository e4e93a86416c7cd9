/* Device-side conversions between FP32 and the 16-bit types of precision fp16|bf16, shared by the CUDA files that store or read 16-bit values. */
#ifndef AMP_DEVICE_CUH
#define AMP_DEVICE_CUH
#include <cuda_fp16.h>
#include <cuda_bf16.h>

/* round to nearest even, as PyTorch's .half() and .bfloat16() */
template <typename T> __device__ __forceinline__ T amp_from_float(float x);
template <> __device__ __forceinline__ float amp_from_float<float>(float x) { return x; }
template <> __device__ __forceinline__ __half amp_from_float<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 amp_from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
__device__ __forceinline__ float amp_to_float(float x) { return x; }
__device__ __forceinline__ float amp_to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float amp_to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
#endif
