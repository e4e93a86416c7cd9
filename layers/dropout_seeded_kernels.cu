/* CUDA forward, backward and rebuild of [dropout] with the masks of the CPU path: the counter-based draws of layers/dropout_hash.h under the seed kept in l.rand. */
#include <stdlib.h>
#include "cuda3d.h"
extern "C" {
#include "dropout_seeded.h"
}
#include "dropout_hash.h"

/* Darknet's mask rule on x: element i is dropped (+0) when its draw under seed is below the probability, else scaled */
__global__ void dropout_hash_kernel(float *x, size_t n, uint64_t seed, float prob, float scale)
{
    size_t i = (size_t)(blockIdx.x + blockIdx.y * gridDim.x) * blockDim.x + threadIdx.x;
    if(i >= n) return;
    uint32_t k0, k1;
    dropout_keys(seed, (uint64_t)i >> 32, &k0, &k1);
    x[i] = dropout_draw((uint32_t)i, k0, k1) < prob ? 0.f : x[i] * scale;
}

static void apply_gpu(float *x, size_t n, uint64_t seed, float prob, float scale)
{
    dropout_hash_kernel<<<cuda_gridsize(n), BLOCK>>>(x, n, seed, prob, scale);
    CUDA3D_CHECK_LAUNCH();
}

extern "C" void forward_dropout_seeded_gpu(layer l, network net)
{
    if(!net.train) return;
    apply_gpu(net.input_gpu, (size_t)l.inputs * l.batch, dropout_next_seed(l), l.probability, l.scale);
}

extern "C" void backward_dropout_seeded_gpu(layer l, network net)
{
    if(!net.delta_gpu) return;
    apply_gpu(net.delta_gpu, (size_t)l.inputs * l.batch, dropout_last_seed(l), l.probability, l.scale);
}

extern "C" void rebuild_dropout_seeded_gpu(layer l, network net)
{
    apply_gpu(net.input_gpu, (size_t)l.inputs * l.batch, dropout_last_seed(l), l.probability, l.scale);
}
