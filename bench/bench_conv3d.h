/* What the [conv3d] layer benches (bench_conv3d_direct.c, bench_conv3d_wgrad.c, bench_conv3d_winograd.c) share: a network whose second layer (3x3x3, padding 1, batch-norm, ReLU) is the one timed, deterministic inputs for it, the interleaved best-of timing of two paths and the total line. */
#ifndef BENCH_CONV3D_H
#define BENCH_CONV3D_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "darknet.h"
#include "darknet3d.h"

typedef struct { const char *name; int c, oc, d, h, w; } c3b_shape;

/* [net] takes one channel: a pointwise layer 0 sets the channel count; layer 1 is timed. NULL when the cfg fails. */
static network *c3b_net(const c3b_shape *s, int batch, char *cfg_path)
{
    char cfg[1024];
    snprintf(cfg, sizeof(cfg),
             "[net]\nbatch=%d\nheight=%d\nwidth=%d\ndepth=%d\nchannels=1\n\n"
             "[conv3d]\nfilters=%d\nsize=1\nstride=1\npad=0\nbatch_normalize=0\nactivation=linear\n\n"
             "[conv3d]\nfilters=%d\nsize=3\nstride=1\npad=1\nbatch_normalize=1\nactivation=relu\n",
             batch, s->h, s->w, s->d, s->c, s->oc);
    FILE *f = fopen(cfg_path, "w");
    if(!f) return 0;
    fputs(cfg, f);
    fclose(f);
    return load_network_checked(cfg_path, 0, 0);
}

/* the timed layer's input x and output gradient dy (from two integer hashes, in [-0.5, 0.5)) and a zeroed dx */
typedef struct { float *x, *dx, *dy; } c3b_bufs;

static c3b_bufs c3b_alloc(layer l)
{
    const size_t nx = (size_t)l.batch * l.inputs, ny = (size_t)l.batch * l.outputs;
    c3b_bufs b = {malloc(nx * sizeof(float)), calloc(nx, sizeof(float)), malloc(ny * sizeof(float))};
    size_t i;
    if(!b.x || !b.dx || !b.dy){ fprintf(stderr, "bench: out of memory\n"); exit(1); }
    for(i = 0; i < nx; ++i) b.x[i] = (float)((i * 2654435761u) >> 16 & 1023) / 1024.f - 0.5f;
    for(i = 0; i < ny; ++i) b.dy[i] = (float)((i * 40503u) >> 8 & 1023) / 1024.f - 0.5f;
    return b;
}

static void c3b_free(c3b_bufs *b) { free(b->x); free(b->dx); free(b->dy); }
/* one forward and backward of layer 1 on x and dy (dx accumulates): *fwd gets the forward's seconds, the return value
 * both passes' */
static inline double c3b_once(network *net, c3b_bufs *b, double *fwd)
{
    layer l = net->layers[1];
    network nn = *net;
    nn.train = 1;
    nn.index = 1;
    nn.input = b->x;
    nn.delta = b->dx;
    double t0 = omp_get_wtime();
    l.forward(l, nn);
    double t1 = omp_get_wtime();
    memcpy(l.delta, b->dy, (size_t)l.batch * l.outputs * sizeof(float));
    double t2 = omp_get_wtime();
    l.backward(l, nn);
    double t3 = omp_get_wtime();
    *fwd = t1 - t0;
    return (t1 - t0) + (t3 - t2);
}

/* the best of reps rounds (after one warm-up round) of layer 1's forward + backward with use(0), the general path,
 * and use(1), the path under test, interleaved: t[i] both passes, f[i] the forward alone */
static inline void c3b_best(network *net, c3b_bufs *b, void (*use)(int), int reps, double t[2], double f[2])
{
    int r, i;
    t[0] = t[1] = f[0] = f[1] = 1e30;
    for(r = 0; r <= reps; ++r)
        for(i = 0; i < 2; ++i){
            double fi;
            use(i);
            double ti = c3b_once(net, b, &fi);
            if(r > 0){ if(ti < t[i]) t[i] = ti; if(fi < f[i]) f[i] = fi; }
        }
}

/* the total row and the last line, key=<path under test / general> (n/a when nothing was timed) */
static inline void c3b_total(const char *key, int width, double general, double other)
{
    if(general <= 0){ printf("%s=n/a\n", key); return; }
    printf("%-*s %12.1f %12.1f %8.2f\n", width, "total", general * 1e3, other * 1e3, other / general);
    printf("%s=%.2f\n", key, other / general);
}
#endif
