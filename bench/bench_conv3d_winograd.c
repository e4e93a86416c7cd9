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

/* the general path (0) or the Winograd loops wherever their shape rule holds (1) */
static void use(int winograd) { conv3d_winograd_mode = winograd ? 2 : 0; }

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
    printf("%-28s %12s %12s %8s %12s %18s  %s\n", "layer (batch)", "general ms", "winograd ms", "ratio", "equiv. GF/s", "forward ms g / w", "passes taken");
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
        double t[2], f[2];
        c3b_best(net, &buf, use, reps, t, f);
        /* forward + data gradient + weight gradient, each the FLOPs of a direct convolution */
        double gflop = 3.0 * 2.0 * S[k].c * S[k].oc * 27.0 * S[k].d * S[k].h * S[k].w * batch / 1e9;
        char name[64];
        snprintf(name, sizeof(name), "%s (%d)", S[k].name, batch);
        printf("%-28s %12.1f %12.1f %8.2f %12.1f %8.1f / %-8.1f  %s\n", name, t[0] * 1e3, t[1] * 1e3, t[1] / t[0], gflop / t[1], f[0] * 1e3, f[1] * 1e3,
               conv3d_winograd_forward_applies(l) ? conv3d_winograd_backward_applies(l) ? "both" : "forward" : "backward");
        tg += t[0]; tw += t[1];
        c3b_free(&buf);
        free_network(net);
    }
    conv3d_winograd_mode = 1;
    c3b_total("conv3d_winograd_ratio", 28, tg, tw);
    return 0;
}
