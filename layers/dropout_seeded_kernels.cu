/* CUDA forward of [dropout] with masks reproducible from rand(): one Philox generator per device, re-seeded on every call. */
#include <stdlib.h>
#include "cuda3d.h"
extern "C" {
#include "dropout_seeded.h"
}

/* Darknet's mask rule: a voxel is dropped when its uniform draw is below the probability, else scaled */
__global__ void dropout_seeded_kernel(float *x, size_t n, const float *r, float prob, float scale)
{
    size_t i = (size_t)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;
    if(i < n) x[i] = (r[i] < prob) ? 0 : x[i] * scale;
}

extern "C" void forward_dropout_seeded_gpu(layer l, network net)
{
    static curandGenerator_t gen[16];
    static int init[16] = {0};
    if(!net.train) return;
    size_t n = (size_t)l.inputs * l.batch;
    int dev = 0;
    if(cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 16) dev = 0;
    if(!init[dev]){
        if(curandCreateGenerator(&gen[dev], CURAND_RNG_PSEUDO_PHILOX4_32_10) != CURAND_STATUS_SUCCESS)
            cuda3d_fatal("curandCreateGenerator", "cannot create a cuRAND generator for [dropout]", __FILE__, __LINE__);
        init[dev] = 1;
    }
    /* a failed draw would leave a stale mask that the stock backward applies too: stop instead of training wrong */
    if(curandSetPseudoRandomGeneratorSeed(gen[dev], dropout_seed_from_rand()) != CURAND_STATUS_SUCCESS ||
       curandSetGeneratorOffset(gen[dev], 0) != CURAND_STATUS_SUCCESS ||
       curandGenerateUniform(gen[dev], l.rand_gpu, n) != CURAND_STATUS_SUCCESS)
        cuda3d_fatal("curandGenerateUniform", "cuRAND failed to draw the [dropout] mask", __FILE__, __LINE__);
    dropout_seeded_kernel<<<cuda_gridsize(n), BLOCK>>>(net.input_gpu, n, l.rand_gpu, l.probability, l.scale);
    CUDA3D_CHECK_LAUNCH();
}

extern "C" void rebuild_dropout_seeded_gpu(layer l, network net)
{
    size_t n = (size_t)l.inputs * l.batch;
    dropout_seeded_kernel<<<cuda_gridsize(n), BLOCK>>>(net.input_gpu, n, l.rand_gpu, l.probability, l.scale);
    CUDA3D_CHECK_LAUNCH();
}
