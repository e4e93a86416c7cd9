/* Places the rebuildable outputs of a training network in one arena by lifetime and marks where the backward pass rebuilds them (src/output_recompute.h). */
#include <stdio.h>
#include <stdlib.h>
#include "output_recompute.h"
#include "buffer_plan.h"
#include "layers3d.h"
#include "conv3d_common.h"
#include "dropout_seeded.h"
#include "cuda3d.h"

/* one output buffer and the layers that hold it, in index order: the layer that writes it first (root) and the
 * ones that take it over (a [dropout] or in-place [shortcut] changes it in place, a single-input [route] only
 * shares it) */
typedef struct {
    int ok;                 /* rebuildable */
    int last_change;        /* the highest index of a holder that writes into it */
    int fwd_last;           /* the last forward step that reads it */
    int need_lo, need_hi;   /* the backward steps (layer indices) that read it; need_hi < 0: none */
} plan;

/* the backward pass of a layer of type t reads its input's output (the types listed read only deltas or indexes) */
static int backward_reads_input(LAYER_TYPE t)
{
    return !(t == UPSAMPLE3D || t == ROUTE || t == DUALSPLIT || t == SHORTCUT || t == DROPOUT || t == MAXPOOL3D);
}

static void need(plan *p, int step)
{
    if(p->need_hi < 0){ p->need_hi = p->need_lo = step; return; }
    if(step > p->need_hi) p->need_hi = step;
    if(step < p->need_lo) p->need_lo = step;
}

/* the first layer holding layer i's output buffer (-1: the GPU buffers are shared differently) */
static int root_of(const network *net, int i)
{
    int j;
    for(j = 0; j < i; ++j) if(net->layers[j].output == net->layers[i].output) break;
#ifdef GPU
    if(net->layers[j].output_gpu != net->layers[i].output_gpu) return -1;
#endif
    return j;
}

/* layer i can take part in rebuilding its buffer: as its root (from x_norm, or an [upsample3d] from its input), or
 * as a later holder whose forward pass can run again ([shortcut] in place, seeded [dropout], shared [route]) */
static int rebuildable(const network *net, int i, int root)
{
    const layer *l = &net->layers[i];
    if(net->inference) return 1;   /* nothing is read after the forward pass but what make_plan keeps */
    if(i == root){
        if((l->type == CONV3D || l->type == DECONV3D) && l->batch_normalize && l->x_norm && l->delta) return 1;
        return l->type == UPSAMPLE3D && i > 0;
    }
    if(l->type == SHORTCUT || l->type == ROUTE || l->type == DUALSPLIT) return 1;
    return l->type == DROPOUT && l->forward == forward_dropout_seeded;
}

/* the layer's forward pass writes into the buffer it holds (a shared [route] does not) */
static int changes(const layer *l) { return l->type != ROUTE && l->type != DUALSPLIT; }

/* root[i], p[root] for every buffer; 0, or 1 when the network is not one this knows */
static int make_plan(network *net, int *root, plan *p)
{
    int i, k, m, n = net->n, in[BUFFER_PLAN_MAX_INPUTS];
    for(i = 0; i < n; ++i){
        if(net->layers[i].stopbackward || layer_inputs(net, i, in) < 0 || (root[i] = root_of(net, i)) < 0) return 1;
        p[i].ok = 1; p[i].last_change = -1; p[i].fwd_last = i; p[i].need_lo = p[i].need_hi = -1;
    }
    for(i = 0; i < n; ++i){
        layer *l = &net->layers[i];
        plan *b = &p[root[i]];
        if(!l->output || i == n - 1 || !rebuildable(net, i, root[i])) b->ok = 0;
#ifdef GPU
        if(gpu_index >= 0 && !l->output_gpu) b->ok = 0;
#endif
        if(changes(l) && i > b->last_change) b->last_change = i;
        m = layer_inputs(net, i, in);
        for(k = 0; k < m; ++k){
            plan *q = &p[root[in[k]]];
            if(root[in[k]] == root[i]) continue;   /* a holder reading its own buffer */
            if(i > q->fwd_last) q->fwd_last = i;
            if(DBISL != BLANK && l->type == DBISL) q->ok = 0;   /* the loss reads its heads after backward too */
            /* only the layer before is an input of these types (net.input); the other edges are [route]-like */
            else if(!net->inference && backward_reads_input(l->type) && in[k] == i - 1) need(q, i);
        }
        if(net->inference) continue;
        /* a holder's own backward reads the buffer */
        if((l->type == CONV3D || l->type == DECONV3D) && c3_backward_reads_output(l)) need(b, i);
        if(l->type == SHORTCUT && l->activation != LINEAR) need(b, i);
    }
    /* from the top down: a buffer rebuilt at step s needs the other buffers its holders read at s, as they were when
     * read in the forward pass (rebuilt too, or kept and not changed after that) */
    for(i = n - 1; i >= 0; --i){
        if(root[i] != i || !p[i].ok || p[i].need_hi < 0) continue;
        int j, s = p[i].need_hi, dep;
        for(j = i; j < n; ++j){
            layer *l = &net->layers[j];
            if(root[j] != i) continue;
            dep = l->type == SHORTCUT ? l->index : l->type == UPSAMPLE3D ? j - 1 : -1;
            if(dep < 0 || root[dep] == i) continue;
            plan *q = &p[root[dep]];
            if(q->last_change > j) p[i].ok = 0;        /* changed after this holder read it */
            else if(q->ok) need(q, s);
        }
    }
    return 0;
}

int network_recompute_outputs(network *net, size_t *before, size_t *after, size_t *bound, char *err, size_t errlen)
{
    int i, n = net->n, nb = 0, rc = 0;
    size_t top = 0;
    float *arena = 0, *arena_gpu = 0;
    *before = *after = *bound = 0;
    if(net->output_arena || n < 2) return 1;
    plan *p = calloc(n, sizeof(plan));
    arena_block *b = calloc(n, sizeof(arena_block));
    int *block = calloc(n, sizeof(int)), *root = calloc(n, sizeof(int));
    if(!p || !b || !block || !root) rc = -1;
    else if(make_plan(net, root, p)) rc = 1;
    if(rc == 0){
        /* steps: forward step i at time i, backward step i at time 2n - 1 - i */
        for(i = 0; i < n; ++i){
            block[i] = -1;
            if(root[i] != i || !p[i].ok) continue;
            arena_block *a = &b[nb];
            size_t m = (size_t)net->layers[i].outputs * net->layers[i].batch;
            a->n = arena_round(m);
            a->nspan = 1;
            a->lo[0] = i; a->hi[0] = p[i].fwd_last;
            if(p[i].need_hi >= 0){
                a->nspan = 2;
                a->lo[1] = 2 * n - 1 - p[i].need_hi; a->hi[1] = 2 * n - 1 - p[i].need_lo;
            }
            *before += m * sizeof(float);
            block[i] = nb++;
        }
        if(!nb) rc = 1;
    }
    if(rc == 0 && (top = arena_place(b, nb)) == (size_t)-1){ top = 0; rc = -1; }
    if(rc == 0 && !(arena = calloc(top, sizeof(float)))) rc = -1;
#ifdef GPU
    if(rc == 0 && gpu_index >= 0 && cuda3d_make_array(&arena_gpu, 0, top)){ cuda3d_take_error(err, errlen); rc = -2; }
#endif
    if(rc == -1) snprintf(err, errlen, "out of memory for %zu MiB of outputs", top >> 18);
    if(rc){
        free(arena);
        *before = 0;
    } else {
        for(i = 0; i < n; ++i){
            layer *l = &net->layers[i];
            int r = root[i];
            if(block[r] < 0) continue;
            int bn = l->type == CONV3D || l->type == DECONV3D, drop = l->type == DROPOUT;
            arena_take(l, 0, r == i, arena, arena_gpu, b[block[r]].off);
#ifdef GPU
            l->recompute_gpu = bn ? c3_recompute_output_gpu : drop ? rebuild_dropout_seeded_gpu : l->forward_gpu;
#endif
            l->recompute = bn ? c3_recompute_output : drop ? rebuild_dropout_seeded : l->forward;
            l->recompute_before = p[r].need_hi >= 0 ? p[r].need_hi + 1 : 0;
        }
        net->output_arena = arena;
        net->output_arena_gpu = arena_gpu;
        net->output_arena_n = top;
        *after = top * sizeof(float);
        *bound = arena_most_alive(b, nb, 2 * n);
    }
    free(p); free(b); free(block); free(root);
    return rc < 0 ? -1 : rc;
}
