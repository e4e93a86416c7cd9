/* Places the gradient (delta) buffers of a training network's layers in one arena, sharing memory wherever their lifetimes in the backward pass do not overlap (src/delta_share.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "layer3d.h"
#include "delta_share.h"
#include "buffer_plan.h"
#include "layers3d.h"
#include "cuda3d.h"

/* last[i]: the highest index of a layer whose backward writes into layer i's delta (n for the [dbisl] heads: the
 * whole backward pass); the backward pass needs the delta from that layer's step down to layer i's own. */
static int last_writers(network *net, int *last)
{
    int i, k, m, n = net->n, in[BUFFER_PLAN_MAX_INPUTS];
    for(i = 0; i < n; ++i) last[i] = i;
    for(i = 0; i < n; ++i){
        layer *l = &net->layers[i];
        if(l->stopbackward || (m = layer_inputs(net, i, in)) < 0) return -1;
        for(k = 0; k < m; ++k){
            /* the loss adds into its heads' deltas (every input but the layer before, listed first): needed until the end */
            int by = DBISL != BLANK && l->type == DBISL && !(k == 0 && i > 0) ? n : i;
            if(by > last[in[k]]) last[in[k]] = by;
        }
    }
    return 0;
}

/* groups: layers that hold one buffer already ([dropout], a shared [route]) stay together, one arena block each
 * (needed from backward step hi[0] down to step lo[0], lo[0] the first layer holding it); root[i] is layer i's
 * group, -1 for none. 0, or 1 when a layout is not one this knows. */
static int make_groups(network *net, const int *last, int *root, arena_block *g, int *ng, size_t *before)
{
    int i, j;
    for(i = 0; i < net->n; ++i){
        layer *l = &net->layers[i];
        root[i] = -1;
        if(!l->delta || (DBISL != BLANK && l->type == DBISL)) continue;   /* the loss keeps its own term buffer */
        for(j = 0; j < i && root[i] < 0; ++j) if(net->layers[j].delta == l->delta) root[i] = root[j];
        size_t m = (size_t)l->outputs * l->batch;
        if(root[i] < 0){
            arena_block *r = &g[*ng];
            r->nspan = 1; r->lo[0] = i; r->hi[0] = last[i]; r->n = arena_round(m);
            *before += m * sizeof(float);
            root[i] = (*ng)++;
        } else {
            arena_block *r = &g[root[i]];
            if(last[i] > r->hi[0]) r->hi[0] = last[i];
            if(m > r->n) return 1;   /* a holder larger than its buffer */
        }
    }
    return 0;
}

/* A group that another group, needed later in backward order, overlaps in memory is zeroed after its last use. */
static void mark_releases(network *net, const arena_block *g, int ng)
{
    int i, j;
    for(i = 0; i < ng; ++i)
        for(j = 0; j < ng; ++j)
            if(g[j].hi[0] < g[i].lo[0] && arena_overlap_memory(&g[i], &g[j])){ net->layers[g[i].lo[0]].delta_release = 1; break; }
}

int network_share_deltas(network *net, size_t *before, size_t *after, size_t *bound, char *err, size_t errlen)
{
    int i, n = net->n, ng = 0, rc = 0;
    size_t top = 0;
    float *arena = 0, *arena_gpu = 0;
    *before = *after = *bound = 0;
    int *last = calloc(n, sizeof(int)), *root = calloc(n, sizeof(int));
    arena_block *g = calloc(n, sizeof(arena_block));
    if(!last || !root || !g) rc = -1;
    else if(net->delta_arena || last_writers(net, last) || make_groups(net, last, root, g, &ng, before)) rc = 1;
    else if((top = arena_place(g, ng)) == (size_t)-1){ top = 0; rc = -1; }
    else if(top && !(arena = calloc(top, sizeof(float)))) rc = -1;
#ifdef GPU
    else if(top && gpu_index >= 0 && !layer3d_defer_device && cuda3d_make_array(&arena_gpu, 0, top)){ cuda3d_take_error(err, errlen); rc = -2; }
#endif
    if(rc == -1) snprintf(err, errlen, "out of memory for %zu MiB of gradients", top >> 18);
    if(rc){
        free(arena);
        for(i = 0; i < n; ++i) net->layers[i].delta_release = 0;
    } else if(top){
        mark_releases(net, g, ng);
        for(i = 0; i < n; ++i) if(root[i] >= 0) arena_take(&net->layers[i], 1, g[root[i]].lo[0] == i, arena, arena_gpu, g[root[i]].off);
        net->delta_arena = arena;
        net->delta_arena_gpu = arena_gpu;
        net->delta_arena_n = top;
        *after = top * sizeof(float);
        *bound = arena_most_alive(g, ng, n);
    }
    free(last); free(root); free(g);
    return rc < 0 ? -1 : rc;
}
