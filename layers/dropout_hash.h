/* The counter-based uniform draws of [dropout] masks, one definition for the CPU and the CUDA kernels: the same seed gives the same mask on both. */
#ifndef DROPOUT_HASH_H
#define DROPOUT_HASH_H
#include <stdint.h>
#ifdef __CUDACC__
#define DROPOUT_HD __host__ __device__
#else
#define DROPOUT_HD
#endif

/* a 32-bit mixing bijection (shift-xor-multiply, the "lowbias32" constants) */
static inline DROPOUT_HD uint32_t dropout_mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

/* the two 32-bit keys of elements [hi * 2^32, (hi + 1) * 2^32) under seed */
static inline DROPOUT_HD void dropout_keys(uint64_t seed, uint64_t hi, uint32_t *k0, uint32_t *k1)
{
    *k0 = (uint32_t)seed;
    *k1 = (uint32_t)(seed >> 32) + (uint32_t)hi * 0x9E3779B9U;
}

/* the draw of the element whose lower 32 bits are lo: the top 24 bits of the keyed hash, exactly as a float in [0, 1) */
static inline DROPOUT_HD float dropout_draw(uint32_t lo, uint32_t k0, uint32_t k1)
{
    return (float)(int32_t)(dropout_mix32(dropout_mix32(lo ^ k0) ^ k1) >> 8) * (1.0f / 16777216.0f);
}
#endif
