/* CPU forward and backward of stock [dropout] with counter-based masks seeded from rand(): one seed per call instead of one rand() per element. */
#include <stdlib.h>
#include "dropout_seeded.h"

uint64_t dropout_seed_from_rand(void)
{
    unsigned a = (unsigned)rand();
    unsigned b = (unsigned)rand();
    return ((uint64_t)a << 31) ^ b;
}

/* a 32-bit mixing bijection (shift-xor-multiply, the "lowbias32" constants) */
static inline uint32_t mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

/* the two 32-bit keys of elements [hi * 2^32, (hi + 1) * 2^32) under seed */
static inline void keys(uint64_t seed, uint64_t hi, uint32_t *k0, uint32_t *k1)
{
    *k0 = (uint32_t)seed;
    *k1 = (uint32_t)(seed >> 32) + (uint32_t)hi * 0x9E3779B9U;
}

static inline float draw(uint32_t lo, uint32_t k0, uint32_t k1)
{
    return (float)(int32_t)(mix32(mix32(lo ^ k0) ^ k1) >> 8) * (1.0f / 16777216.0f);
}

float dropout_uniform(uint64_t seed, size_t i)
{
    uint32_t k0, k1;
    keys(seed, (uint64_t)i >> 32, &k0, &k1);
    return draw((uint32_t)i, k0, k1);
}

/* the draws of elements i0 .. i0+n-1, all with the same upper 32 bits (a separate loop so that it vectorises) */
static void draws(float *restrict u, uint64_t seed, size_t i0, int n)
{
    uint32_t k0, k1, lo = (uint32_t)i0;
    int j;
    keys(seed, (uint64_t)i0 >> 32, &k0, &k1);
    for(j = 0; j < n; ++j) u[j] = draw(lo + (uint32_t)j, k0, k1);
}

/* elements per block of work; blocks never straddle a multiple of 2^32 */
#define DROPOUT_BLOCK 4096

void forward_dropout_seeded(layer l, network net)
{
    if(!net.train) return;
    size_t n = (size_t)l.batch * l.inputs;
    long nb = (long)((n + DROPOUT_BLOCK - 1) / DROPOUT_BLOCK), b;
    const uint64_t seed = dropout_seed_from_rand();
    const float p = l.probability, sc = l.scale;
    float *x = net.input, *r = l.rand;
    #pragma omp parallel for schedule(static) if(nb >= 16)
    for(b = 0; b < nb; ++b){
        size_t i0 = (size_t)b * DROPOUT_BLOCK;
        int j, m = n - i0 < DROPOUT_BLOCK ? (int)(n - i0) : DROPOUT_BLOCK;
        float *u = r + i0, *y = x + i0;
        draws(u, seed, i0, m);
        for(j = 0; j < m; ++j) y[j] = u[j] < p ? 0 : y[j] * sc;
    }
}

void backward_dropout_seeded(layer l, network net)
{
    if(!net.delta) return;
    size_t n = (size_t)l.batch * l.inputs;
    long i;
    const float p = l.probability, sc = l.scale;
    const float *r = l.rand;
    float *d = net.delta;
    #pragma omp parallel for schedule(static) if(n >= 65536)
    for(i = 0; i < (long)n; ++i) d[i] = r[i] < p ? 0 : d[i] * sc;
}
