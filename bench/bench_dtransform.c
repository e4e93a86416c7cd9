/* Benchmark of the [dtransform] (s2r) CPU transform: forward+backward seconds, iterations, state bytes and peak RSS on a probability map read from a float32 file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include "darknet3d.h"
#include "dtransform_layer.h"

static double now_s(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }

int main(int argc, char **argv)
{
    if(argc < 9){ fprintf(stderr, "usage: bench_dtransform prob.bin N D H W scale reps ste|sigmoid|softmin\n"); return 2; }
    int N = atoi(argv[2]), D = atoi(argv[3]), H = atoi(argv[4]), W = atoi(argv[5]), reps = atoi(argv[7]);
    dtransform_params p;
    dtransform_default_params(&p);
    p.scale = (float)atof(argv[6]);
    p.binarize = strcmp(argv[8], "sigmoid") == 0 ? DT_BIN_SIGMOID : (strcmp(argv[8], "softmin") == 0 ? DT_BIN_SOFTMIN : DT_BIN_STE);
    size_t n = (size_t)N * D * H * W;
    float *x = malloc(n * sizeof(float)), *R = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float)), *dx = malloc(n * sizeof(float));
    FILE *f = fopen(argv[1], "rb");
    if(!f || fread(x, sizeof(float), n, f) != n){ fprintf(stderr, "cannot read %s\n", argv[1]); return 1; }
    fclose(f);
    size_t i;
    for(i = 0; i < n; ++i) g[i] = 1;
    dtransform_state *s = dtransform_alloc(&p, N, D, H, W, 0);
    double best = 1e30, bf = 0;
    int r;
    for(r = 0; r < reps; ++r){
        memset(dx, 0, n * sizeof(float));
        double t0 = now_s();
        dtransform_forward(s, x, R);
        double t1 = now_s();
        dtransform_backward(s, g, dx);
        double t2 = now_s();
        if(t2 - t0 < best){ best = t2 - t0; bf = t1 - t0; }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("ours  s2r %dx1x%dx%dx%d scale=%g %s: fwd+bwd %.3f s (fwd %.3f, min of %d), iters %d, state %.1f MiB, peak RSS %.0f MiB (inputs/outputs %.0f MiB)\n",
           N, D, H, W, p.scale, argv[8], best, bf, reps, dtransform_last_iterations(s), dtransform_state_bytes(s) / 1048576.0,
           ru.ru_maxrss / 1024.0, 4.0 * n * 4 / 1048576.0);
    dtransform_free(s);
    return 0;
}
