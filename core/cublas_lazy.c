/* The two cuBLAS entry points Darknet calls (stock GPU [convolutional] layers), loaded from libcublas on first use, so that a GPU build does not load cuBLAS at every start (its initialisation took 0.16 s and 200 MB per process). */
#ifdef GPU
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <cublas_v2.h>

typedef cublasStatus_t (*create_fn)(cublasHandle_t *);
typedef cublasStatus_t (*sgemm_fn)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const float *,
                                   const float *, int, const float *, int, const float *, float *, int);

static create_fn real_create;
static sgemm_fn real_sgemm;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* the library of the major version the build was compiled against (libcublas.so.13 for CUDA 13), then any */
static void load(void)
{
    char name[64];
    snprintf(name, sizeof(name), "libcublas.so.%d", CUBLAS_VER_MAJOR);
    void *h = dlopen(name, RTLD_NOW | RTLD_GLOBAL);
    if(!h) h = dlopen("libcublas.so", RTLD_NOW | RTLD_GLOBAL);
    if(!h){
        fprintf(stderr, "darknet3d: cannot load %s (%s): stock Darknet GPU layers that multiply matrices cannot run\n", name, dlerror());
        return;
    }
    real_create = (create_fn)dlsym(h, "cublasCreate_v2");
    real_sgemm = (sgemm_fn)dlsym(h, "cublasSgemm_v2");
    if(!real_create || !real_sgemm) fprintf(stderr, "darknet3d: %s lacks cublasCreate_v2 or cublasSgemm_v2\n", name);
}

cublasStatus_t cublasCreate_v2(cublasHandle_t *handle)
{
    pthread_once(&once, load);
    return real_create ? real_create(handle) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const float *alpha, const float *a, int lda, const float *b, int ldb, const float *beta,
                              float *c, int ldc)
{
    pthread_once(&once, load);
    return real_sgemm ? real_sgemm(handle, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) : CUBLAS_STATUS_NOT_INITIALIZED;
}
#endif
