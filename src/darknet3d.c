/* darknet3d start-up: registers our layer types with Darknet's cfg parser, detects the GPU, counts parameters and loads networks without exiting. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cfg_options.h"
#include "darknet3d.h"
#include "cfg_check.h"
#include "fast_paths.h"
#include "shortcut_share.h"
#include "delta_share.h"
#include "output_recompute.h"
#include "layer3d.h"
#include "conv3d_common.h"
#include "buffer_mirror.h"
#include "buffer_plan.h"
#ifdef GPU
#include "cuda_runtime.h"
#endif

int darknet3d_set_precision(const char *cfg, const char *flag, char *name, size_t namelen, char *err, size_t errlen)
{
    static const char *names[] = {"fp32", "tf32", "fp16", "bf16"};
    static const char *what[] = {"exact FP32", "TF32 tensor cores", "fp16 tensor cores, FP32 accumulation, dynamic loss scale",
                                 "bf16 tensor cores, FP32 accumulation"};
    char v[256];
    int line = 0, r = 0, p, gpu = gpu_index >= 0;
    if(flag) snprintf(v, sizeof(v), "%s", flag);
    else if((r = cfg_net_value(cfg, "precision", v, sizeof(v), &line, err, errlen)) < 0) return -1;
    if(!flag && r == 0) snprintf(v, sizeof(v), "%s", gpu ? "tf32" : "fp32");
    for(p = 0; p < 4 && strcmp(v, names[p]); ++p);
    if(p == 4){
        if(flag) snprintf(err, errlen, "-precision: expected fp32, tf32, fp16 or bf16, got '%s'", v);
        else snprintf(err, errlen, "%s:%d: [net]: key 'precision': expected fp32, tf32, fp16 or bf16, got '%s'", cfg, line, v);
        return -1;
    }
    /* the CPU has no 16-bit copies; the key's value is checked there with the rest of [net] (src/cfg_check.c) */
    if(gpu && cfg_net_int(cfg, "channels_last", 1, &darknet3d_channels_last, err, errlen)) return -1;
    darknet3d_precision = gpu ? p : DARKNET3D_FP32;
    if(gpu && p >= DARKNET3D_FP16) snprintf(name, namelen, "%s (%s; %s 16-bit copies)", names[p], what[p],
                                             darknet3d_channels_last ? "channels-last" : "NCDHW");
    else if(gpu) snprintf(name, namelen, "%s (%s)", names[p], what[p]);
    else if(p) snprintf(name, namelen, "fp32 (CPU; precision=%s applies to GPU convolutions only)", names[p]);
    else snprintf(name, namelen, "fp32 (CPU)");
    return 0;
}

/* The layer types themselves are the table in layers/layers3d.c. */
void darknet3d_init(void)
{
    layers3d_register();
}

int darknet3d_gpu_available(int notice)
{
#ifdef GPU
    int n = 0;
    cudaError_t st = cudaGetDeviceCount(&n);
    if(st == cudaSuccess && n > 0) return 1;
    cudaGetLastError(); /* clear the sticky error of a driverless machine */
    gpu_index = -1;
    if(notice) fprintf(stderr, "darknet3d: GPU build, but no CUDA device is usable (%s): running on the CPU\n",
                       st == cudaSuccess ? "no device" : cudaGetErrorString(st));
    return 0;
#else
    (void)notice;
    gpu_index = -1;
    return 0;
#endif
}

size_t layer_param_count(layer l)
{
    if(l.type == CONNECTED) return (size_t)l.outputs * l.inputs + l.outputs + (l.batch_normalize ? l.outputs : 0);
    if(l.type == BATCHNORM) return 2 * (size_t)l.c;
    /* conv, deconv and our layers: weights + biases (+ BN scales) + any extra trainable vector */
    return (size_t)l.nweights + l.nbiases + (l.batch_normalize ? (size_t)l.out_c : 0) + (size_t)l.extra;
}

size_t network_param_count(network *net)
{
    size_t total = 0;
    int i;
    for(i = 0; i < net->n; ++i) total += layer_param_count(net->layers[i]);
    return total;
}

/* layer m's buffer of slot k: output, delta, x, x_norm */
static float *buffer_slot(layer m, int k)
{
    return k == 0 ? m.output : k == 1 ? m.delta : k == 2 ? m.x : m.x_norm;
}

/* The bytes of layer i's host buffers by kind, added into b (a buffer an earlier layer holds too, as stock [dropout]
 * and a single-input [route] share their input's output and delta, is counted there; the output arena of
 * src/output_recompute.h and the gradient arena of src/delta_share.h once each, at their first holder): b[0]
 * outputs, b[1] gradients (delta), b[2] what forward keeps for backward (x, x_norm), b[3] parameters with their
 * update buffers, b[4] the largest layer workspace so far.
 * A GPU run holds the same buffers on the device, plus cuDNN's workspace and scratch. */
void layer_buffer_bytes(network *net, int i, size_t b[5])
{
    int j, k;
    layer l = net->layers[i];
    size_t n = (size_t)l.outputs * l.batch * sizeof(float);
    const float *arena[2] = { net->output_arena, net->delta_arena };
    size_t arena_n[2] = { net->output_arena_n, net->delta_arena_n };
    int kind[4] = { 0, 1, 2, 2 };
    for(k = 0; k < 4; ++k){
        float *p = buffer_slot(l, k);
        if(k < 2 && buffer_in_arena(p, arena[k], arena_n[k])){   /* a shared arena: all of it, at its first holder */
            for(j = 0; j < i && !buffer_in_arena(buffer_slot(net->layers[j], k), arena[k], arena_n[k]); ++j);
            if(j == i) b[k] += arena_n[k] * sizeof(float);
            continue;
        }
        int seen = !p, m;
        for(j = 0; j < i && !seen; ++j) for(m = 0; m < 4 && !seen; ++m) seen = p == buffer_slot(net->layers[j], m);
        if(!seen) b[kind[k]] += n;
    }
    b[3] += layer_param_count(l) * (l.weight_updates || l.bias_updates ? 2 : 1) * sizeof(float);
    if(l.workspace_size > b[4]) b[4] = l.workspace_size;
}

void network_buffer_bytes(network *net, size_t b[5])
{
    int i;
    memset(b, 0, 5 * sizeof(size_t));
    for(i = 0; i < net->n; ++i) layer_buffer_bytes(net, i, b);
}

/* Frees every layer's delta (CPU and GPU) once: stock [dropout] shares the delta of the layer before it. */
static void free_deltas(network *net)
{
    int i, j;
    for(i = 0; i < net->n; ++i){
        layer *l = &net->layers[i];
        float *d = l->delta;
        if(d){
            for(j = i; j < net->n; ++j) if(net->layers[j].delta == d) net->layers[j].delta = 0;
            free(d);
        }
#ifdef GPU
        float *g = l->delta_gpu;
        if(g){
            for(j = i; j < net->n; ++j) if(net->layers[j].delta_gpu == g) net->layers[j].delta_gpu = 0;
            cuda_free(g);
        }
#endif
    }
}

static void forward_not_run(layer l, network net) { (void)l; (void)net; }
#ifdef GPU
static void forward_not_run_gpu(layer l, network net) { (void)l; (void)net; }
#endif

/* Prediction reads only the seg heads that [dbisl] names (src/infer.c), so an inference network does not run the
 * layers that exist for the loss alone (the s2r [dtransform], the sdf heads and their [route], [r2s]): a layer runs
 * when a running layer reads it, starting from the seg heads and [dbisl] itself. Networks without [dbisl], or with a
 * layer type whose inputs are not known here, run every layer. Returns how many layers are not run. */
static int skip_loss_only_layers(network *net)
{
    int i, j, n = net->n, dl = -1, skipped = 0;
    for(i = 0; i < n; ++i) if(DBISL != BLANK && net->layers[i].type == DBISL) dl = i;
    if(dl < 0) return 0;
    char *run = calloc(n, 1);
    if(!run) return 0;
    const layer *d = &net->layers[dl];
    run[dl] = 1;
    for(j = 0; j < d->n; j += 2) if(d->input_layers[j] >= 0 && d->input_layers[j] < n) run[d->input_layers[j]] = 1;
    for(i = n - 1; i >= 0; --i){
        const layer *l = &net->layers[i];
        if(!run[i] || i == dl) continue;
        LAYER_TYPE t = l->type;
        if(t == ROUTE || t == DUALSPLIT){
            for(j = 0; j < l->n; ++j) if(l->input_layers[j] >= 0 && l->input_layers[j] < n) run[l->input_layers[j]] = 1;
            continue;
        }
        if(t == SHORTCUT && l->index >= 0 && l->index < n) run[l->index] = 1;
        else if(!(t == SHORTCUT || t == CONV3D || t == DECONV3D || t == UPSAMPLE3D || t == MAXPOOL3D || t == R2S ||
                  t == DTRANSFORM || t == DROPOUT || t == CONVOLUTIONAL || t == BATCHNORM || t == ACTIVE)){
            free(run);
            return 0;
        }
        if(i > 0) run[i - 1] = 1;
    }
    for(i = 0; i < n; ++i){
        if(run[i]) continue;
        net->layers[i].forward = forward_not_run;
#ifdef GPU
        net->layers[i].forward_gpu = forward_not_run_gpu;
#endif
        ++skipped;
    }
    free(run);
    return skipped;
}

/* The buffer sharings a network's [net] keys ask for (inplace_shortcut, recompute_outputs; share_deltas in
 * training), each with its log line: 0, or -1 with the error printed. */
static int share_buffers(network *net, char *cfg, int inference)
{
    char err[1024];
    size_t saved = 0, before, after, bound;
    int inplace = 1, share = 1, recompute = 1;
    if(cfg_net_int(cfg, "inplace_shortcut", 1, &inplace, err, sizeof(err)) ||
       (!inference && cfg_net_int(cfg, "share_deltas", 1, &share, err, sizeof(err))) ||
       cfg_net_int(cfg, "recompute_outputs", 1, &recompute, err, sizeof(err))){
        fprintf(stderr, "error: %s\n", err);
        return -1;
    }
    int ninplace = inplace ? network_share_shortcut_outputs(net, &saved) : 0;
    if(ninplace) fprintf(stderr, "[shortcut] in place: %d of them add into the output buffer of the layer before "
                         "(%.1f MiB fewer outputs)\n", ninplace, saved / 1048576.0);
    int shared = !inference && share ? network_share_deltas(net, &before, &after, &bound, err, sizeof(err)) : 1;
    if(shared < 0){
        fprintf(stderr, "error: %s: gradient buffers: %s\n", cfg, err);
        return -1;
    }
    if(shared == 0) fprintf(stderr, "gradient buffers: %.1f MiB shared by lifetime (one per layer: %.1f MiB; alive at "
                            "once at most: %.1f MiB)\n", after / 1048576.0, before / 1048576.0, bound / 1048576.0);
    int rebuilt = recompute ? network_recompute_outputs(net, &before, &after, &bound, err, sizeof(err)) : 1;
    if(rebuilt < 0){
        fprintf(stderr, "error: %s: output buffers: %s\n", cfg, err);
        return -1;
    }
    if(rebuilt == 0) fprintf(stderr, "%s: %.1f MiB shared by lifetime (one per layer: %.1f MiB; alive at once at most: "
                             "%.1f MiB)\n", inference ? "outputs of the forward pass" : "outputs rebuilt before backward",
                             after / 1048576.0, before / 1048576.0, bound / 1048576.0);
    return 0;
}

#ifdef GPU
const mirror_ops *darknet3d_mirror_ops = 0;
#endif

#if defined(GPU) && defined(CUDNN)
/* the cuDNN algorithm search's start-up lines (layers/conv3d_common.h c3_search_stats) */
static void print_search_report(void)
{
    c3_search_report sr;
    c3_search_stats(&sr);
    if(sr.searches) fprintf(stderr, "cuDNN algorithm search: %d convolution shapes in %.1f s, at most %.0f MiB of device scratch (kept for the process)\n",
                            sr.searches, sr.seconds, sr.scratch_bytes / 1048576.);
    if(sr.short_of_memory) fprintf(stderr, "note: %d convolution shapes took cuDNN's heuristic choice: no device memory for the search's scratch\n",
                                   sr.short_of_memory);
    if(sr.thin_fw || sr.thin_bwd || sr.thin_measured){
        fprintf(stderr, "direct kernels for thin layers: %d convolution shapes forward, %d backward", sr.thin_fw, sr.thin_bwd);
        if(sr.thin_measured) fprintf(stderr, " (%d measured against cuDNN's choice: a forward and backward of them %.2f ms with the faster, %.2f ms with cuDNN's)",
                                     sr.thin_measured, sr.best_ms, sr.cudnn_ms);
        fputc('\n', stderr);
    }
}
#endif

/* Parses cfg, checks it, installs the fast paths and shares the buffers: the network before its weights, or NULL
 * with the error printed. While layer3d_defer_device is set the device holds none of the outputs and deltas. */
static network *load_network_planned(char *cfg, int inference, int batch)
{
    char err[1024];
    /* stock sections Darknet reads unchecked ([net], [route], [shortcut], [dropout]): see cfg_check.h */
    if(cfg_precheck(cfg, err, sizeof(err))){
        fprintf(stderr, "error: %s\n", err);
        return 0;
    }
    layer3d_inference = inference;   /* our make_ functions skip delta, updates and backward-only buffers */
    parse_batch_override = batch;
    network *net = parse_network_cfg_err(cfg, err, sizeof(err));
    layer3d_inference = 0;
    parse_batch_override = 0;
#ifdef GPU
    if(net && layer3d_defer_device) network_drop_device_buffers(net, darknet3d_mirror_ops);   /* the stock layers' */
#endif
    if(net && inference){
        free_deltas(net);            /* the stock layers' ([route], [shortcut], [dropout], [cost]) */
        net->inference = 1;          /* backward_network and update_network refuse */
    }
    if(!net){
        cfg_error_key_line(cfg, err, sizeof(err));
        fprintf(stderr, "error: %s\n", err);
        return 0;
    }
#if defined(GPU) && defined(CUDNN)
    print_search_report();
#endif
    if(cfg_postcheck(cfg, net, err, sizeof(err))){
        fprintf(stderr, "error: %s\n", err);
        free_network(net);
        return 0;
    }
    darknet3d_install_fast_paths(net);   /* CPU [dropout], [route], equal-shape [shortcut]: layers/fast_paths.h */
    if(inference){   /* after the fast paths, which would give the skipped stock layers a forward again */
        int skipped = skip_loss_only_layers(net);
        if(skipped) fprintf(stderr, "inference network: %d of %d layers run; the other %d only feed the [dbisl] loss\n",
                            net->n - skipped, net->n, skipped);
    }
    if(share_buffers(net, cfg, inference)){
        free_network(net);
        return 0;
    }
    return net;
}

long floats_first_nonfinite(FILE *f)
{
    float buf[4096];
    size_t got, k;
    long at = 0;
    while((got = fread(buf, sizeof(float), 4096, f)) > 0){
        for(k = 0; k < got; ++k) if(!isfinite(buf[k])) return at + (long)k;
        at += (long)got;
    }
    return -1;
}

/* 0 when every parameter of a weights file is finite, else -1 with err naming the file and the first bad value;
 * the header as Darknet reads it (major, minor, revision, then seen as a size_t from version 0.2 on, else an int) */
static int weights_finite(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    int v[3];
    if(!f) return 0;   /* the loader has read it; nothing to add */
    long bad = -1;
    if(fread(v, sizeof(int), 3, f) == 3){
        size_t seen_bytes = (v[0] >= 0 && v[1] >= 0 && v[0] < 1000 && v[1] < 1000 && v[0] * 10 + v[1] >= 2) ? sizeof(size_t) : sizeof(int);
        if(fseek(f, (long)(3 * sizeof(int) + seen_bytes), SEEK_SET) == 0) bad = floats_first_nonfinite(f);
    }
    fclose(f);
    if(bad < 0) return 0;
    snprintf(err, errlen, "%s: parameter %ld of the file (counting from 1) is not finite (NaN or infinite): these weights "
             "cannot be used (a diverged run's file?)", path, bad + 1);
    return -1;
}

/* Darknet leaves a layer with dontsave=1 out of the files it writes and skips one with dontload=1 when it reads, so
 * a cfg with only one of the two cannot read its own files back: say so after a weights error */
static void weights_skip_note(const network *net)
{
    int i, save = -1, load = -1;
    for(i = 0; i < net->n; ++i){
        if(!net->layers[i].dontsave == !net->layers[i].dontload) continue;   /* both or neither: files and cfg agree */
        if(net->layers[i].dontsave && save < 0) save = i;
        if(net->layers[i].dontload && load < 0) load = i;
    }
    if(save >= 0 || load >= 0)
        fprintf(stderr, " (the cfg sets %s on layer %d: Darknet %s, so a cfg reads its own files only when each layer "
                "has both dontsave=1 and dontload=1, or neither)", save >= 0 ? "dontsave=1" : "dontload=1", save >= 0 ? save : load,
                save >= 0 ? "leaves that layer out of the files it writes" : "skips that layer when it reads a file");
    fprintf(stderr, "\n");
}

/* A GPU network's outputs and deltas reach the device only once the sharings have placed them (src/buffer_mirror.h):
 * the per-layer buffers the sharings replace never take device memory, not even while the network is built. */
static network *load_network_shaped(char *cfg, char *weights, int clear, int inference, int batch)
{
    char err[1024];
#ifdef GPU
    int defer = gpu_index >= 0 || darknet3d_mirror_ops;
    layer3d_defer_device = defer;
#endif
    network *net = load_network_planned(cfg, inference, batch);
#ifdef GPU
    layer3d_defer_device = 0;
    if(net && defer && network_mirror_buffers(net, darknet3d_mirror_ops, err, sizeof(err))){
        fprintf(stderr, "error: %s: device buffers for the outputs and gradients: %s\n", cfg, err);
        free_network(net);
        return 0;
    }
#endif
    if(!net) return 0;
    if(weights && weights[0]){
        if(load_weights_upto_err(net, weights, 0, net->n, err, sizeof(err)) != 0){
            fprintf(stderr, "\nerror: %s", err);
            weights_skip_note(net);
            free_network(net);
            return 0;
        }
        if(weights_finite(weights, err, sizeof(err))){
            fprintf(stderr, "\nerror: %s\n", err);
            free_network(net);
            return 0;
        }
    }
    if(clear) *net->seen = 0;
    return net;
}

network *load_network_checked(char *cfg, char *weights, int clear)
{
    return load_network_shaped(cfg, weights, clear, 0, 0);
}

network *load_network_infer(char *cfg, char *weights, int batch)
{
    return load_network_shaped(cfg, weights, 0, 1, batch > 0 ? batch : 0);
}
