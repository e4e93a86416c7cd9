/* What the buffer sharings (src/delta_share.h, src/shortcut_share.h, src/output_recompute.h) have in common: which layers' outputs each layer reads, and the placement of buffers with known lifetimes in one arena. */
#ifndef BUFFER_PLAN_H
#define BUFFER_PLAN_H
#include <stddef.h>
#include "darknet.h"

/* The layer types whose reads of other layers' outputs and writes into other layers' deltas are known: the layer
 * before (net.input, net.delta), the inputs of [route]/[dualsplit], the [shortcut] source, the heads of [dbisl]; their
 * forward passes write no delta. The sharings leave networks with any other type as they are. */
int buffer_share_known_type(LAYER_TYPE t);

#define BUFFER_PLAN_MAX_INPUTS 64
/* The layers whose outputs layer i reads (and, in training, into whose deltas its backward writes), in[0..count-1]:
 * the layer before (every layer but the first is counted as reading it), the inputs of [route]/[dualsplit], the
 * [shortcut] source, the four heads per decoder of [dbisl]. A layer may be listed twice. Returns the count, or -1
 * when the type is not a known one or it reads more than BUFFER_PLAN_MAX_INPUTS layers. */
int layer_inputs(const network *net, int i, int in[BUFFER_PLAN_MAX_INPUTS]);

/* A buffer needed during up to ARENA_MAX_SPANS spans of steps [lo[k], hi[k]] (k < nspan, steps on any one time axis
 * the caller chooses), of n floats; arena_place sets off. */
#define ARENA_MAX_SPANS 8
typedef struct {
    int lo[ARENA_MAX_SPANS], hi[ARENA_MAX_SPANS], nspan;
    size_t n;
    size_t off;
} arena_block;

#define ARENA_ALIGN 64   /* floats: every block starts on a 256-byte boundary */
/* n floats rounded up to ARENA_ALIGN */
size_t arena_round(size_t n);
int arena_overlap_time(const arena_block *a, const arena_block *b);
int arena_overlap_memory(const arena_block *a, const arena_block *b);
/* Places the blocks in one arena, largest first, each at the lowest offset where it overlaps no placed block that is
 * needed at a common step. Returns the arena's size in floats, or (size_t)-1 when out of memory. */
size_t arena_place(arena_block *b, int nb);
/* Points layer l's output (delta: its delta), and its device twin (NULL when arena_gpu is: src/buffer_mirror.h
 * makes it later), at offset off of the arenas, first freeing the buffers it held when free_old (the first holder of
 * a shared buffer). */
void arena_take(layer *l, int delta, int free_old, float *arena, float *arena_gpu, size_t off);
/* whether p points into the arena of n floats that starts at arena (false for a NULL arena or p) */
static inline int buffer_in_arena(const float *p, const float *arena, size_t n)
{
    return p && arena && p >= arena && p < arena + n;
}
/* the bytes of the blocks needed at the busiest step in [0, tmax] (what no placement can go below) */
size_t arena_most_alive(const arena_block *b, int nb, int tmax);
#endif
