/* CPU forward and backward of stock [route] as threaded copies and adds, and a single-input [route] sharing its input's buffers (layers/route_fast.h). */
#include <string.h>
#include "route_fast.h"

#define ROUTE_BLOCK 16384

static void copy_par(float *dst, const float *src, size_t n)
{
    long nb = (long)((n + ROUTE_BLOCK - 1) / ROUTE_BLOCK), b;
    #pragma omp parallel for schedule(static) if(nb >= 8)
    for(b = 0; b < nb; ++b){
        size_t i0 = (size_t)b * ROUTE_BLOCK, m = n - i0 < ROUTE_BLOCK ? n - i0 : ROUTE_BLOCK;
        memcpy(dst + i0, src + i0, m * sizeof(float));
    }
}

static void add_par(float *y, const float *x, size_t n)
{
    long i;
    #pragma omp parallel for schedule(static) if(n >= 8 * ROUTE_BLOCK)
    for(i = 0; i < (long)n; ++i) y[i] += x[i];
}

void forward_route_fast(layer l, network net)
{
    int i, j, offset = 0;
    for(i = 0; i < l.n; ++i){
        const float *in = net.layers[l.input_layers[i]].output;
        int n = l.input_sizes[i];
        for(j = 0; j < l.batch; ++j) copy_par(l.output + offset + (size_t)j * l.outputs, in + (size_t)j * n, (size_t)n);
        offset += n;
    }
}

void backward_route_fast(layer l, network net)
{
    int i, j, offset = 0;
    for(i = 0; i < l.n; ++i){
        float *d = net.layers[l.input_layers[i]].delta;
        int n = l.input_sizes[i];
        if(d) for(j = 0; j < l.batch; ++j) add_par(d + (size_t)j * n, l.delta + offset + (size_t)j * l.outputs, (size_t)n);
        offset += n;
    }
}

static void route_shared_pass(layer l, network net) { (void)l; (void)net; }

int route_share_input(network *net, int i)
{
    layer *l = &net->layers[i];
    if(l->type != ROUTE || l->n != 1) return 0;
    int s = l->input_layers[0];
    if(s < 0 || s >= i) return 0;
    layer *src = &net->layers[s];
    if(l->outputs != src->outputs || l->batch != src->batch || !l->output || !src->output) return 0;
    if(i + 1 < net->n && net->layers[i + 1].type == DROPOUT) return 0;   /* it would scale the input's output in place */
    if(!l->delta != !src->delta) return 0;
#ifdef GPU
    if(!l->output_gpu != !src->output_gpu || !l->delta_gpu != !src->delta_gpu) return 0;
    if(l->output_gpu) cuda_free(l->output_gpu);
    if(l->delta_gpu) cuda_free(l->delta_gpu);
    l->output_gpu = src->output_gpu;
    l->delta_gpu = src->delta_gpu;
    l->forward_gpu = route_shared_pass;
    l->backward_gpu = route_shared_pass;
#endif
    free(l->output);
    free(l->delta);
    l->output = src->output;
    l->delta = src->delta;
    l->forward = route_shared_pass;
    l->backward = route_shared_pass;
    return 1;
}
