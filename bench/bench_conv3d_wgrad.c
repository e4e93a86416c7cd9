/* Times the backward of stride-1 3x3x3 [conv3d] layers with the AVX2 weight-gradient kernel (layers/conv3d_wgrad_avx2.c) against the general path, interleaved in one process, best of N; run by bench_conv3d_wgrad.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "darknet.h"
#include "darknet3d.h"
#include "bench_conv3d.h"
#include "conv3d_winograd.h"
#include "conv3d_direct.h"
#include "conv3d_wgrad_avx2.h"

typedef c3b_shape shape;

/* the layer's backward (data and weight gradient) after one forward, s */
static double backward(network *net, float *x, float *dx, float *dy)
{
    layer l = net->layers[1];
    network nn = *net;
    nn.train = 1;
    nn.index = 1;
    nn.input = x;
    nn.delta = dx;
    l.forward(l, nn);
    memcpy(l.delta, dy, (size_t)l.batch * l.outputs * sizeof(float));
    double t0 = omp_get_wtime();
    l.backward(l, nn);
    return omp_get_wtime() - t0;
}

/* the AVX2 kernel's weight gradient alone, s */
static double kernel_only(network *net, float *x)
{
    network nn = *net;
    nn.input = x;
    double t0 = omp_get_wtime();
    if(conv3d_wgrad_avx2(net->layers[1], nn)) return -1;
    return omp_get_wtime() - t0;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5, batch = argc > 2 ? atoi(argv[2]) : 4;
    static const shape S[] = {   /* make bench's stride-1 3x3x3 layers, then LA-mini's and the paper's widest */
        {"16-16_32x64x64", 16, 16, 32, 64, 64},
        {"32-16_32x64x64", 32, 16, 32, 64, 64},
        {"32-32_16x32x32", 32, 32, 16, 32, 32},
        {"64-32_16x32x32", 64, 32, 16, 32, 32},
        {"64-64_8x16x16", 64, 64, 8, 16, 16},
        {"128-64_8x16x16", 128, 64, 8, 16, 16},
        {"128-128_4x8x8", 128, 128, 4, 8, 8},
        {"256-128_4x8x8", 256, 128, 4, 8, 8},
        {"256-256_2x4x4", 256, 256, 2, 4, 4},
        {"16-16_16x24x24", 16, 16, 16, 24, 24},
        {"32-32_8x12x12", 32, 32, 8, 12, 12},
        {"8-8_32x48x48", 8, 8, 32, 48, 48},
    };
    darknet3d_init();
    gpu_index = -1;
    conv3d_direct_enabled = 0;
    conv3d_winograd_mode = 0;   /* the 3x3x3 layers would take the Winograd loops, which have their own bench */
    if(system("mkdir -p tests/out")) return 1;
    printf("%-22s %12s %12s %8s %12s %10s\n", "layer (batch)", "general ms", "kernel ms", "ratio", "wgrad ms", "wgrad GF/s");
    double tg = 0, tk = 0;
    size_t k;
    for(k = 0; k < sizeof(S) / sizeof(S[0]); ++k){
        network *net = c3b_net(&S[k], batch, (char *)"tests/out/bench_conv3d_wgrad.cfg");
        if(!net){ fprintf(stderr, "bench_conv3d_wgrad: cfg for %s failed\n", S[k].name); return 1; }
        layer l = net->layers[1];
        conv3d_wgrad_avx2_mode = 2;
        if(!conv3d_wgrad_avx2_applies(l)){
            printf("%-22s the kernel does not take this layer here (no AVX2 with FMA?)\n", S[k].name);
            free_network(net);
            continue;
        }
        c3b_bufs buf = c3b_alloc(l);
        float *x = buf.x, *dx = buf.dx, *dy = buf.dy;
        double bg = 1e30, bk = 1e30, bw = 1e30;
        int r;
        for(r = 0; r <= reps; ++r){          /* round 0 warms both paths up */
            conv3d_wgrad_avx2_mode = 0;
            double a = backward(net, x, dx, dy);
            conv3d_wgrad_avx2_mode = 2;
            double b = backward(net, x, dx, dy);
            double w = kernel_only(net, x);
            if(r > 0){ if(a < bg) bg = a; if(b < bk) bk = b; if(w < bw) bw = w; }
        }
        const double gflop = 2.0 * S[k].c * S[k].oc * 27.0 * S[k].d * S[k].h * S[k].w * batch / 1e9;
        char name[64];
        snprintf(name, sizeof(name), "%s (%d)", S[k].name, batch);
        printf("%-22s %12.1f %12.1f %8.2f %12.1f %10.1f\n", name, bg * 1e3, bk * 1e3, bk / bg, bw * 1e3, gflop / bw);
        tg += bg; tk += bk;
        c3b_free(&buf);
        free_network(net);
    }
    conv3d_wgrad_avx2_mode = 1;
    c3b_total("conv3d_wgrad_ratio", 22, tg, tk);
    return 0;
}
