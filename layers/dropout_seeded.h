/* Reproducible [dropout] masks for Darknet's stock layer, on the CPU and the GPU: every call draws its seed from rand(), the stream that checkpoints save. */
#ifndef DROPOUT_SEEDED_H
#define DROPOUT_SEEDED_H
#include <stdint.h>
#include "darknet.h"

/* The seed of one call: two rand() draws in a fixed order (the CPU forward and its GPU twin both take it). */
uint64_t dropout_seed_from_rand(void);

/* A new seed for layer l (dropout_seed_from_rand), kept in the first 8 bytes of l.rand for its backward pass; and
 * the seed kept there. */
uint64_t dropout_next_seed(layer l);
uint64_t dropout_last_seed(layer l);

/* The uniform draw of element i under seed: the top 24 bits of a keyed 32-bit hash of i (two rounds of a mixing
 * bijection, keyed by the seed's two halves; the upper 32 bits of i shift the second key), as a float in [0, 1)
 * (a multiple of 2^-24). Counter-based: independent of the thread count and of the order of the draws. */
float dropout_uniform(uint64_t seed, size_t i);

/* CPU forward of stock [dropout] (seg3d installs it on every [dropout] layer, layers/fast_paths.h): with net.train,
 * draws one seed from rand(), keeps it in the first 8 bytes of l.rand (which needs no more: the fast path shrinks
 * it), and applies Darknet's rule in place on net.input (a voxel is dropped when its draw dropout_uniform(seed, i)
 * is below l.probability, else scaled by l.scale). OpenMP over elements; the masks depend on the rand() stream
 * only, so a run resumed from a checkpoint sees the same masks. */
void forward_dropout_seeded(layer l, network net);
/* Applies the mask of the last training forward to net.input again, in place (the same draws and arithmetic as
 * that forward: the same bits); src/output_recompute.h rebuilds a dropped-out output so. */
void rebuild_dropout_seeded(layer l, network net);
/* CPU backward: Darknet's rule on net.delta with the draws recomputed from the seed in l.rand (the same rule as
 * stock backward_dropout_layer). */
void backward_dropout_seeded(layer l, network net);

#ifdef GPU
/* GPU twins of the three above, installed on every [dropout] with the CPU ones (layers/fast_paths.h): the mask of
 * element i is recomputed from the kept seed by the same hash (layers/dropout_hash.h), so the GPU and the CPU drop
 * the same voxels for the same rand() stream, and no mask buffer is kept (the stock layer's l.rand_gpu, as large
 * as the layer's input, is freed). */
void forward_dropout_seeded_gpu(layer l, network net);
void backward_dropout_seeded_gpu(layer l, network net);
void rebuild_dropout_seeded_gpu(layer l, network net);
#endif
#endif
