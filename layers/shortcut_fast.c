/* Fused CPU forward and backward of stock [shortcut] for equal shapes: the element-wise form of Darknet's copy + shortcut_cpu + activation. */
#include "shortcut_fast.h"
#include "activations.h"

/* the threaded loops pay off above this many elements */
#define SHORTCUT_OMP_MIN 65536

int shortcut_fast_applies(const network *net, int i)
{
    if(!net || i < 1 || i >= net->n) return 0;
    const layer *l = &net->layers[i];
    if(l->type != SHORTCUT || l->index < 0 || l->index >= net->n) return 0;
    const layer *from = &net->layers[l->index], *prev = &net->layers[i - 1];
    if(l->w != l->out_w || l->h != l->out_h || l->c != l->out_c) return 0;
    if(l->outputs != l->inputs || l->outputs != l->out_w * l->out_h * l->out_c) return 0;
    /* the input is the previous layer's output, `from` the added one: both must be the output's size */
    if(prev->outputs != l->outputs || from->outputs != l->outputs) return 0;
    if(prev->batch != l->batch || from->batch != l->batch) return 0;
    return 1;
}

void forward_shortcut_fast(layer l, network net)
{
    long n = (long)l.outputs * l.batch, i;
    const float a = l.alpha, b = l.beta;
    const float *in = net.input, *add = net.layers[l.index].output;
    float *out = l.output;
    #pragma omp parallel for schedule(static) if(n >= SHORTCUT_OMP_MIN)
    for(i = 0; i < n; ++i) out[i] = a * in[i] + b * add[i];
    if(l.activation != LINEAR) activate_array(l.output, (int)n, l.activation);
}

void backward_shortcut_fast(layer l, network net)
{
    long n = (long)l.outputs * l.batch, i;
    const float a = l.alpha, b = l.beta;
    if(l.activation != LINEAR) gradient_array(l.output, (int)n, l.activation, l.delta);
    const float *d = l.delta;
    float *nd = net.delta, *fd = net.layers[l.index].delta;
    if(nd && fd){
        /* nd and fd are the same buffer when `from` is the previous layer: per element, the two adds stay in order */
        #pragma omp parallel for schedule(static) if(n >= SHORTCUT_OMP_MIN)
        for(i = 0; i < n; ++i){ nd[i] += a * d[i]; fd[i] = fd[i] + b * d[i]; }
    } else if(nd){
        #pragma omp parallel for schedule(static) if(n >= SHORTCUT_OMP_MIN)
        for(i = 0; i < n; ++i) nd[i] += a * d[i];
    } else if(fd){
        #pragma omp parallel for schedule(static) if(n >= SHORTCUT_OMP_MIN)
        for(i = 0; i < n; ++i) fd[i] = fd[i] + b * d[i];
    }
}
