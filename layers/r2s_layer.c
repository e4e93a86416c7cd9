/* [r2s]: the regression-to-segmentation transform Y = sigmoid(k*x) of the DBiSL paper (k < 0 because distances are negative inside). */
#include <math.h>
#include <stdlib.h>
#include "r2s_layer.h"
#include "numerics3d.h"
#include "layer3d.h"
#include "cfg_options.h"
#include "layers3d.h"

void r2s_forward_cpu(int n, float k, const float *x, float *y)
{
    int i;
    #pragma omp parallel for if(n > 65536)
    for(i = 0; i < n; ++i){
        y[i] = sigmoid3d(k * x[i]);
    }
}

void r2s_backward_cpu(int n, float k, const float *y, const float *dy, float *dx)
{
    int i;
    #pragma omp parallel for if(n > 65536)
    for(i = 0; i < n; ++i) dx[i] += k * y[i] * (1.f - y[i]) * dy[i];
}

void r2s_tanh_forward_cpu(int n, float k, const float *x, float *y)
{
    int i;
    #pragma omp parallel for if(n > 65536)
    for(i = 0; i < n; ++i) y[i] = sigmoid3d(k * tanhf(x[i]));
}

void r2s_tanh_backward_cpu(int n, float k, const float *x, const float *y, const float *dy, float *dx)
{
    int i;
    #pragma omp parallel for if(n > 65536)
    for(i = 0; i < n; ++i){
        float t = tanhf(x[i]);
        dx[i] += k * y[i] * (1.f - y[i]) * dy[i] * (1.f - t * t);
    }
}

layer make_r2s_layer(int batch, int c, int d, int h, int w, float k, ACTIVATION input_act)
{
    layer l = {0};
    l.type = R2S;
    dims3d s = {c, d, h, w};
    layer3d_set_shapes(&l, batch, s, s);
    l.alpha = k;
    l.activation = input_act;
    l.forward = forward_r2s_layer;
    l.backward = backward_r2s_layer;
#ifdef GPU
    l.forward_gpu = forward_r2s_layer_gpu;
    l.backward_gpu = backward_r2s_layer_gpu;
#endif
    fprintf(stderr, "r2s        k=%-8g %-8s%4d x%4d x%4d x%4d -> %4d x%4d x%4d x%4d\n", k, input_act == TANH ? "preact" : "", c, d, h, w, c, d, h, w);
    return l;
}

void forward_r2s_layer(const layer l, network net)
{
    if(l.activation == TANH) r2s_tanh_forward_cpu(l.batch * l.outputs, l.alpha, net.input, l.output);
    else r2s_forward_cpu(l.batch * l.outputs, l.alpha, net.input, l.output);
}

void backward_r2s_layer(const layer l, network net)
{
    if(!net.delta) return;
    if(l.activation == TANH) r2s_tanh_backward_cpu(l.batch * l.outputs, l.alpha, net.input, l.output, l.delta, net.delta);
    else r2s_backward_cpu(l.batch * l.outputs, l.alpha, l.output, l.delta, net.delta);
}

int parse_r2s_section(list *options, size_params params, layer *l, char *err, size_t errlen)
{
    dims3d in;
    float k;
    if(params_dims(params, &in, err, errlen)) return -1;
    if(cfg_float(options, "[r2s]", "k", -1500.f, 0, &k, err, errlen)) return -1;
    if(k == 0){ snprintf(err, errlen, "key 'k': must not be 0"); return -1; }
    static const char *inputs[] = {"distance", "preact", 0};
    int input;
    if(cfg_choice(options, "input", "distance", inputs, &input, err, errlen)) return -1;
    *l = make_r2s_layer(params.batch, in.c, in.d, in.h, in.w, k, input ? TANH : LINEAR);
    if(!layer3d_buffers_ok(l)) return layer3d_alloc_error(err, errlen);
    return 0;
}
