/* Times forward and backward of the 3x3x3 [conv3d] layers of make bench's cfg and LA-mini with the Winograd loops (layers/conv3d_winograd.c) against the general path (oneDNN, with the AVX2 weight gradient where it applies), interleaved in one process, best of N; run by bench_conv3d_direct.sh with BENCH_CONV3D=bench_conv3d_winograd. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "darknet.h"
#include "darknet3d.h"
#include "bench_conv3d.h"
#include "conv3d_winograd.h"

typedef c3b_shape shape;

/* one forward and backward of layer 1; *fwd gets the forward's seconds, the return value both */
static double once(network *net, float *x, float *dx, float *dy, double *fwd)
{
    layer l = net->layers[1];
    network nn = *net;
    nn.train = 1;
    nn.index = 1;
    nn.input = x;
    nn.delta = dx;
    double t0 = omp_get_wtime();
    l.forward(l, nn);
    double t1 = omp_get_wtime();
    memcpy(l.delta, dy, (size_t)l.batch * l.outputs * sizeof(float));
    double t2 = omp_get_wtime();
    l.backward(l, nn);
    double t3 = omp_get_wtime();
    *fwd = t1 - t0;
    return (t1 - t0) + (t3 - t2);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5, batch = argc > 2 ? atoi(argv[2]) : 4;
    static const shape S[] = {     /* the 3x3x3 layers of make bench's cfg the rule takes, and LA-mini's */
        {"bench_1-16_32x64x64", 1, 16, 32, 64, 64},
        {"bench_16-16_32x64x64", 16, 16, 32, 64, 64},
        {"bench_32-16_32x64x64", 32, 16, 32, 64, 64},
        {"bench_32-32_16x32x32", 32, 32, 16, 32, 32},
        {"bench_64-32_16x32x32", 64, 32, 16, 32, 32},
        {"bench_64-64_8x16x16", 64, 64, 8, 16, 16},
        {"lamini_1-8_32x48x48", 1, 8, 32, 48, 48},
        {"lamini_8-8_32x48x48", 8, 8, 32, 48, 48},
        {"lamini_16-8_32x48x48", 16, 8, 32, 48, 48},
        {"lamini_16-16_16x24x24", 16, 16, 16, 24, 24},
    };
    darknet3d_init();
    gpu_index = -1;
    if(system("mkdir -p tests/out")) return 1;
    printf("%-28s %11s %11s %7s %12s %18s  %s\n", "layer (batch)", "general ms", "winograd ms", "ratio", "equiv. GF/s", "forward ms g / w", "passes taken");
    double tg = 0, tw = 0;
    size_t k;
    for(k = 0; k < sizeof(S) / sizeof(S[0]); ++k){
        network *net = c3b_net(&S[k], batch, (char *)"tests/out/bench_conv3d_winograd.cfg");
        if(!net){ fprintf(stderr, "bench_conv3d_winograd: cfg for %s failed\n", S[k].name); return 1; }
        layer l = net->layers[1];
        conv3d_winograd_mode = 2;
        if(!conv3d_winograd_forward_applies(l) && !conv3d_winograd_backward_applies(l)){
            printf("%-28s the Winograd loops do not take this layer here (they need AVX2 and FMA)\n", S[k].name);
            free_network(net);
            continue;
        }
        c3b_bufs buf = c3b_alloc(l);
        double bg = 1e30, bw = 1e30, fg = 1e30, fw = 1e30;
        int r;
        for(r = 0; r <= reps; ++r){          /* round 0 warms both paths up */
            double fa, fb;
            conv3d_winograd_mode = 0;
            double a = once(net, buf.x, buf.dx, buf.dy, &fa);
            conv3d_winograd_mode = 2;
            double b = once(net, buf.x, buf.dx, buf.dy, &fb);
            if(r > 0){ if(a < bg) bg = a; if(b < bw) bw = b; if(fa < fg) fg = fa; if(fb < fw) fw = fb; }
        }
        /* forward + data gradient + weight gradient, each the FLOPs of a direct convolution */
        double gflop = 3.0 * 2.0 * S[k].c * S[k].oc * 27.0 * S[k].d * S[k].h * S[k].w * batch / 1e9;
        char name[64];
        snprintf(name, sizeof(name), "%s (%d)", S[k].name, batch);
        printf("%-28s %11.1f %11.1f %7.2f %12.1f %8.1f / %-8.1f  %s\n", name, bg * 1e3, bw * 1e3, bw / bg, gflop / bw, fg * 1e3, fw * 1e3,
               conv3d_winograd_forward_applies(l) ? conv3d_winograd_backward_applies(l) ? "both" : "forward" : "backward");
        tg += bg; tw += bw;
        c3b_free(&buf);
        free_network(net);
    }
    conv3d_winograd_mode = 1;
    if(tg <= 0){ printf("conv3d_winograd_ratio=n/a\n"); return 0; }
    printf("%-28s %11.1f %11.1f %7.2f\n", "total", tg * 1e3, tw * 1e3, tw / tg);
    printf("conv3d_winograd_ratio=%.2f\n", tw / tg);
    return 0;
}
