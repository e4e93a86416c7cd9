/* What the [conv3d] layer benches (bench_conv3d_direct.c, bench_conv3d_wgrad.c) share: a network whose second layer (3x3x3, padding 1, batch-norm, ReLU) is the one timed, and deterministic inputs for it. */
#ifndef BENCH_CONV3D_H
#define BENCH_CONV3D_H
#include <stdio.h>
#include <stdlib.h>
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
#endif
