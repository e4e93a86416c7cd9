/* Times the C [dtransform] (s2r) forward+backward on a probability volume written by bench/dbisl_torch.py s2r (the same input the PyTorch reference timed), and sgemm GFLOP/s of OpenBLAS and, in a oneDNN build (-DBENCH_DNNL), of oneDNN (the faster one is the machine's floor for the conv layers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cblas.h>
#ifdef BENCH_DNNL
#include <dnnl.h>
#endif
#include "dtransform_layer.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* s2r <prob.f32> N D H W SCALE REPS: min over REPS of forward + backward (dL/dR = 1, as R.sum().backward()) */
static int cmd_s2r(int argc, char **argv)
{
    if(argc < 9){ fprintf(stderr, "usage: bench_dtransform_c s2r <prob.f32> N D H W SCALE REPS\n"); return 2; }
    int N = atoi(argv[3]), D = atoi(argv[4]), H = atoi(argv[5]), W = atoi(argv[6]), reps = atoi(argv[8]), r;
    size_t n = (size_t)N * D * H * W;
    float *P = malloc(n * sizeof(float)), *R = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float)), *dP = malloc(n * sizeof(float));
    FILE *f = fopen(argv[2], "rb");
    if(!f || fread(P, sizeof(float), n, f) != n){ fprintf(stderr, "error: cannot read %zu floats from %s\n", n, argv[2]); return 1; }
    fclose(f);
    size_t i;
    for(i = 0; i < n; ++i) g[i] = 1;
    dtransform_params p;
    dtransform_default_params(&p);
    p.scale = (float)atof(argv[7]);
    double best = 1e30;
    dtransform_state *s = dtransform_alloc(&p, N, D, H, W, 0);
    if(!s){ fprintf(stderr, "error: dtransform_alloc failed\n"); return 1; }
    for(r = 0; r < reps; ++r){
        memset(dP, 0, n * sizeof(float));
        double t = now();
        dtransform_forward(s, P, R);
        dtransform_backward(s, g, dP);
        t = now() - t;
        if(t < best) best = t;
    }
    printf("seconds=%.4f iters=%d state_mib=%.1f\n", best, dtransform_last_iterations(s), dtransform_state_bytes(s) / 1048576.0);
    dtransform_free(s);
    free(P); free(R); free(g); free(dP);
    return 0;
}

/* sgemm M N K REPS: best GFLOP/s of C = A*B (row-major, the shapes of a conv3d forward: OC x K times K x positions) */
static int cmd_sgemm(int argc, char **argv)
{
    if(argc < 6){ fprintf(stderr, "usage: bench_dtransform_c sgemm M N K REPS\n"); return 2; }
    int M = atoi(argv[2]), N = atoi(argv[3]), K = atoi(argv[4]), reps = atoi(argv[5]), r;
    float *A = malloc((size_t)M * K * sizeof(float)), *B = malloc((size_t)K * N * sizeof(float)), *C = malloc((size_t)M * N * sizeof(float));
    size_t i;
    for(i = 0; i < (size_t)M * K; ++i) A[i] = (float)(i % 7) * 0.1f;
    for(i = 0; i < (size_t)K * N; ++i) B[i] = (float)(i % 5) * 0.1f;
    double best = 1e30, best_dnnl = 0;
    for(r = 0; r < reps; ++r){
        double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.f, A, K, B, N, 0.f, C, N);
        t = now() - t;
        if(t < best) best = t;
    }
    printf("gflops=%.1f M=%d N=%d K=%d seconds=%.4f", 2.0 * M * N * K / best / 1e9, M, N, K, best);
#ifdef BENCH_DNNL
    best_dnnl = 1e30;
    for(r = 0; r < reps + 1; ++r){ /* the first call JIT-compiles the kernel */
        double t = now();
        if(dnnl_sgemm('N', 'N', M, N, K, 1.f, A, K, B, N, 0.f, C, N) != dnnl_success){ best_dnnl = 0; break; }
        t = now() - t;
        if(r > 0 && t < best_dnnl) best_dnnl = t;
    }
    if(best_dnnl > 0) printf(" dnnl_gflops=%.1f", 2.0 * M * N * K / best_dnnl / 1e9);
#endif
    printf("\n");
    free(A); free(B); free(C);
    return 0;
}

int main(int argc, char **argv)
{
    if(argc >= 2 && !strcmp(argv[1], "s2r")) return cmd_s2r(argc, argv);
    if(argc >= 2 && !strcmp(argv[1], "sgemm")) return cmd_sgemm(argc, argv);
    fprintf(stderr, "usage: bench_dtransform_c s2r|sgemm ...\n");
    return 2;
}
