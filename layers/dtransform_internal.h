/* Private state of the [dtransform] transform, shared by its CPU (dtransform_layer.c) and CUDA (dtransform_kernels.cu) halves. */
#ifndef DTRANSFORM_INTERNAL_H
#define DTRANSFORM_INTERNAL_H
#include <stddef.h>
#include "dtransform_layer.h"

struct dtransform_state {
    dtransform_params p;
    int batch, D, H, W;      /* full resolution */
    int d, h, w;             /* transformed resolution */
    int resized;             /* (d,h,w) != (D,H,W) */
    size_t nfull, nsmall;
    int r, niter, nk;        /* r = floor(k/2); iteration bound ceil(max(d,h,w)/r); k^3 */
    float *K, *Kd;           /* kernel weights exp(-|o|/h) and offsets' lengths |o|, k^3 each (host) */
    int gpu;
    int train_only;          /* the layer's forward runs only with net.train (set by the [dbisl] that consumes it) */
    int last_iters;
    /* per volume b at the transformed resolution (host, or device when gpu):
     * B [b][n]; S, reach [b][in/out][n]; tmp, dB, gS [b][n]; mn, mx [b][in/out] */
    float *B, *S, *tmp, *dB, *gS, *mn, *mx;
    int *reach;
    unsigned char *mask8;    /* exact mode (host) */
    int *front, *cand, *stamp; /* scratch per (volume, in/out) pair, nsmall + 2 ints each (host): the forward's
                              * frontier, candidates and dedupe stamps; the backward's voxels by iteration */
    int *off;                /* k^3 neighbour offsets of an interior voxel (host) */
    int *tab; float *ltab;   /* resize tables, full -> transformed then transformed -> full (host) */
#ifdef GPU
    float *K_gpu, *Kd_gpu, *red_gpu;  /* kernel; reduction scratch */
    int *flag_gpu;
    unsigned char *mask8_gpu;
#endif
};

void dt_axis_weights(int in, int out, int *i0, int *i1, float *l1);
#ifdef GPU
int dtransform_alloc_gpu(dtransform_state *s);
void dtransform_free_gpu(dtransform_state *s);
#endif
#endif
