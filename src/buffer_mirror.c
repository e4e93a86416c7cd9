/* Makes the device twins of a GPU network's layer outputs and deltas after the sharings planned on the host (src/buffer_mirror.h). */
#include <stdio.h>
#include "buffer_mirror.h"
#include "buffer_plan.h"
#include "layers3d.h"

#ifdef GPU
#include "cuda3d.h"

static int device_alloc(float **p, size_t n, void *ctx, char *err, size_t errlen)
{
    (void)ctx;
    if(cuda3d_make_array(p, 0, n)){
        cuda3d_take_error(err, errlen);
        return -1;
    }
    return 0;
}

static void device_release(float *p, void *ctx) { (void)ctx; cuda_free(p); }

static const mirror_ops device_ops = { device_alloc, device_release, 0 };

/* slot k of layer l: 0 output, 1 delta; gpu: the device twin */
static float **slot(layer *l, int k, int gpu)
{
    if(gpu) return k ? &l->delta_gpu : &l->output_gpu;
    return k ? &l->delta : &l->output;
}


void network_drop_device_buffers(network *net, const mirror_ops *ops)
{
    int i, j, k, m;
    if(!ops) ops = &device_ops;
    for(i = 0; i < net->n; ++i){
        layer *l = &net->layers[i];
        if(!buffer_share_known_type(l->type) || (DBISL != BLANK && l->type == DBISL)) continue;
        for(k = 0; k < 2; ++k){
            float *g = *slot(l, k, 1);
            if(!g) continue;
            for(j = 0; j < net->n; ++j)
                for(m = 0; m < 2; ++m) if(*slot(&net->layers[j], m, 1) == g) *slot(&net->layers[j], m, 1) = 0;
            if(net->output_gpu == g) net->output_gpu = 0;
            ops->release(g, ops->ctx);
        }
    }
}

/* the twin of host buffer h from the arenas (made once), or 1 when h is not in an arena; 0, or -1 with err */
static int arena_twin(network *net, const mirror_ops *ops, const float *h, float **g, char *err, size_t errlen)
{
    float *const arena[2] = { net->output_arena, net->delta_arena };
    float **twin[2] = { &net->output_arena_gpu, &net->delta_arena_gpu };
    const size_t n[2] = { net->output_arena_n, net->delta_arena_n };
    int a;
    for(a = 0; a < 2; ++a){
        if(!buffer_in_arena(h, arena[a], n[a])) continue;
        if(!*twin[a] && ops->alloc(twin[a], n[a], ops->ctx, err, errlen)) return -1;
        *g = *twin[a] + (h - arena[a]);
        return 0;
    }
    return 1;
}

/* a twin for host buffer h, held by every layer slot that holds h: one that a holder has already, or a new one of
 * the largest batch * outputs among the holders; 0, or -1 with err */
static int shared_twin(network *net, const mirror_ops *ops, const float *h, char *err, size_t errlen)
{
    int j, m;
    size_t most = 0;
    float *g = 0;
    for(j = 0; j < net->n; ++j) for(m = 0; m < 2; ++m){
        layer *o = &net->layers[j];
        if(*slot(o, m, 0) != h) continue;
        if(*slot(o, m, 1)) g = *slot(o, m, 1);
        if((size_t)o->outputs * o->batch > most) most = (size_t)o->outputs * o->batch;
    }
    if(!g && ops->alloc(&g, most, ops->ctx, err, errlen)) return -1;
    for(j = 0; j < net->n; ++j) for(m = 0; m < 2; ++m)
        if(*slot(&net->layers[j], m, 0) == h && !*slot(&net->layers[j], m, 1)) *slot(&net->layers[j], m, 1) = g;
    return 0;
}

int network_mirror_buffers(network *net, const mirror_ops *ops, char *err, size_t errlen)
{
    int i, k, r;
    if(!ops) ops = &device_ops;
    char why[768];
    for(i = 0; i < net->n; ++i){
        layer *l = &net->layers[i];
        for(k = 0; k < 2; ++k){
            const float *h = *slot(l, k, 0);
            if(!h || *slot(l, k, 1)) continue;
            why[0] = 0;
            if((r = arena_twin(net, ops, h, slot(l, k, 1), why, sizeof(why))) == 1) r = shared_twin(net, ops, h, why, sizeof(why));
            if(r){
                snprintf(err, errlen, "layer %d (%s), its %s: %s (a smaller batch or crop needs less)", i, get_layer_string(l->type),
                         k ? "gradient" : "output", why);
                return -1;
            }
        }
    }
    if(net->n > 0) net->output_gpu = get_network_output_layer(net).output_gpu;   /* as Darknet's parser sets it */
    return 0;
}
#endif
