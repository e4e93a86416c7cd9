/* Which layers' outputs each layer reads, and the greedy placement of buffers with known lifetimes in one arena (src/buffer_plan.h). */
#include <stdlib.h>
#include "buffer_plan.h"
#include "layers3d.h"
#include "dbisl_layer.h"
#include "cuda3d.h"

int buffer_share_known_type(LAYER_TYPE t)
{
    return t == CONV3D || t == DECONV3D || t == UPSAMPLE3D || t == MAXPOOL3D || t == R2S || t == DTRANSFORM ||
           t == DUALSPLIT || t == ROUTE || t == SHORTCUT || t == DROPOUT || t == CONVOLUTIONAL || t == BATCHNORM ||
           t == ACTIVE || (DBISL != BLANK && t == DBISL);
}

static int push(int *in, int *k, int of)
{
    if(*k >= BUFFER_PLAN_MAX_INPUTS) return -1;
    in[(*k)++] = of;
    return 0;
}

int layer_inputs(const network *net, int i, int in[BUFFER_PLAN_MAX_INPUTS])
{
    const layer *l = &net->layers[i];
    int k = 0, j, bad = 0;
    if(!buffer_share_known_type(l->type)) return -1;
    if(i > 0) bad |= push(in, &k, i - 1);
    if(l->type == ROUTE || l->type == DUALSPLIT) for(j = 0; j < l->n; ++j) bad |= push(in, &k, l->input_layers[j]);
    if(l->type == SHORTCUT) bad |= push(in, &k, l->index);
    if(DBISL != BLANK && l->type == DBISL){
        for(j = 0; j < dbisl_decoders(*l); ++j){
            bad |= push(in, &k, dbisl_seg_input(*l, j));
            bad |= push(in, &k, dbisl_sdf_input(*l, j));
            bad |= push(in, &k, dbisl_s2r_input(*l, j));
            bad |= push(in, &k, dbisl_r2s_input(*l, j));
        }
    }
    if(bad) return -1;
    for(j = 0; j < k; ++j) if(in[j] < 0 || in[j] >= net->n) in[j--] = in[--k];   /* drop indices out of range */
    return k;
}

size_t arena_round(size_t n) { return (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN; }

int arena_overlap_time(const arena_block *a, const arena_block *b)
{
    int i, j;
    for(i = 0; i < a->nspan; ++i)
        for(j = 0; j < b->nspan; ++j)
            if(!(a->hi[i] < b->lo[j] || b->hi[j] < a->lo[i])) return 1;
    return 0;
}

int arena_overlap_memory(const arena_block *a, const arena_block *b) { return a->off < b->off + b->n && b->off < a->off + a->n; }

static int by_size_desc(const void *a, const void *b)
{
    const arena_block *x = *(const arena_block * const *)a, *y = *(const arena_block * const *)b;
    if(x->n != y->n) return x->n < y->n ? 1 : -1;
    return x->lo[0] - y->lo[0];
}

static int by_off(const void *a, const void *b)
{
    const arena_block *x = *(const arena_block * const *)a, *y = *(const arena_block * const *)b;
    return x->off < y->off ? -1 : x->off > y->off;
}

size_t arena_place(arena_block *b, int nb)
{
    int i, j, nbusy;
    size_t top = 0;
    arena_block **order = malloc((nb ? nb : 1) * sizeof(*order)), **busy = malloc((nb ? nb : 1) * sizeof(*busy));
    if(!order || !busy){ free(order); free(busy); return (size_t)-1; }
    for(i = 0; i < nb; ++i) order[i] = &b[i];
    qsort(order, nb, sizeof(*order), by_size_desc);
    for(i = 0; i < nb; ++i){
        arena_block *o = order[i];
        for(j = nbusy = 0; j < i; ++j) if(arena_overlap_time(o, order[j])) busy[nbusy++] = order[j];
        qsort(busy, nbusy, sizeof(*busy), by_off);
        o->off = 0;
        for(j = 0; j < nbusy; ++j){
            if(o->off + o->n <= busy[j]->off) break;
            if(busy[j]->off + busy[j]->n > o->off) o->off = busy[j]->off + busy[j]->n;
        }
        if(o->off + o->n > top) top = o->off + o->n;
    }
    free(order); free(busy);
    return top;
}

size_t arena_most_alive(const arena_block *b, int nb, int tmax)
{
    size_t best = 0;
    int t, k, s;
    for(t = 0; t <= tmax; ++t){
        size_t sum = 0;
        for(k = 0; k < nb; ++k)
            for(s = 0; s < b[k].nspan; ++s) if(b[k].lo[s] <= t && t <= b[k].hi[s]){ sum += b[k].n; break; }
        if(sum > best) best = sum;
    }
    return best * sizeof(float);
}

void arena_take(layer *l, int delta, int free_old, float *arena, float *arena_gpu, size_t off)
{
    float **p = delta ? &l->delta : &l->output;
#ifdef GPU
    float **g = delta ? &l->delta_gpu : &l->output_gpu;
    if(free_old && *g) cuda_free(*g);
    *g = arena_gpu ? arena_gpu + off : 0;
#else
    (void)arena_gpu;
#endif
    if(free_old) free(*p);
    *p = arena + off;
}
