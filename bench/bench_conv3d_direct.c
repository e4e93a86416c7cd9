/* Times forward+backward of LA-mini's thin full-resolution [conv3d] layers with the direct loops (layers/conv3d_direct.c) against the general path, interleaved in one process, best of N; run by bench_conv3d_direct.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "darknet.h"
#include "darknet3d.h"
#include "bench_conv3d.h"
#include "conv3d_direct.h"

typedef c3b_shape shape;

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
    static const shape S[] = {
        {"conv3d_1-8_32x48x48", 1, 8, 32, 48, 48},
        {"conv3d_8-8_32x48x48", 8, 8, 32, 48, 48},
        {"conv3d_16-8_32x48x48", 16, 8, 32, 48, 48},
    };
    darknet3d_init();
    gpu_index = -1;
    if(system("mkdir -p tests/out")) return 1;
    printf("%-24s %12s %12s %10s %12s\n", "layer (batch)", "general ms", "direct ms", "ratio", "direct GF/s");
    double tg = 0, td = 0;
    size_t k;
    for(k = 0; k < sizeof(S) / sizeof(S[0]); ++k){
        network *net = c3b_net(&S[k], batch, (char *)"tests/out/bench_conv3d_direct.cfg");
        if(!net){ fprintf(stderr, "bench_conv3d_direct: cfg for %s failed\n", S[k].name); return 1; }
        layer l = net->layers[1];
        if(!conv3d_direct_applies(l)){
            printf("%-24s the direct loops do not take this layer here (they need AVX-512F)\n", S[k].name);
            free_network(net);
            continue;
        }
        c3b_bufs buf = c3b_alloc(l);
        float *x = buf.x, *dx = buf.dx, *dy = buf.dy;
        double bg = 1e30, bd = 1e30, fg = 1e30, fd = 1e30;
        int r;
        for(r = 0; r <= reps; ++r){          /* round 0 warms both paths up */
            double fa, fb;
            conv3d_direct_enabled = 0;
            double a = once(net, x, dx, dy, &fa);
            conv3d_direct_enabled = 1;
            double b = once(net, x, dx, dy, &fb);
            if(r > 0){ if(a < bg) bg = a; if(b < bd) bd = b; if(fa < fg) fg = fa; if(fb < fd) fd = fb; }
        }
        /* forward + backward (data and weight gradients; the first layer of a net has no data gradient, timed here all the same) = 3 x forward */
        double gflop = 3.0 * 2.0 * S[k].c * S[k].oc * 27.0 * S[k].d * S[k].h * S[k].w * batch / 1e9;
        char name[64];
        snprintf(name, sizeof(name), "%s (%d)", S[k].name, batch);
        printf("%-24s %12.1f %12.1f %10.2f %12.1f   forward %.1f / %.1f ms\n", name, bg * 1e3, bd * 1e3, bd / bg, gflop / bd, fg * 1e3, fd * 1e3);
        tg += bg; td += bd;
        c3b_free(&buf);
        free_network(net);
    }
    if(tg <= 0){ printf("conv3d_direct_ratio=n/a\n"); return 0; }
    printf("%-24s %12.1f %12.1f %10.2f\n", "total", tg * 1e3, td * 1e3, td / tg);
    printf("conv3d_direct_ratio=%.2f\n", td / tg);
    return 0;
}
