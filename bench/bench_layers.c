/* Times forward+backward of [conv3d]/[deconv3d] (and [maxpool3d]/[upsample3d] when present) at the V-Net's real shapes, batch 2, on the CPU or (-gpu) the GPU; bench_layers.sh runs PyTorch on the same shapes and prints the ratios. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "darknet.h"
#include "darknet3d.h"
#include "cuda.h"
#ifdef GPU
#include "cuda_runtime.h"
#endif
#include "conv3d_layer.h"
#include "deconv3d_layer.h"
#if __has_include("maxpool3d_layer.h")
#include "maxpool3d_layer.h"
#define HAVE_MAXPOOL3D 1
#endif
#if __has_include("upsample3d_layer.h")
#include "upsample3d_layer.h"
#define HAVE_UPSAMPLE3D 1
#endif

static double now(void) { return omp_get_wtime(); }
static int use_gpu = 0;

#ifdef GPU
/* The same on the device: forward_gpu + backward_gpu, synchronised around the timed region. */
static void time_layer_gpu(const char *name, layer l, double gflop, int reps)
{
    size_t nin = (size_t)l.batch * l.inputs, nout = (size_t)l.batch * l.outputs, i;
    float *x = malloc(nin * sizeof(float)), *d = malloc(nout * sizeof(float));
    for(i = 0; i < nin; ++i) x[i] = (float)rand() / RAND_MAX - 0.5f;
    for(i = 0; i < nout; ++i) d[i] = ((i * 2654435761u) >> 16 & 1023) / 1024.f - 0.5f;
    network net = {0};
    float *d_gpu = cuda_make_array(d, nout); /* restored on the device: a host push would be timed too */
    net.input_gpu = cuda_make_array(x, nin);
    net.delta_gpu = cuda_make_array(0, nin);
    net.workspace = l.workspace_size ? cuda_make_array(0, l.workspace_size / sizeof(float) + 1) : 0;
    net.train = 1; net.batch = l.batch; net.gpu_index = gpu_index;
    double best = 1e30;
    int r;
    for(r = 0; r <= reps; ++r){
        cuda_push_array(l.delta_gpu, d, nout);
        cudaDeviceSynchronize();
        double t = now();
        l.forward_gpu(l, net);
        copy_gpu((int)nout, d_gpu, 1, l.delta_gpu, 1);
        l.backward_gpu(l, net);
        cudaDeviceSynchronize();
        t = now() - t;
        if(r > 0 && t < best) best = t;
    }
    printf("%s %.3f %.4f\n", name, best * 1e3, gflop);
    fflush(stdout);
    cuda_free(d_gpu); cuda_free(net.input_gpu); cuda_free(net.delta_gpu); if(net.workspace) cuda_free(net.workspace);
    free(x); free(d);
    free_layer(l);
}
#endif

/* Runs reps timed forward+backward passes after one warm-up; prints "name ms gflop" (gflop 0 when not a conv). */
static void time_layer(const char *name, layer l, double gflop, int reps)
{
#ifdef GPU
    if(use_gpu){ time_layer_gpu(name, l, gflop, reps); return; }
#endif
    size_t nin = (size_t)l.batch * l.inputs, nout = (size_t)l.batch * l.outputs;
    float *x = malloc(nin * sizeof(float)), *dx = calloc(nin, sizeof(float)), *ws = 0;
    size_t i;
    for(i = 0; i < nin; ++i) x[i] = (float)rand() / RAND_MAX - 0.5f;
    if(l.workspace_size) ws = malloc(l.workspace_size);
    network net = {0};
    net.input = x; net.delta = dx; net.workspace = ws; net.train = 1; net.batch = l.batch;
    double best = 1e30;
    int r;
    for(r = 0; r <= reps; ++r){
        for(i = 0; i < nout; ++i) l.delta[i] = ((i * 2654435761u) >> 16 & 1023) / 1024.f - 0.5f;
        double t = now();
        l.forward(l, net);
        l.backward(l, net);
        t = now() - t;
        if(r > 0 && t < best) best = t;
    }
    printf("%s %.3f %.4f\n", name, best * 1e3, gflop);
    fflush(stdout);
    free(x); free(dx); free(ws);
    free_layer(l);
}

static conv3d_options o3(int f, int k, int s, int p)
{
    conv3d_options o;
    memset(&o, 0, sizeof(o));
    o.filters = f; o.k[0] = o.k[1] = o.k[2] = k; o.s[0] = o.s[1] = o.s[2] = s; o.p[0] = o.p[1] = o.p[2] = p;
    o.batch_normalize = 1; o.bias = 1; o.activation = RELU;
    return o;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 2, B = 2;
    darknet3d_init();
    int have = darknet3d_gpu_available(0);
    use_gpu = argc > 2 && !strcmp(argv[2], "-gpu");
    if(use_gpu && !have){ fprintf(stderr, "bench_layers: -gpu but no usable GPU\n"); return 3; }
    if(!use_gpu) gpu_index = -1;
    /* (name, in c/d/h/w, filters, k, s, p) of the V-Net's convolutions, one per stage */
    struct { const char *name; int c, d, h, w, f, k, s, p, up; } L[] = {
        {"conv3d_16-16_k3_80x112x112", 16, 80, 112, 112, 16, 3, 1, 1, 0},
        {"conv3d_16-32_k2s2_80x112x112", 16, 80, 112, 112, 32, 2, 2, 0, 0},
        {"conv3d_32-32_k3_40x56x56", 32, 40, 56, 56, 32, 3, 1, 1, 0},
        {"conv3d_64-64_k3_20x28x28", 64, 20, 28, 28, 64, 3, 1, 1, 0},
        {"conv3d_128-128_k3_10x14x14", 128, 10, 14, 14, 128, 3, 1, 1, 0},
        {"conv3d_256-256_k3_5x7x7", 256, 5, 7, 7, 256, 3, 1, 1, 0},
        {"conv3d_16-2_k1_80x112x112", 16, 80, 112, 112, 2, 1, 1, 0, 0},
        {"deconv3d_256-128_k2s2_5x7x7", 256, 5, 7, 7, 128, 2, 2, 0, 1},
        {"deconv3d_32-16_k2s2_40x56x56", 32, 40, 56, 56, 16, 2, 2, 0, 1},
    };
    int i;
    for(i = 0; i < (int)(sizeof(L) / sizeof(L[0])); ++i){
        dims3d in = {L[i].c, L[i].d, L[i].h, L[i].w};
        conv3d_options o = o3(L[i].f, L[i].k, L[i].s, L[i].p);
        if(!strcmp(L[i].name, "conv3d_16-2_k1_80x112x112")){ o.batch_normalize = 0; o.activation = LINEAR; }
        layer l = L[i].up ? make_deconv3d_layer(B, in, o) : make_conv3d_layer(B, in, o);
        /* forward + backward-data + backward-filter: 3 products of 2*weights*positions flops */
        double pos = L[i].up ? (double)in.d * in.h * in.w : (double)l.out_d * (l.out_h / l.out_d) * l.out_w;
        time_layer(L[i].name, l, 3.0 * 2.0 * l.nweights * pos * B / 1e9, reps);
    }
#ifdef HAVE_MAXPOOL3D
    {
        maxpool3d_state p = {2, 2, 2, 2, 2, 2, 0, 0, 0};
        time_layer("maxpool3d_16_k2s2_80x112x112", make_maxpool3d_layer(B, 16, 80, 112, 112, p), 0, reps);
    }
#endif
#ifdef HAVE_UPSAMPLE3D
    time_layer("upsample3d_32_x2_40x56x56", make_upsample3d_layer(B, 32, 40, 56, 56, 2, 2, 2, 1), 0, reps);
#endif
    return 0;
}
