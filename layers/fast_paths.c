/* Replaces the forward/backward of stock [dropout] (CPU and GPU), [route] (CPU) and equal-shape [shortcut] layers (CPU and GPU) with darknet3d's faster ones after a network is parsed, and lets a single-input [route] share its input's buffers. */
#include <stdlib.h>
#include "fast_paths.h"
#include "dropout_seeded.h"
#include "shortcut_fast.h"
#include "route_fast.h"
#ifdef GPU
#include "cuda.h"
#endif

int darknet3d_install_fast_paths(network *net)
{
    int i, n = 0;
    if(!net) return 0;
    for(i = 0; i < net->n; ++i){
        layer *l = &net->layers[i];
        if(l->type == DROPOUT && l->rand){
            float *r = realloc(l->rand, 2 * sizeof(float));   /* the seed only (dropout_seeded.h) */
            if(r) l->rand = r;
            l->forward = forward_dropout_seeded;
            l->backward = backward_dropout_seeded;
#ifdef GPU
            l->forward_gpu = forward_dropout_seeded_gpu;
            l->backward_gpu = backward_dropout_seeded_gpu;
            if(l->rand_gpu) cuda_free(l->rand_gpu);   /* the mask is recomputed from the seed */
            l->rand_gpu = 0;
#endif
            ++n;
        } else if(l->type == ROUTE && route_share_input(net, i)){
            ++n;
        } else if(l->type == ROUTE){
            l->forward = forward_route_fast;
            l->backward = backward_route_fast;
            ++n;
        } else if(shortcut_fast_applies(net, i)){
            l->forward = forward_shortcut_fast;
            l->backward = backward_shortcut_fast;
#ifdef GPU
            l->forward_gpu = forward_shortcut_fast_gpu;
            l->backward_gpu = backward_shortcut_fast_gpu;
#endif
            ++n;
        }
    }
    return n;
}
