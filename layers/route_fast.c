/* CPU forward and backward of stock [route] as threaded copies and adds (layers/route_fast.h). */
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
