/* The GPU error policy of core/cuda3d.h: the fatal report, the record of the last recoverable failure, and allocation that never exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cuda3d.h"

#ifdef GPU
/* Parsing and resizing run on one thread at a time, so one record suffices. */
static char last_error[512];

void cuda3d_fatal(const char *call, const char *msg, const char *file, int line)
{
    fprintf(stderr, "darknet3d: GPU error at %s:%d: %s: %s\n", file, line, call, msg);
    fflush(stderr);
    abort();
}

int cuda3d_fail(const char *call, const char *msg, const char *file, int line)
{
    snprintf(last_error, sizeof(last_error), "%s:%d: %s: %s", file, line, call, msg);
    return -1;
}

int cuda3d_take_error(char *buf, size_t n)
{
    if(!last_error[0]) return 0;
    if(n) snprintf(buf, n, "%s", last_error);
    last_error[0] = 0;
    return 1;
}

int cuda3d_try(cudaError_t e, const char *call, const char *file, int line)
{
    if(e == cudaSuccess) return 0;
    cudaGetLastError();
    return cuda3d_fail(call, cudaGetErrorString(e), file, line);
}

#ifdef CUDNN
int cudnn3d_try(cudnnStatus_t s, const char *call, const char *file, int line)
{
    return s == CUDNN_STATUS_SUCCESS ? 0 : cuda3d_fail(call, cudnnGetErrorString(s), file, line);
}
#endif

int cuda3d_malloc_at(void **p, size_t bytes, const char *file, int line)
{
    *p = NULL;
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if(e == cudaSuccess) return 0;
    *p = NULL;
    cudaGetLastError();
    char what[64];
    snprintf(what, sizeof(what), "cudaMalloc of %zu bytes", bytes);
    return cuda3d_fail(what, cudaGetErrorString(e), file, line);
}

int cuda3d_make_array_at(float **x_gpu, const float *x, size_t n, const char *file, int line)
{
    void *p;
    *x_gpu = NULL;
    if(cuda3d_malloc_at(&p, n * sizeof(float), file, line)) return -1;
    cudaError_t e = x ? cudaMemcpy(p, x, n * sizeof(float), cudaMemcpyHostToDevice) : cudaMemset(p, 0, n * sizeof(float));
    if(e != cudaSuccess){
        cudaFree(p);
        return cuda3d_try(e, x ? "cudaMemcpy to a new device array" : "cudaMemset of a new device array", file, line);
    }
    *x_gpu = p;
    return 0;
}

void cuda3d_free(void **p)
{
    if(*p) CUDA3D_CHECK(cudaFree(*p));
    *p = NULL;
}

double cuda3d_device_used_mib(void)
{
    size_t fr = 0, tot = 0;
    if(cudaDeviceSynchronize() != cudaSuccess || cudaMemGetInfo(&fr, &tot) != cudaSuccess){
        (void)cudaGetLastError();
        return -1;
    }
    return (double)(tot - fr) / (1 << 20);
}

void *cuda3d_host_alloc(size_t bytes)
{
    void *p = NULL;
    if(cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocDefault) != cudaSuccess){
        (void)cudaGetLastError();
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}

void cuda3d_host_free(void *p)
{
    if(p && cudaFreeHost(p) != cudaSuccess) (void)cudaGetLastError();
}
#endif
