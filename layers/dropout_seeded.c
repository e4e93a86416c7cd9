/* CPU forward and backward of stock [dropout] with counter-based masks seeded from rand(): one seed per call instead of one rand() per element. */
#include <stdlib.h>
#include <string.h>
#include "dropout_seeded.h"
#include "dropout_hash.h"

uint64_t dropout_seed_from_rand(void)
{
    unsigned a = (unsigned)rand();
    unsigned b = (unsigned)rand();
    return ((uint64_t)a << 31) ^ b;
}

float dropout_uniform(uint64_t seed, size_t i)
{
    uint32_t k0, k1;
    dropout_keys(seed, (uint64_t)i >> 32, &k0, &k1);
    return dropout_draw((uint32_t)i, k0, k1);
}

/* the draws of elements i0 .. i0+n-1, all with the same upper 32 bits (a separate loop so that it vectorises; the
 * x86-64 baseline has no packed 32-bit multiply, so AVX2 and AVX-512 clones are chosen at load time where the CPU
 * has them: the same integer arithmetic, so the same draws) */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void draws(float *restrict u, uint64_t seed, size_t i0, int n)
{
    uint32_t k0, k1, lo = (uint32_t)i0;
    int j;
    dropout_keys(seed, (uint64_t)i0 >> 32, &k0, &k1);
    for(j = 0; j < n; ++j) u[j] = dropout_draw(lo + (uint32_t)j, k0, k1);
}

/* elements per block of work; blocks never straddle a multiple of 2^32 */
#define DROPOUT_BLOCK 4096

/* l.rand keeps the 64-bit seed of the last training forward in its first 8 bytes: the backward recomputes the
 * draws instead of reading them back (darknet3d_install_fast_paths shrinks l.rand to those 8 bytes) */
static void put_seed(layer l, uint64_t seed) { memcpy(l.rand, &seed, sizeof(seed)); }
static uint64_t get_seed(layer l) { uint64_t s; memcpy(&s, l.rand, sizeof(s)); return s; }

uint64_t dropout_next_seed(layer l)
{
    const uint64_t seed = dropout_seed_from_rand();
    put_seed(l, seed);
    return seed;
}

uint64_t dropout_last_seed(layer l) { return get_seed(l); }

/* x[i] = Darknet's rule with the draws of seed, i in [0, n) */
static void apply(float *x, size_t n, uint64_t seed, float p, float sc)
{
    long nb = (long)((n + DROPOUT_BLOCK - 1) / DROPOUT_BLOCK), b;
    #pragma omp parallel for schedule(static) if(nb >= 16)
    for(b = 0; b < nb; ++b){
        float u[DROPOUT_BLOCK];
        size_t i0 = (size_t)b * DROPOUT_BLOCK;
        int j, m = n - i0 < DROPOUT_BLOCK ? (int)(n - i0) : DROPOUT_BLOCK;
        float *y = x + i0;
        draws(u, seed, i0, m);
        /* Darknet's rule as a bit mask on the product (+0 where dropped, exactly as the branchy rule): the loop
         * vectorises, with no data-dependent branch to mispredict */
        for(j = 0; j < m; ++j){
            float v = y[j] * sc;
            uint32_t bits;
            memcpy(&bits, &v, sizeof(bits));
            bits &= -(uint32_t)(u[j] >= p);
            memcpy(&y[j], &bits, sizeof(bits));
        }
    }
}

void forward_dropout_seeded(layer l, network net)
{
    if(!net.train) return;
    const uint64_t seed = dropout_next_seed(l);
    apply(net.input, (size_t)l.batch * l.inputs, seed, l.probability, l.scale);
}

void rebuild_dropout_seeded(layer l, network net)
{
    apply(net.input, (size_t)l.batch * l.inputs, dropout_last_seed(l), l.probability, l.scale);
}

void backward_dropout_seeded(layer l, network net)
{
    if(!net.delta) return;
    apply(net.delta, (size_t)l.batch * l.inputs, get_seed(l), l.probability, l.scale);
}
