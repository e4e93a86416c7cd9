/* Places the gradient (delta) buffers of a training network's layers in one arena, sharing memory wherever their lifetimes in the backward pass do not overlap (src/delta_share.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "delta_share.h"
#include "layers3d.h"
#include "dbisl_layer.h"
#include "cuda3d.h"

int buffer_share_known_type(LAYER_TYPE t)
{
    return t == CONV3D || t == DECONV3D || t == UPSAMPLE3D || t == MAXPOOL3D || t == R2S || t == DTRANSFORM ||
           t == DUALSPLIT || t == ROUTE || t == SHORTCUT || t == DROPOUT || t == CONVOLUTIONAL || t == BATCHNORM ||
           t == ACTIVE || (DBISL != BLANK && t == DBISL);
}

static void writes(int *last, int n, int into, int by)
{
    if(into >= 0 && into < n && by > last[into]) last[into] = by;
}

/* last[i]: the highest index of a layer whose backward writes into layer i's delta (n for the [dbisl] heads: the
 * whole backward pass); the backward pass needs the delta from that layer's step down to layer i's own. */
static int last_writers(network *net, int *last)
{
    int i, k, n = net->n;
    for(i = 0; i < n; ++i) last[i] = i;
    for(i = 0; i < n; ++i){
        layer *l = &net->layers[i];
        if(!buffer_share_known_type(l->type) || l->stopbackward) return -1;
        if(i > 0) writes(last, n, i - 1, i);
        if(l->type == ROUTE || l->type == DUALSPLIT)
            for(k = 0; k < l->n; ++k) writes(last, n, l->input_layers[k], i);
        if(l->type == SHORTCUT) writes(last, n, l->index, i);
        if(DBISL != BLANK && l->type == DBISL){
            /* the loss adds into its heads' deltas; needed until the end of the pass */
            for(k = 0; k < dbisl_decoders(*l); ++k){
                writes(last, n, dbisl_seg_input(*l, k), n);
                writes(last, n, dbisl_sdf_input(*l, k), n);
                writes(last, n, dbisl_s2r_input(*l, k), n);
                writes(last, n, dbisl_r2s_input(*l, k), n);
            }
        }
    }
    return 0;
}

typedef struct {
    int lo, hi;         /* needed from backward step hi down to step lo (lo: the first layer holding it) */
    size_t n;           /* floats, rounded up to ALIGN */
    size_t off;         /* where in the arena */
} group;

#define ALIGN 64        /* floats: every delta starts on a 256-byte boundary */

static int overlap_time(const group *a, const group *b) { return !(a->hi < b->lo || b->hi < a->lo); }
static int overlap_memory(const group *a, const group *b) { return a->off < b->off + b->n && b->off < a->off + a->n; }

static int by_size_desc(const void *a, const void *b)
{
    const group *x = *(const group * const *)a, *y = *(const group * const *)b;
    if(x->n != y->n) return x->n < y->n ? 1 : -1;
    return x->lo - y->lo;
}

static int by_off(const void *a, const void *b)
{
    const group *x = *(const group * const *)a, *y = *(const group * const *)b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* groups: layers that hold one buffer already ([dropout], a shared [route]) stay together; root[i] is layer i's
 * group, -1 for none. 0, or 1 when a layout is not one this knows. */
static int make_groups(network *net, const int *last, int *root, group *g, int *ng, size_t *before)
{
    int i, j;
    for(i = 0; i < net->n; ++i){
        layer *l = &net->layers[i];
        root[i] = -1;
        if(!l->delta || (DBISL != BLANK && l->type == DBISL)) continue;   /* the loss keeps its own term buffer */
        for(j = 0; j < i && root[i] < 0; ++j) if(net->layers[j].delta == l->delta) root[i] = root[j];
        size_t m = (size_t)l->outputs * l->batch;
        if(root[i] < 0){
            group *r = &g[*ng];
            r->lo = i; r->hi = last[i]; r->n = (m + ALIGN - 1) / ALIGN * ALIGN;
            *before += m * sizeof(float);
            root[i] = (*ng)++;
        } else {
            group *r = &g[root[i]];
            if(last[i] > r->hi) r->hi = last[i];
            if(m > r->n) return 1;   /* a holder larger than its buffer */
        }
    }
    return 0;
}

/* Places the groups in one arena, largest first, each at the lowest offset where it overlaps no placed group that
 * is needed at the same time (greedy by size: on the paper's model it reaches the most that is ever alive at
 * once). A group that another group, needed later in backward order, overlaps in memory is zeroed after its last
 * use. Returns the arena's size in floats, 0 when out of memory. */
static size_t place(network *net, group *g, int ng)
{
    int i, j, nb;
    size_t top = 0;
    group **order = malloc((ng ? ng : 1) * sizeof(group *)), **busy = malloc((ng ? ng : 1) * sizeof(group *));
    if(!order || !busy){ free(order); free(busy); return 0; }
    for(i = 0; i < ng; ++i) order[i] = &g[i];
    qsort(order, ng, sizeof(group *), by_size_desc);
    for(i = 0; i < ng; ++i){
        group *o = order[i];
        for(j = nb = 0; j < i; ++j) if(overlap_time(o, order[j])) busy[nb++] = order[j];
        qsort(busy, nb, sizeof(group *), by_off);
        o->off = 0;
        for(j = 0; j < nb; ++j){
            if(o->off + o->n <= busy[j]->off) break;
            if(busy[j]->off + busy[j]->n > o->off) o->off = busy[j]->off + busy[j]->n;
        }
        if(o->off + o->n > top) top = o->off + o->n;
    }
    for(i = 0; i < ng; ++i)
        for(j = 0; j < ng; ++j)
            if(g[j].hi < g[i].lo && overlap_memory(&g[i], &g[j])){ net->layers[g[i].lo].delta_release = 1; break; }
    free(order); free(busy);
    return top;
}

/* every old buffer freed once, every holder pointed into the arena */
static void rewire(network *net, const int *root, const group *g, float *arena, float *arena_gpu)
{
    int i;
    for(i = 0; i < net->n; ++i){
        layer *l = &net->layers[i];
        if(root[i] < 0) continue;
        if(g[root[i]].lo == i){
            free(l->delta);
#ifdef GPU
            if(l->delta_gpu) cuda_free(l->delta_gpu);
#endif
        }
        l->delta = arena + g[root[i]].off;
#ifdef GPU
        l->delta_gpu = arena_gpu ? arena_gpu + g[root[i]].off : 0;
#else
        (void)arena_gpu;
#endif
    }
}

/* the bytes of deltas needed at the same backward step, at the step where that is largest: no placement can use less */
static size_t most_alive(const group *g, int ng, int n)
{
    size_t best = 0;
    int t, k;
    for(t = 0; t <= n; ++t){
        size_t sum = 0;
        for(k = 0; k < ng; ++k) if(g[k].lo <= t && t <= g[k].hi) sum += g[k].n;
        if(sum > best) best = sum;
    }
    return best * sizeof(float);
}

int network_share_deltas(network *net, size_t *before, size_t *after, size_t *bound, char *err, size_t errlen)
{
    int i, n = net->n, ng = 0, rc = 0;
    size_t top = 0;
    float *arena = 0, *arena_gpu = 0;
    *before = *after = *bound = 0;
    int *last = calloc(n, sizeof(int)), *root = calloc(n, sizeof(int));
    group *g = calloc(n, sizeof(group));
    if(!last || !root || !g) rc = -1;
    else if(net->delta_arena || last_writers(net, last) || make_groups(net, last, root, g, &ng, before)) rc = 1;
    else if(!(top = place(net, g, ng)) && ng) rc = -1;
    else if(top && !(arena = calloc(top, sizeof(float)))) rc = -1;
#ifdef GPU
    else if(top && gpu_index >= 0 && cuda3d_make_array(&arena_gpu, 0, top)){ cuda3d_take_error(err, errlen); rc = -2; }
#endif
    if(rc == -1) snprintf(err, errlen, "out of memory for %zu MiB of gradients", top >> 18);
    if(rc){
        free(arena);
        for(i = 0; i < n; ++i) net->layers[i].delta_release = 0;
    } else if(top){
        rewire(net, root, g, arena, arena_gpu);
        net->delta_arena = arena;
        net->delta_arena_gpu = arena_gpu;
        net->delta_arena_n = top;
        *after = top * sizeof(float);
        *bound = most_alive(g, ng, n);
    }
    free(last); free(root); free(g);
    return rc < 0 ? -1 : rc;
}
