/* Prologue for darknet3d .cu files (CUDA/cuDNN headers with C++ linkage, then Darknet's C headers) and, for .c and .cu files alike, the one GPU error policy (docs/design.md, "GPU errors"). */
#ifndef CUDA3D_H
#define CUDA3D_H
#ifdef __cplusplus
#include "cuda_runtime.h"
#include "curand.h"
#include "cublas_v2.h"
#ifdef CUDNN
#include "cudnn.h"
#endif
extern "C" {
#endif
#include <stddef.h>
#include "darknet.h"
#include "cuda.h"
#include "blas.h"

#ifdef GPU
/* The policy. Every CUDA and cuDNN call of ours goes through one of these macros, which name the call's file:line.
 *  - Fatal (CUDA3D_CHECK, CUDNN3D_CHECK, CUDA3D_CHECK_LAUNCH): a failure while the network runs (a kernel launch,
 *    a copy, a cuDNN call in forward/backward/update, a sticky error). Prints "darknet3d: GPU error at file:line:
 *    call: error string" and aborts, as Darknet's check_error does: the device state is unknown, so no result of the
 *    run can be trusted.
 *  - Recoverable (CUDA3D_TRY, CUDNN3D_TRY, cuda3d_make_array, cuda3d_malloc): a failure while a layer is made or
 *    resized (device memory, cuDNN descriptors). Returns -1 and records "file:line: call: error string" for
 *    cuda3d_take_error; the make_/resize_ function fails and the cfg parse error names the section and that text. */
void cuda3d_fatal(const char *call, const char *msg, const char *file, int line);
int cuda3d_fail(const char *call, const char *msg, const char *file, int line);
/* Copies the last recoverable failure into buf and clears it; 0 when there was none. */
int cuda3d_take_error(char *buf, size_t n);

#define CUDA3D_CHECK(call) do { cudaError_t e3d_ = (call); \
    if(e3d_ != cudaSuccess) cuda3d_fatal(#call, cudaGetErrorString(e3d_), __FILE__, __LINE__); } while(0)
/* after a kernel launch */
#define CUDA3D_CHECK_LAUNCH() CUDA3D_CHECK(cudaPeekAtLastError())
/* 0, or -1 with the failure recorded; a non-sticky error is cleared so that later calls do not see it */
#define CUDA3D_TRY(call) cuda3d_try((call), #call, __FILE__, __LINE__)
int cuda3d_try(cudaError_t e, const char *call, const char *file, int line);
#ifdef CUDNN
#define CUDNN3D_CHECK(call) do { cudnnStatus_t s3d_ = (call); \
    if(s3d_ != CUDNN_STATUS_SUCCESS) cuda3d_fatal(#call, cudnnGetErrorString(s3d_), __FILE__, __LINE__); } while(0)
#define CUDNN3D_TRY(call) cudnn3d_try((call), #call, __FILE__, __LINE__)
int cudnn3d_try(cudnnStatus_t s, const char *call, const char *file, int line);
#endif

/* Recoverable twins of Darknet's cuda_make_array (which exits on a failed cudaMalloc): *x_gpu = a device copy of
 * x[0..n) (zeros when x is NULL); 0, or -1 with *x_gpu = NULL and the failure recorded. */
#define cuda3d_make_array(x_gpu, x, n) cuda3d_make_array_at((x_gpu), (x), (n), __FILE__, __LINE__)
int cuda3d_make_array_at(float **x_gpu, const float *x, size_t n, const char *file, int line);
/* *p = bytes of uninitialised device memory; 0, or -1 with *p = NULL and the failure recorded */
#define cuda3d_malloc(p, bytes) cuda3d_malloc_at((p), (bytes), __FILE__, __LINE__)
int cuda3d_malloc_at(void **p, size_t bytes, const char *file, int line);
/* frees and NULLs *p (no-op on NULL) */
void cuda3d_free(void **p);
/* MiB in use on the current device (cudaMemGetInfo: total - free, after a synchronize): every process's memory and
 * the CUDA context included, as nvidia-smi counts it; -1 when the query fails */
double cuda3d_device_used_mib(void);
/* bytes of zeroed page-locked host memory (cudaHostAlloc: copies to and from the device read it directly, at the
 * bus's rate, instead of through a staging copy); NULL, with the CUDA error cleared, when none can be had (no device,
 * or the limit on locked memory). cuda3d_host_free frees it (no-op on NULL). */
void *cuda3d_host_alloc(size_t bytes);
void cuda3d_host_free(void *p);
#endif

#ifdef __cplusplus
}
#endif

#ifdef __CUDACC__
/* The channel of element i of an NCDHW array of c channels with sp voxels each: 32-bit division when i and sp fit
 * (a 64-bit division is a long instruction sequence on the GPU, per element of every batch-norm kernel); the same
 * value either way. */
__device__ __forceinline__ int cuda3d_channel(size_t i, size_t sp, int c)
{
    if(((i | sp) >> 32) == 0) return (int)(((unsigned)i / (unsigned)sp) % (unsigned)c);
    return (int)((i / sp) % (size_t)c);
}
#endif
#endif
