/* What the tests of [conv3d]'s CPU loops share: a one-layer network of a given shape, fixed inputs, one forward and backward of the layer, and the relative error of two results. */
#ifndef CONV3D_TEST_H
#define CONV3D_TEST_H
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include "darknet.h"
#include "darknet3d.h"
#include "testlib.h"

/* a layer of c input channels and oc filters on d x h x w (kernel kd x kh x kw, stride sd along depth, 1 across, padding
 * pd, ph, pw); sd 0 means 1 */
typedef struct { int c, oc, d, h, w, kd, kh, kw, pd, ph, pw, sd; } c3t_shape;

static inline void c3t_fill(float *x, size_t n, double f)
{
    size_t i;
    for(i = 0; i < n; ++i) x[i] = (float)sin(f * (i + 1)) + 0.125f;
}

/* the next number of a fixed linear congruential stream *r, in lo..hi */
static inline int c3t_rand(unsigned *r, int lo, int hi)
{
    *r = *r * 1103515245u + 12345u;
    return lo + (int)((*r >> 16) % (unsigned)(hi - lo + 1));
}

/* how many random shapes a sweep runs: the environment variable name, else n */
static inline int c3t_sweep_count(const char *name, int n)
{
    const char *e = getenv(name);
    return e ? atoi(e) : n;
}

/* [net] takes one channel: a pointwise layer 0 makes s->c, and layer 1 is the layer under test, of kind ("conv3d" or
 * "deconv3d"), without batch-norm, linear; written to path */
static inline network *c3t_one_layer(const c3t_shape *s, int batch, const char *kind, const char *path)
{
    char cfg[1024];
    snprintf(cfg, sizeof(cfg),
             "[net]\nbatch=%d\nheight=%d\nwidth=%d\ndepth=%d\nchannels=1\n\n"
             "[conv3d]\nfilters=%d\nsize=1\nstride=1\npad=0\nbatch_normalize=0\nactivation=linear\n\n"
             "[%s]\nfilters=%d\nsize_d=%d\nsize_h=%d\nsize_w=%d\nstride_d=%d\nstride_h=1\nstride_w=1\npad_d=%d\npad_h=%d\npad_w=%d\n"
             "batch_normalize=0\nactivation=linear\n",
             batch, s->h, s->w, s->d, s->c, kind, s->oc, s->kd, s->kh, s->kw, s->sd > 0 ? s->sd : 1, s->pd, s->ph, s->pw);
    if(write_text(path, cfg)) return 0;
    return load_network_checked((char *)path, 0, 0);
}

/* layer 1's forward on x, then its backward from a fixed output gradient: y, dX (from 0.5 everywhere) and dW */
static inline void c3t_run(network *net, const float *x, float *y, float *dx, float *dw)
{
    layer l = net->layers[1];
    size_t nx = (size_t)l.batch * l.inputs, ny = (size_t)l.batch * l.outputs, i;
    network nn = *net;
    nn.train = 1;
    nn.index = 1;
    nn.input = (float *)x;
    l.forward(l, nn);
    memcpy(y, l.output, ny * sizeof(float));
    c3t_fill(l.delta, ny, 0.029);
    for(i = 0; i < nx; ++i) dx[i] = 0.5f;
    memset(l.weight_updates, 0, (size_t)l.nweights * sizeof(float));
    nn.delta = dx;
    l.backward(l, nn);
    memcpy(dw, l.weight_updates, (size_t)l.nweights * sizeof(float));
}

/* max |a - b| over max |b| */
static inline double c3t_max_rel(const float *a, const float *b, size_t n)
{
    double m = 0, s = 0;
    size_t i;
    for(i = 0; i < n; ++i){ m = fmax(m, fabs((double)a[i] - b[i])); s = fmax(s, fabs((double)b[i])); }
    return m / (s > 0 ? s : 1);
}
/* layer 1 of net with use(0), the general path, as the reference and use(1), the path under test, at 1, 2 and 3
 * threads (use(0) again after): err[0..3) gets the largest difference over the largest value of y, dX and dW at one
 * thread; returns 0 when 2 and 3 threads give the same bits as one, else the first thread count that does not */
static inline int c3t_compare_paths(network *net, void (*use)(int), double err[3])
{
    layer l = net->layers[1];
    size_t nx = (size_t)l.batch * l.inputs, ny = (size_t)l.batch * l.outputs, nw = (size_t)l.nweights;
    float *x = malloc(nx * sizeof(float)), *buf = malloc(3 * (ny + nx + nw) * sizeof(float));
    float *r[3][3];   /* [run][y, dX, dW]: the reference, one thread, more threads */
    int saved = omp_get_max_threads(), t, k, bad = 0;
    size_t n[3] = {ny, nx, nw}, off = 0;
    for(t = 0; t < 3; ++t) for(k = 0; k < 3; ++k){ r[t][k] = buf + off; off += n[k]; }
    c3t_fill(x, nx, 0.017);
    use(0);
    c3t_run(net, x, r[0][0], r[0][1], r[0][2]);
    use(1);
    for(t = 1; t <= 3; ++t){
        omp_set_num_threads(t);
        float **o = r[t == 1 ? 1 : 2];
        c3t_run(net, x, o[0], o[1], o[2]);
        for(k = 0; k < 3 && t > 1 && !bad; ++k) if(memcmp(o[k], r[1][k], n[k] * sizeof(float))) bad = t;
    }
    for(k = 0; k < 3; ++k) err[k] = c3t_max_rel(r[1][k], r[0][k], n[k]);
    omp_set_num_threads(saved);
    use(0);
    free(x); free(buf);
    return bad;
}
#endif
