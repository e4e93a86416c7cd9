/* Benchmark driver for `make bench`: times DBiSL training iterations (loader + train_network_datum, as seg3d train), a per-layer profile, and sliding-window inference of a cfg, printing key=value lines that bench/run.sh tabulates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include "darknet.h"
#include "darknet3d.h"
#include "dataset.h"
#include "loader.h"
#include "train.h"
#include "predict.h"
#include "infer.h"
#include "synth.h"
#include "volume_io.h"
#include "cpu_isa.h"
#ifdef GPU
#include "cuda3d.h"
#endif

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* bytes in use on the device (0 without a GPU); Darknet allocates every buffer when the network is built, so
 * the difference to the value before building is the network's footprint (cuDNN/cuBLAS workspaces included) */
static double gpu_used_mib(void)
{
#ifdef GPU
    if(gpu_index >= 0){
        double m = cuda3d_device_used_mib();
        if(m >= 0) return m;
    }
#endif
    return 0;
}

/* want_gpu: 1 = the GPU or nothing (a paper-size run on the CPU would take an hour): returns -1 without one */
static int pick_device(int want_gpu)
{
    darknet3d_init();
    gpu_index = -1;
    if(!want_gpu) return 0;
    if(!darknet3d_gpu_available(1)){ printf("error=no_usable_gpu device=none\n"); return -1; }
#ifdef GPU
    gpu_index = 0;
    cuda_set_device(0);
#endif
    return 0;
}

static const char *kind(layer l)
{
    if(l.type == CONV3D) return "conv3d";
    if(l.type == DECONV3D) return "deconv3d";
    if(l.type == UPSAMPLE3D) return "upsample3d";
    if(l.type == DUALSPLIT) return "dualsplit";
    if(l.type == DBISL) return "dbisl";
    if(l.type == SHORTCUT) return "shortcut";
    if(l.type == DROPOUT) return "dropout";
    if(l.type == ROUTE) return "route";
    return "other";
}

/* One training step with Darknet's own loops (network.c forward_network / backward_network / update_network),
 * unrolled here only to time each layer: tf/tb/tu[i] += seconds of layer i. CPU only. */
static float profiled_step(network *netp, double *tf, double *tb, double *tu)
{
    *netp->seen += netp->batch;
    netp->train = 1;
    network net = *netp, orig = net;
    int i;
    for(i = 0; i < net.n; ++i){
        net.index = i;
        layer l = net.layers[i];
        double t = now();
        if(l.delta) fill_cpu(l.outputs * l.batch, 0, l.delta, 1);
        l.forward(l, net);
        tf[i] += now() - t;
        net.input = l.output;
        if(l.truth) net.truth = l.output;
    }
    /* calc_network_cost: the one layer with a cost here is [dbisl] */
    float sum = 0;
    int count = 0;
    for(i = 0; i < netp->n; ++i) if(netp->layers[i].cost){ sum += netp->layers[i].cost[0]; ++count; }
    *netp->cost = count ? sum / count : 0;
    net = orig;
    for(i = net.n - 1; i >= 0; --i){
        layer l = net.layers[i];
        if(l.stopbackward) break;
        if(i == 0) net = orig;
        else { net.input = net.layers[i - 1].output; net.delta = net.layers[i - 1].delta; }
        net.index = i;
        double t = now();
        l.backward(l, net);
        tb[i] += now() - t;
    }
    update_args a = {0};
    a.batch = netp->batch * netp->subdivisions;
    a.learning_rate = get_current_rate(netp);
    a.momentum = netp->momentum;
    a.decay = netp->decay;
    ++*netp->t;
    a.t = *netp->t;
    for(i = 0; i < netp->n; ++i){
        layer l = netp->layers[i];
        double t = now();
        if(l.update) l.update(l, a);
        tu[i] += now() - t;
    }
    return *netp->cost;
}

static int cmd_train(int argc, char **argv)
{
    if(argc < 8){ fprintf(stderr, "usage: bench_train train <cfg> <data> <iters> <warmup> <dump.f32|-> <profile_iters> [-gpu [fp32|tf32|fp16|bf16]]\n"); return 2; }
    char *cfg = argv[2], *datafile = argv[3], *dump = argv[6];
    int iters = atoi(argv[4]), warmup = atoi(argv[5]), piters = atoi(argv[7]);
    if(pick_device(argc > 8 && !strcmp(argv[8], "-gpu"))) return 3;
    /* the GPU's convolution numerics, as [net] precision / -precision set them for seg3d */
    static const char *precisions[] = {"fp32", "tf32", "fp16", "bf16"};
    static const char *isa_names[] = {"base", "avx2", "avx512"};   /* cpu_isa.h: the level our CPU kernels dispatch on */
    darknet3d_precision = DARKNET3D_FP32;
    for(int p = 0; p < 4 && argc > 9; ++p) if(!strcmp(argv[9], precisions[p])) darknet3d_precision = gpu_index >= 0 ? p : DARKNET3D_FP32;
    char err[1024];
    dataset *ds = dataset_load(datafile, err, sizeof(err));
    if(!ds){ fprintf(stderr, "error: %s\n", err); return 1; }
    double mem0 = gpu_used_mib();
    srand(1);
    network *net = load_network_checked(cfg, 0, 1);
    if(!net) return 1;
    amp_params *amp = 0;
    amp_scaler scaler;
    int saved = 0;
    amp_scaler_init(&scaler);
#ifdef GPU
    if(gpu_index >= 0 && darknet3d_precision == DARKNET3D_FP16 && !(amp = train_amp_params(net, err, sizeof(err)))){ fprintf(stderr, "error: %s\n", err); return 1; }
#endif
    loader_params lp = loader_params_from_net(net);
    lp.seed = 1;
    loader *L = loader_create(ds, &lp, err, sizeof(err));
    if(!L){ fprintf(stderr, "error: %s\n", err); return 1; }
    FILE *df = strcmp(dump, "-") ? fopen(dump, "wb") : 0;
    size_t V = (size_t)net->d * net->h * net->w;
    int it;
    double tsum = 0, tload = 0, tmin = 1e30, mem = 0;
    float loss = 0, *own_input = net->input, *own_truth = net->truth;   /* put back after the batches used in place */
    for(it = 0; it < warmup + iters; ++it){
        double t0 = now();
        loader_batch *b = 0;
        if(loader_next(L, &b, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return 1; }
        double t1 = now();
        if(!loader_batch_bind(b, 0, net)) get_next_batch(b->d, net->batch, 0, net->input, net->truth);
        loss = train_datum(net, amp, &scaler, &saved);
#ifdef GPU
        if(gpu_index >= 0) cudaDeviceSynchronize(); /* kernels still queued belong to this iteration's time */
#endif
        double t = now() - t0;
        if(gpu_index >= 0){ double m = gpu_used_mib() - mem0; if(m > mem) mem = m; }
        if(it >= warmup){ tsum += t; tload += t1 - t0; if(t < tmin) tmin = t; }
        if(df && it < 4){ /* the first 4 batches for the PyTorch side (it cycles them): X rows then truth rows */
            fwrite(net->input, sizeof(float), (size_t)net->batch * V, df);
            fwrite(net->truth, sizeof(float), (size_t)net->batch * (V + 1), df);
        }
        fprintf(stderr, "iter %d: %.3f s (loader wait %.3f s) loss %.4f\n", it, t, t1 - t0, loss);
    }
    if(df) fclose(df);
    loader_stop(L);
    net->input = own_input; net->truth = own_truth;
    struct rusage ru;
    double rss = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss / 1024.0 : 0;   /* the process's peak RSS so far */
    printf("s_per_iter=%.4f min=%.4f loader_wait=%.4f loss=%.4f params=%zu peak_mib=%.0f rss_mib=%.0f iters=%d device=%s precision=%s skipped=%ld cpu_isa=%s\n",
           tsum / iters, tmin, tload / iters, loss, network_param_count(net), mem, rss, iters, gpu_index >= 0 ? "gpu" : "cpu",
           precisions[darknet3d_precision], scaler.skipped, isa_names[cpu_isa_level()]);
    if(piters > 0 && gpu_index < 0){
        double *tf = calloc(net->n, sizeof(double)), *tb = calloc(net->n, sizeof(double)), *tu = calloc(net->n, sizeof(double));
        double tl = 0, t0 = now();
        for(it = 0; it < piters; ++it){
            double a = now();
            loader_batch *b = 0;
            if(loader_next(L, &b, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return 1; }
            if(!loader_batch_bind(b, 0, net)) get_next_batch(b->d, net->batch, 0, net->input, net->truth);
            tl += now() - a;
            profiled_step(net, tf, tb, tu);
        }
        loader_stop(L);
        net->input = own_input; net->truth = own_truth;
        double total = (now() - t0) / piters;
        const char *kinds[] = {"conv3d", "deconv3d", "upsample3d", "shortcut", "dropout", "route", "dualsplit", "dbisl", "other"};
        int k, i;
        printf("profile iters=%d s_per_iter=%.4f loader_wait=%.4f\n", piters, total, tl / piters);
        for(k = 0; k < 9; ++k){
            double f = 0, b = 0, u = 0;
            int n = 0;
            for(i = 0; i < net->n; ++i) if(!strcmp(kind(net->layers[i]), kinds[k])){ f += tf[i]; b += tb[i]; u += tu[i]; ++n; }
            if(n) printf("profile kind=%s layers=%d forward=%.4f backward=%.4f update=%.4f share=%.1f%%\n", kinds[k], n,
                         f / piters, b / piters, u / piters, 100 * (f + b + u) / piters / total);
        }
        for(i = 0; i < net->n; ++i){
            layer l = net->layers[i];
            printf("profile layer=%d kind=%s out=%dx%dx%dx%d forward=%.4f backward=%.4f update=%.4f\n", i, kind(l),
                   l.out_c, l.out_d > 0 ? l.out_d : 1, l.out_d > 0 ? l.out_h / l.out_d : l.out_h, l.out_w,
                   tf[i] / piters, tb[i] / piters, tu[i] / piters);
        }
        free(tf); free(tb); free(tu);
    }
    loader_free(L);
    free_network(net);
    dataset_free(ds);
    return 0;
}

static int cmd_infer(int argc, char **argv)
{
    if(argc < 10){ fprintf(stderr, "usage: bench_train infer <cfg> <vol.f32 out> VD VH VW SD SH SW [-gpu] [-batch N] [-precision fp32|tf32|fp16|bf16]\n"); return 2; }
    char *cfg = argv[2], *out = argv[3];
    int VD = atoi(argv[4]), VH = atoi(argv[5]), VW = atoi(argv[6]);
    int stride[3] = {atoi(argv[7]), atoi(argv[8]), atoi(argv[9])};
    int use_gpu = 0, batch = 0, a, prec = DARKNET3D_TF32;   /* seg3d predict's GPU default, as PyTorch's cuDNN convolutions */
    static const char *precisions[] = {"fp32", "tf32", "fp16", "bf16"};
    for(a = 10; a < argc; ++a){
        if(!strcmp(argv[a], "-gpu")) use_gpu = 1;
        else if(!strcmp(argv[a], "-batch") && a + 1 < argc) batch = atoi(argv[++a]);
        else if(!strcmp(argv[a], "-precision") && a + 1 < argc){
            ++a;
            for(prec = 0; prec < 4 && strcmp(argv[a], precisions[prec]); ++prec);
            if(prec == 4){ fprintf(stderr, "error: -precision takes fp32, tf32, fp16 or bf16\n"); return 2; }
        }
    }
    if(pick_device(use_gpu)) return 3;
    darknet3d_precision = gpu_index >= 0 ? prec : DARKNET3D_FP32;
    volume img = {0}, lab = {0};
    if(volume_alloc(&img, VW, VH, VD) || volume_alloc(&lab, VW, VH, VD)){ fprintf(stderr, "error: out of memory\n"); return 1; }
    synth_case(&img, &lab, 7);
    size_t nv = (size_t)VD * VH * VW;
    FILE *f = fopen(out, "wb");
    if(!f || fwrite(img.data, sizeof(float), nv, f) != nv){ fprintf(stderr, "error: cannot write %s\n", out); return 1; }
    fclose(f);
    srand(1);
    /* the network seg3d predict runs: inference-shaped, -batch windows per pass or predict's default (1 on the CPU,
     * the cfg's batch on a GPU) */
    if(batch <= 0) batch = infer_default_batch();
    network *net = load_network_infer(cfg, 0, batch);
    if(!net) return 1;
    float *prob = malloc(nv * sizeof(float));
    char err[1024];
    double t0 = now();
    if(network_predict_volume(net, img.data, VW, VH, VD, stride, -1, prob, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return 1; }
    double t = now() - t0;
    int wins = sw_starts(VD, net->d, stride[0], 0) * sw_starts(VH, net->h, stride[1], 0) * sw_starts(VW, net->w, stride[2], 0);
    /* the same number of passes again, the network alone (forward, and forward + the seg heads' probabilities
     * brought to the host): what the sliding window spends beyond them is gathering and adding the windows */
    int passes = (wins + net->batch - 1) / net->batch, i;
    float *in = calloc((size_t)net->batch * net->inputs, sizeof(float));
    if(!in){ fprintf(stderr, "error: out of memory\n"); return 1; }
    double tf = now();
    for(i = 0; i < passes; ++i) network_predict(net, in);
    tf = now() - tf;
    double th = now();
    for(i = 0; i < passes; ++i){
        network_predict(net, in);
        if(network_foreground_prob(net, -1, prob, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return 1; }
    }
    th = now() - th;
    free(in);
    printf("seconds=%.4f windows=%d per_pass=%d passes=%d forward_seconds=%.4f forward_heads_seconds=%.4f device=%s precision=%s\n", t,
           wins, net->batch, passes, tf, th, gpu_index >= 0 ? "gpu" : "cpu", precisions[darknet3d_precision]);
    free(prob);
    free_network(net);
    volume_free(&img); volume_free(&lab);
    return 0;
}

int main(int argc, char **argv)
{
    if(argc >= 2 && !strcmp(argv[1], "train")) return cmd_train(argc, argv);
    if(argc >= 2 && !strcmp(argv[1], "infer")) return cmd_infer(argc, argv);
    fprintf(stderr, "usage: bench_train train|infer ...\n");
    return 2;
}
