/* Gives the gradient (delta) buffers of a training network's layers one shared buffer wherever their lifetimes in the backward pass do not overlap (src/delta_share.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "delta_share.h"
#include "layers3d.h"
#include "dbisl_layer.h"
#include "cuda3d.h"

/* Layer types whose forward pass writes no delta and whose backward writes only into the deltas the rules of
 * last_writers know: net.delta (the layer before), [route]/[dualsplit] inputs, the [shortcut] source, the heads of
 * [dbisl]. A network with any other type keeps one delta per layer. */
static int known_type(LAYER_TYPE t)
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
        if(!known_type(l->type) || l->stopbackward) return -1;
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
    size_t n;           /* floats */
    int id;             /* its index in the group table */
} group;

typedef struct {
    size_t n;
    int lo;             /* the current occupant's lo: free for a group whose hi is below it */
    int last_group;
    float *cpu;
#ifdef GPU
    float *gpu;
#endif
} slot;

static int by_hi_desc(const void *a, const void *b)
{
    const group *x = a, *y = b;
    if(x->hi != y->hi) return y->hi - x->hi;
    return y->lo - x->lo;
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
            r->lo = i; r->hi = last[i]; r->n = m; r->id = *ng;
            *before += m * sizeof(float);
            root[i] = (*ng)++;
        } else {
            group *r = &g[root[i]];
            if(last[i] > r->hi) r->hi = last[i];
            if(m > r->n) return 1;   /* a holder larger than the buffer */
        }
    }
    return 0;
}

/* slots, in backward order: each group takes a free slot (its occupant done before the group is first written), the
 * smallest that fits, else the largest free one grown, else a new one; slot_of[group id]. Returns the slot count. */
static int assign_slots(network *net, const group *g, int ng, slot *s, int *slot_of)
{
    int i, j, ns = 0;
    group *order = malloc((ng ? ng : 1) * sizeof(group));
    if(!order) return -1;
    memcpy(order, g, ng * sizeof(group));
    qsort(order, ng, sizeof(group), by_hi_desc);
    for(i = 0; i < ng; ++i){
        const group *o = &order[i];
        int best = -1, grow = -1;
        for(j = 0; j < ns; ++j){
            if(s[j].lo <= o->hi) continue;
            if(s[j].n >= o->n && (best < 0 || s[j].n < s[best].n)) best = j;
            if(grow < 0 || s[j].n > s[grow].n) grow = j;
        }
        if(best < 0) best = grow;
        if(best < 0){ best = ns++; s[best].n = 0; s[best].last_group = -1; }
        if(o->n > s[best].n) s[best].n = o->n;
        /* the previous occupant is zeroed after its last use, so that this group starts from zeros */
        if(s[best].last_group >= 0) net->layers[g[s[best].last_group].lo].delta_release = 1;
        s[best].lo = o->lo;
        s[best].last_group = o->id;
        slot_of[o->id] = best;
    }
    free(order);
    return ns;
}

static void free_slots(slot *s, int ns)
{
    int j;
    for(j = 0; j < ns; ++j){
        free(s[j].cpu);
#ifdef GPU
        cuda3d_free((void **)&s[j].gpu);
#endif
    }
}

static int alloc_slots(slot *s, int ns, size_t *after, char *err, size_t errlen)
{
    int j;
    for(j = 0; j < ns; ++j){
        *after += s[j].n * sizeof(float);
        s[j].cpu = calloc(s[j].n, sizeof(float));
        if(!s[j].cpu){ snprintf(err, errlen, "out of memory for a %zu MiB buffer", s[j].n >> 18); return -1; }
#ifdef GPU
        if(gpu_index >= 0 && cuda3d_make_array(&s[j].gpu, 0, s[j].n)){ cuda3d_take_error(err, errlen); return -1; }
#endif
    }
    return 0;
}

/* every old buffer freed once, every holder pointed at its group's slot */
static void rewire(network *net, const int *root, const group *g, const slot *s, const int *slot_of)
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
        const slot *t = &s[slot_of[root[i]]];
        l->delta = t->cpu;
#ifdef GPU
        l->delta_gpu = gpu_index >= 0 ? t->gpu : 0;
#endif
    }
}

int network_share_deltas(network *net, size_t *before, size_t *after, char *err, size_t errlen)
{
    int i, n = net->n, ng = 0, ns = 0, rc = 0;
    *before = *after = 0;
    int *last = calloc(n, sizeof(int)), *root = calloc(n, sizeof(int)), *slot_of = calloc(n, sizeof(int));
    group *g = calloc(n, sizeof(group));
    slot *s = calloc(n, sizeof(slot));
    if(!last || !root || !slot_of || !g || !s) rc = -1;
    else if(last_writers(net, last) || make_groups(net, last, root, g, &ng, before)) rc = 1;
    else if((ns = assign_slots(net, g, ng, s, slot_of)) < 0) rc = -1;
    else if(alloc_slots(s, ns, after, err, errlen)) rc = -2;
    if(rc == -1) snprintf(err, errlen, "out of memory");
    if(rc){
        if(s) free_slots(s, ns);
        for(i = 0; i < n; ++i) net->layers[i].delta_release = 0;
        *after = *before;
    } else rewire(net, root, g, s, slot_of);
    free(last); free(root); free(slot_of); free(g); free(s);
    return rc < 0 ? -1 : rc;
}
