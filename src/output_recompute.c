/* Places the rebuildable outputs of a training network in one arena by lifetime and marks where the backward pass rebuilds them (src/output_recompute.h). */
#include <stdio.h>
#include <stdlib.h>
#include "layer3d.h"
#include "output_recompute.h"
#include "buffer_plan.h"
#include "layers3d.h"
#include "conv3d_common.h"
#include "dropout_seeded.h"
#include "cuda3d.h"

/* one output buffer and the layers that hold it, in index order: the layer that writes it first (root) and the
 * ones that take it over (a [dropout] or in-place [shortcut] changes it in place, a single-input [route] only
 * shares it). Time: forward step i at time i, backward step i at time 2n - 1 - i. */
typedef struct {
    int ok;                 /* rebuildable */
    int last_change;        /* the highest index of a holder that writes into it */
    int fwd_last;           /* the last forward step that reads it */
    int need_lo, need_hi;   /* the backward steps (layer indices) that read it; need_hi < 0: none */
    unsigned char *used;    /* used[t]: written or read at time t */
} plan;

/* runs of time a buffer rebuilt from x_norm alone is not needed; it is rebuilt at the end of each */
#define REBUILDS ((int)(sizeof(((layer *)0)->recompute_forward) / sizeof(int)))
_Static_assert(sizeof(((layer *)0)->recompute_forward) == sizeof(((layer *)0)->recompute_backward), "as many rebuilds each way");
_Static_assert(2 * sizeof(((layer *)0)->recompute_forward) / sizeof(int) + 2 <= ARENA_MAX_SPANS, "a buffer's spans fit an arena_block");
typedef struct { int n, lo[REBUILDS], hi[REBUILDS]; } gaps;

/* the backward pass of a layer of type t reads its input's output (the types listed read only deltas or indexes) */
static int backward_reads_input(LAYER_TYPE t)
{
    return !(t == UPSAMPLE3D || t == ROUTE || t == DUALSPLIT || t == SHORTCUT || t == DROPOUT || t == MAXPOOL3D);
}

static void need(plan *p, int n, int step)
{
    p->used[2 * n - 1 - step] = 1;
    if(p->need_hi < 0){ p->need_hi = p->need_lo = step; return; }
    if(step > p->need_hi) p->need_hi = step;
    if(step < p->need_lo) p->need_lo = step;
}

/* the REBUILDS longest runs of unused times inside [t0, t1], in time order */
static void longest_gaps(const unsigned char *used, int t0, int t1, gaps *g)
{
    int t, k, m, lo;
    g->n = 0;
    for(t = t0; t <= t1; ++t){
        if(used[t]) continue;
        for(lo = t; t < t1 && !used[t + 1]; ++t);
        if(g->n < REBUILDS) m = g->n++;
        else{
            for(m = 0, k = 1; k < REBUILDS; ++k) if(g->hi[k] - g->lo[k] < g->hi[m] - g->lo[m]) m = k;
            if(t - lo <= g->hi[m] - g->lo[m]) continue;
        }
        g->lo[m] = lo; g->hi[m] = t;
    }
    for(k = 1; k < g->n; ++k) for(m = k; m > 0 && g->lo[m] < g->lo[m - 1]; --m){
        int a = g->lo[m], b = g->hi[m];
        g->lo[m] = g->lo[m - 1]; g->hi[m] = g->hi[m - 1];
        g->lo[m - 1] = a; g->hi[m - 1] = b;
    }
}

/* the spans of [t0, t1] less the gaps, appended to a */
static void add_spans(arena_block *a, int t0, int t1, const gaps *g)
{
    int k;
    a->lo[a->nspan] = t0;
    for(k = 0; k < g->n; ++k){
        a->hi[a->nspan++] = g->lo[k] - 1;
        a->lo[a->nspan] = g->hi[k] + 1;
    }
    a->hi[a->nspan++] = t1;
}

/* a [conv3d]/[deconv3d] with batch norm in a training network: its output is rebuilt from x_norm alone */
static int rebuilt_from_x_norm(const layer *l)
{
    return (l->type == CONV3D || l->type == DECONV3D) && l->batch_normalize && l->x_norm && l->delta;
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
    if(i == root) return rebuilt_from_x_norm(l) || (l->type == UPSAMPLE3D && i > 0);
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
        p[i].used[i] = 1;
    }
    for(i = 0; i < n; ++i){
        layer *l = &net->layers[i];
        plan *b = &p[root[i]];
        if(!l->output || i == n - 1 || !rebuildable(net, i, root[i])) b->ok = 0;
#ifdef GPU
        if(gpu_index >= 0 && !layer3d_defer_device && !l->output_gpu) b->ok = 0;
#endif
        if(changes(l) && i > b->last_change) b->last_change = i;
        m = layer_inputs(net, i, in);
        for(k = 0; k < m; ++k){
            plan *q = &p[root[in[k]]];
            if(root[in[k]] == root[i]) continue;   /* a holder reading its own buffer */
            if(i > q->fwd_last) q->fwd_last = i;
            q->used[i] = 1;
            if(DBISL != BLANK && l->type == DBISL) q->ok = 0;   /* the loss reads its heads after backward too */
            /* only the layer before is an input of these types (net.input); the other edges are [route]-like */
            else if(!net->inference && backward_reads_input(l->type) && in[k] == i - 1) need(q, n, i);
        }
        if(net->inference) continue;
        /* a holder's own backward reads the buffer */
        if((l->type == CONV3D || l->type == DECONV3D) && c3_backward_reads_output(l)) need(b, n, i);
        if(l->type == SHORTCUT && l->activation != LINEAR) need(b, n, i);
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
            else if(q->ok) need(q, n, s);
        }
    }
    return 0;
}

/* the arena spans of root i's buffer; a buffer no later holder changes, rebuilt from x_norm alone, is not kept through
 * the longest runs of forward (fg) and backward (bg) steps that do not read it (the runs between the two passes are
 * the rebuild before backward of every buffer) */
static void buffer_spans(const network *net, plan *p, int i, arena_block *a, gaps *fg, gaps *bg)
{
    int n = net->n, x = p->last_change == i && rebuilt_from_x_norm(&net->layers[i]);
    fg->n = bg->n = 0;
    if(x) longest_gaps(p->used, i, p->fwd_last, fg);
    a->nspan = 0;
    add_spans(a, i, p->fwd_last, fg);
    if(p->need_hi < 0) return;
    int t0 = 2 * n - 1 - p->need_hi, t1 = 2 * n - 1 - p->need_lo;
    if(x) longest_gaps(p->used, t0, t1, bg);
    add_spans(a, t0, t1, bg);
}

/* layer l, holder of root r's buffer, rebuilds it where the plan says (recompute_before; the root after each gap) */
static void set_rebuilds(network *net, layer *l, int r, const plan *p, const gaps *fg, const gaps *bg)
{
    int k, n = net->n, root = l == &net->layers[r];
    l->recompute_before = p->need_hi >= 0 ? p->need_hi + 1 : 0;
    for(k = 0; k < REBUILDS; ++k){
        l->recompute_forward[k] = root && k < fg->n ? fg->hi[k] + 2 : 0;               /* before forward step hi + 1 */
        l->recompute_backward[k] = root && k < bg->n ? 2 * n - 1 - (bg->hi[k] + 1) + 1 : 0;   /* before the step at time hi + 1 */
    }
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
    unsigned char *used = calloc((size_t)n * 2 * n, 1);
    gaps *fg = calloc(n, sizeof(gaps)), *bg = calloc(n, sizeof(gaps));
    if(!p || !b || !block || !root || !used || !fg || !bg) rc = -1;
    else{
        for(i = 0; i < n; ++i) p[i].used = used + (size_t)i * 2 * n;
        if(make_plan(net, root, p)) rc = 1;
    }
    if(rc == 0){
        /* steps: forward step i at time i, backward step i at time 2n - 1 - i */
        for(i = 0; i < n; ++i){
            block[i] = -1;
            if(root[i] != i || !p[i].ok) continue;
            arena_block *a = &b[nb];
            size_t m = (size_t)net->layers[i].outputs * net->layers[i].batch;
            a->n = arena_round(m);
            buffer_spans(net, &p[i], i, a, &fg[i], &bg[i]);
            *before += m * sizeof(float);
            block[i] = nb++;
        }
        if(!nb) rc = 1;
    }
    if(rc == 0 && (top = arena_place(b, nb)) == (size_t)-1){ top = 0; rc = -1; }
    if(rc == 0 && !(arena = calloc(top, sizeof(float)))) rc = -1;
#ifdef GPU
    if(rc == 0 && gpu_index >= 0 && !layer3d_defer_device && cuda3d_make_array(&arena_gpu, 0, top)){ cuda3d_take_error(err, errlen); rc = -2; }
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
            set_rebuilds(net, l, r, &p[r], &fg[r], &bg[r]);
        }
        net->output_arena = arena;
        net->output_arena_gpu = arena_gpu;
        net->output_arena_n = top;
        *after = top * sizeof(float);
        *bound = arena_most_alive(b, nb, 2 * n);
    }
    free(p); free(b); free(block); free(root); free(used); free(fg); free(bg);
    return rc < 0 ? -1 : rc;
}
