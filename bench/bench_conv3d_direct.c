/* Times forward+backward of LA-mini's thin full-resolution [conv3d] layers with the direct loops (layers/conv3d_direct.c) against the general path, interleaved in one process, best of N; run by bench_conv3d_direct.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "darknet.h"
#include "darknet3d.h"
#include "bench_conv3d.h"
#include "conv3d_direct.h"
#include "conv3d_winograd.h"

typedef c3b_shape shape;

/* the general path (0) or the direct loops (1) */
static void use(int direct) { conv3d_direct_enabled = direct; }

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
    conv3d_winograd_mode = 0;   /* the general path is oneDNN's (or vol2col + GEMM), as the loops were measured against */
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
        double t[2], f[2];
        c3b_best(net, &buf, use, reps, t, f);
        /* forward + backward (data and weight gradients; the first layer of a net has no data gradient, timed here all the same) = 3 x forward */
        double gflop = 3.0 * 2.0 * S[k].c * S[k].oc * 27.0 * S[k].d * S[k].h * S[k].w * batch / 1e9;
        char name[64];
        snprintf(name, sizeof(name), "%s (%d)", S[k].name, batch);
        printf("%-24s %12.1f %12.1f %10.2f %12.1f   forward %.1f / %.1f ms\n", name, t[0] * 1e3, t[1] * 1e3, t[1] / t[0], gflop / t[1],
               f[0] * 1e3, f[1] * 1e3);
        tg += t[0]; td += t[1];
        c3b_free(&buf);
        free_network(net);
    }
    c3b_total("conv3d_direct_ratio", 24, tg, td);
    return 0;
}
