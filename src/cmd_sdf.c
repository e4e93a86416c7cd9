/* `./darknet seg3d sdf`: the signed distance map of a label volume by the [dtransform] (s2r) transform, written as float32 NIfTI, with the Dice of its inverse (R < 0) against the label. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "darknet3d.h"
#include "dtransform_layer.h"
#include "volume_io.h"
#include "cfg_keys.h"
#include "commands.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int sdf_usage(void)
{
    fprintf(stderr,
        "usage: ./darknet seg3d sdf <label.nii[.gz]|label.h5> <out.nii[.gz]> [-scale S] [-exact] [-binarize ste|softmin] [-kernel K] [-h H]\n"
        "  R = minmax(DT(B)) - minmax(DT(1-B)) of B = (label > 0.5), negative inside, in [-1, 1];\n"
        "  -scale S (default 1): transform at S x the resolution (trilinear resize, threshold 0.5), upsampled back;\n"
        "  -exact: exact Euclidean DT (voxel units) instead of the kornia-style iteration.\n"
        "  Last line: dice_inverse=<Dice between the label and (R < 0)>\n");
    return 2;
}

/* the flags into p; -1 when they are good, else the exit code (the error printed) */
static int sdf_parse(int argc, char **argv, dtransform_params *p)
{
    int i;
    char err[1024];
    long long kernel;
    for(i = 5; i < argc; ++i){
        if(strcmp(argv[i], "-exact") == 0) p->exact = 1;
        else if(strcmp(argv[i], "-scale") == 0 && i + 1 < argc){
            if(arg_float("seg3d sdf", "-scale", argv[++i], &p->scale, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return 2; }
        } else if(strcmp(argv[i], "-kernel") == 0 && i + 1 < argc){
            if(arg_long("seg3d sdf", "-kernel", argv[++i], &kernel, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return 2; }
            if(kernel % 2 == 0){ fprintf(stderr, "error: seg3d sdf -kernel: must be odd, got %lld\n", kernel); return 2; }
            p->kernel = (int)kernel;
        } else if(strcmp(argv[i], "-h") == 0 && i + 1 < argc){
            if(arg_float("seg3d sdf", "-h", argv[++i], &p->h, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return 2; }
        } else if(strcmp(argv[i], "-binarize") == 0 && i + 1 < argc){
            ++i;
            if(strcmp(argv[i], "ste") == 0) p->binarize = DT_BIN_STE;
            else if(strcmp(argv[i], "softmin") == 0) p->binarize = DT_BIN_SOFTMIN;
            else { fprintf(stderr, "error: seg3d sdf: -binarize must be ste or softmin (a label is already binary), got '%s'\n", argv[i]); return 2; }
        } else {
            fprintf(stderr, "error: seg3d sdf: unknown or incomplete option '%s'\n", argv[i]);
            return sdf_usage();
        }
    }
    return -1;
}

/* Dice between the label (prob > 0.5) and the inside of the map (r < 0) */
static double sdf_dice_inverse(const float *prob, const float *r, size_t n)
{
    long inter = 0, a = 0, b = 0;
    size_t k;
    for(k = 0; k < n; ++k){
        int l = prob[k] > 0.5f, q = r[k] < 0;
        inter += l & q; a += l; b += q;
    }
    return a + b ? 2.0 * inter / (double)(a + b) : 1.0;
}

/* the transform of the binarised label v into r (allocated here); 0, or 1 with the error printed */
static int sdf_transform(const dtransform_params *p, const volume *v, volume *r, double *dice, int *iters, double *secs)
{
    int D = v->nz, H = v->ny, W = v->nx;
    size_t n = (size_t)D * H * W, k;
    float *prob = malloc(n * sizeof(float));
    if(!prob || volume_alloc(r, v->nx, v->ny, v->nz)){ fprintf(stderr, "error: seg3d sdf: out of memory\n"); free(prob); return 1; }
    r->dx = v->dx; r->dy = v->dy; r->dz = v->dz;
    for(k = 0; k < n; ++k) prob[k] = v->data[k] > 0.5f ? 1.f : 0.f;
    double t0 = now_s();
    dtransform_state *s = dtransform_alloc(p, 1, D, H, W, 0);
    if(!s){ fprintf(stderr, "error: seg3d sdf: out of memory for the transform\n"); free(prob); return 1; }
    dtransform_forward(s, prob, r->data);
    *secs = now_s() - t0;
    *iters = dtransform_last_iterations(s);
    dtransform_free(s);
    *dice = sdf_dice_inverse(prob, r->data, n);
    free(prob);
    return 0;
}

int seg3d_sdf(int argc, char **argv)
{
    if(argc < 5) return sdf_usage();
    const char *in = argv[3], *out = argv[4];
    dtransform_params p;
    dtransform_default_params(&p);
    p.scale = 1;
    int rc = sdf_parse(argc, argv, &p);
    if(rc >= 0) return rc;
    char err[1024];
    volume v, r = {0};
    if(volume_read(in, "label", &v, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return 1; }
    double dice, secs;
    int iters;
    rc = sdf_transform(&p, &v, &r, &dice, &iters, &secs);
    if(rc == 0 && volume_write(out, &r, &v, 0, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); rc = 1; }
    if(rc == 0){
        int g[3] = {v.nx, v.ny, v.nz}, a;   /* the grid the transform runs on: max(1, floor(n * scale)) a side */
        for(a = 0; a < 3; ++a) if(p.scale < 1){ g[a] = (int)floor(g[a] * (double)p.scale + 1e-6); if(g[a] < 1) g[a] = 1; }
        printf("volume %d x %d x %d (W x H x D), transform at scale %g (%d x %d x %d), %s, %d iterations, %.3f s\n", v.nx, v.ny, v.nz,
               p.scale, g[0], g[1], g[2], p.exact ? "exact EDT" : (p.binarize == DT_BIN_SOFTMIN ? "softmin" : "kornia iteration"), iters, secs);
        printf("dice_inverse=%.6f\n", dice);
    }
    volume_free(&v); volume_free(&r);
    return rc;
}
