/* Lets a [shortcut] add in place into the output buffer of the layer before it when no other layer reads that output (src/shortcut_share.h). */
#include <stdlib.h>
#include "shortcut_share.h"
#include "layers3d.h"
#include "conv3d_common.h"
#include "shortcut_fast.h"
#include "buffer_plan.h"

/* nread[i]: how many layers read layer i's output; -1 when a layer type is not known */
static int count_readers(network *net, int *nread)
{
    int i, k, m, in[BUFFER_PLAN_MAX_INPUTS];
    for(i = 0; i < net->n; ++i){
        if((m = layer_inputs(net, i, in)) < 0) return -1;
        for(k = 0; k < m; ++k) ++nread[in[k]];
    }
    return 0;
}

/* a layer other than `self` holds buffer p as its output (gpu: its device output) */
static int held_elsewhere(network *net, const float *p, int self, int gpu)
{
    int j;
    for(j = 0; j < net->n; ++j){
        const float *q = net->layers[j].output;
#ifdef GPU
        if(gpu) q = net->layers[j].output_gpu;
#endif
        if(j != self && q == p) return 1;
    }
    return 0;
}

static int can_share(network *net, const int *nread, int i)
{
    layer *l = &net->layers[i], *prev;
    if(l->type != SHORTCUT || !shortcut_fast_applies(net, i) || l->index == i - 1) return 0;
    prev = &net->layers[i - 1];
    if(prev->type != CONV3D && prev->type != DECONV3D) return 0;
    if(c3_backward_reads_output(prev) || nread[i - 1] != 1 || !l->output || !prev->output) return 0;
    if(held_elsewhere(net, l->output, i, 0) || held_elsewhere(net, prev->output, i - 1, 0)) return 0;
#ifdef GPU
    if(!l->output_gpu != !prev->output_gpu) return 0;
    if(l->output_gpu && (held_elsewhere(net, l->output_gpu, i, 1) || held_elsewhere(net, prev->output_gpu, i - 1, 1))) return 0;
#endif
    return 1;
}

int network_share_shortcut_outputs(network *net, size_t *saved)
{
    int i, n = net->n, changed = 0;
    int *nread = calloc(n > 0 ? n : 1, sizeof(int));
    if(!nread || count_readers(net, nread)){
        free(nread);
        return 0;
    }
    for(i = 1; i < n; ++i){
        layer *l = &net->layers[i], *prev = &net->layers[i - 1];
        if(!can_share(net, nread, i)) continue;
        free(l->output);
        l->output = prev->output;
#ifdef GPU
        if(l->output_gpu) cuda_free(l->output_gpu);   /* none while the device twins are deferred (layer3d.h) */
        l->output_gpu = prev->output_gpu;
        l->forward_gpu = forward_shortcut_fast_gpu;   /* adds in place; Darknet's would copy the input onto itself */
        l->backward_gpu = backward_shortcut_fast_gpu;
#endif
        *saved += (size_t)l->outputs * l->batch * sizeof(float);
        ++changed;
    }
    free(nread);
    return changed;
}
