/* [conv3d]: 3D convolution (PyTorch Conv3d semantics) with optional batch-norm inside the layer and a Darknet activation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include <omp.h>
#include "conv3d_layer.h"
#include "conv3d_onednn.h"
#include "conv3d_direct.h"
#include "conv3d_winograd.h"
#include "layers3d.h"

dims3d conv3d_out_dims(dims3d in, const conv3d_options *o)
{
    int n[3] = {in.d, in.h, in.w}, r[3], i;
    for(i = 0; i < 3; ++i){
        int span = n[i] + 2 * o->p[i] - o->k[i];
        r[i] = span < 0 ? 0 : span / o->s[i] + 1;
    }
    dims3d out = {o->filters, r[0], r[1], r[2]};
    return out;
}

static const c3_kind conv_kind = {
    "conv3d", &CONV3D, 0, conv3d_out_dims, forward_conv3d_layer, backward_conv3d_layer, update_conv3d_layer,
#ifdef GPU
    forward_conv3d_layer_gpu, backward_conv3d_layer_gpu, update_conv3d_layer_gpu,
#endif
};

layer make_conv3d_layer(int batch, dims3d in, conv3d_options o) { return c3_make_layer(batch, in, o, &conv_kind); }

/* Threads for a layer's chunk loops: 1 keeps the serial loops (OpenBLAS threads inside each GEMM); more runs
 * whole chunks (vol2col + a one-thread GEMM) on OpenMP threads, which costs one thread wake-up per layer
 * instead of several per chunk and keeps each small GEMM's panels in its own core's cache. */
static int chunk_threads(const conv3d_state *st)
{
    int t = omp_get_max_threads();
    return st->nthreads < t ? st->nthreads : t;
}

/* OpenBLAS must not start its own threads inside ours: one thread while a parallel chunk loop runs. */
static int blas_threads_push(void) { int n = openblas_get_num_threads(); openblas_set_num_threads(1); return n; }
static void blas_threads_pop(int n) { openblas_set_num_threads(n); }

/* Thin pointwise convolutions (1x1x1, stride 1, no padding, at most C3_THIN_OC filters: the V-Net's seg and sdf
 * heads) run as direct loops over blocks of C3_PW_BLOCK voxels: a GEMM with M <= 4 or oneDNN's reorders of the
 * full-resolution input cost several times the memory traffic of the convolution itself. Every sum runs in a fixed
 * order (channels in order; the weight gradient per block, then over blocks in order), so the results do not depend
 * on the thread count. */
#define C3_THIN_OC 4
#define C3_PW_BLOCK 4096

static int pointwise_thin(layer l, const conv3d_state *st)
{
    return geom3d_is_identity(&st->g) && l.out_c <= C3_THIN_OC && l.c >= 1;
}

/* y[o][p] = sum_c w[o][c] x[c][p] over every sample */
static void pointwise_forward(layer l, network net)
{
    const int C = l.c, OC = l.out_c;
    const size_t P = (size_t)l.out_w * l.out_h;
    const long nbk = (long)((P + C3_PW_BLOCK - 1) / C3_PW_BLOCK), ntask = (long)l.batch * nbk;
    long task;
    #pragma omp parallel for schedule(static)
    for(task = 0; task < ntask; ++task){
        int b = (int)(task / nbk), o, c;
        size_t p0 = (size_t)(task % nbk) * C3_PW_BLOCK, np = P - p0 < C3_PW_BLOCK ? P - p0 : C3_PW_BLOCK, j;
        const float *x = net.input + (size_t)b * l.inputs + p0;
        for(o = 0; o < OC; ++o){
            float *y = l.output + (size_t)b * l.outputs + (size_t)o * P + p0;
            const float *w = l.weights + (size_t)o * C;
            for(j = 0; j < np; ++j) y[j] = w[0] * x[j];
            for(c = 1; c < C; ++c){
                const float *xc = x + (size_t)c * P, wc = w[c];
                for(j = 0; j < np; ++j) y[j] += wc * xc[j];
            }
        }
    }
}

/* sum_j a[j] b[j] in 16 interleaved partial sums (a fixed order that vectorises) */
static float dot16(const float *a, const float *b, size_t n)
{
    float acc[16] = {0}, s = 0;
    size_t j = 0;
    int t;
    for(; j + 16 <= n; j += 16) for(t = 0; t < 16; ++t) acc[t] += a[j + t] * b[j + t];
    for(; j < n; ++j) s += a[j] * b[j];
    for(t = 0; t < 16; ++t) s += acc[t];
    return s;
}

/* dW[o][c] += sum_{b,p} dy[o][p] x[c][p]; dX[c][p] += sum_o w[o][c] dy[o][p]. -1 when short of memory (nothing changed). */
static int pointwise_backward(layer l, network net)
{
    const int C = l.c, OC = l.out_c, NW = C * OC;
    const size_t P = (size_t)l.out_w * l.out_h;
    const long nbk = (long)((P + C3_PW_BLOCK - 1) / C3_PW_BLOCK), ntask = (long)l.batch * nbk;
    float *part = malloc((size_t)ntask * NW * sizeof(float));
    if(!part) return -1;
    long task;
    #pragma omp parallel for schedule(static)
    for(task = 0; task < ntask; ++task){
        int b = (int)(task / nbk), o, c;
        size_t p0 = (size_t)(task % nbk) * C3_PW_BLOCK, np = P - p0 < C3_PW_BLOCK ? P - p0 : C3_PW_BLOCK, j;
        const float *x = net.input + (size_t)b * l.inputs + p0;
        const float *dy = l.delta + (size_t)b * l.outputs + p0;
        float *pt = part + (size_t)task * NW;
        for(o = 0; o < OC; ++o)
            for(c = 0; c < C; ++c) pt[o * C + c] = dot16(dy + (size_t)o * P, x + (size_t)c * P, np);
        if(!net.delta) continue;
        float *dx = net.delta + (size_t)b * l.inputs + p0;
        for(c = 0; c < C; ++c){
            float *dxc = dx + (size_t)c * P;
            for(o = 0; o < OC; ++o){
                const float *dyo = dy + (size_t)o * P, w = l.weights[(size_t)o * C + c];
                for(j = 0; j < np; ++j) dxc[j] += w * dyo[j];
            }
        }
    }
    long k;
    #pragma omp parallel for schedule(static)
    for(k = 0; k < NW; ++k){
        float s = 0;
        long t;
        for(t = 0; t < ntask; ++t) s += part[(size_t)t * NW + k];
        l.weight_updates[k] += s;
    }
    free(part);
    return 0;
}

void forward_conv3d_layer(layer l, network net)
{
    conv3d_state *st = c3_state(l);
    const geom3d *g = &st->g;
    const int K = (int)geom3d_rows(g), OC = l.out_c;
    const size_t P = geom3d_positions(g);
    const int ident = geom3d_is_identity(g);
    const int T = chunk_threads(st);
    if(pointwise_thin(l, st)){ pointwise_forward(l, net); c3_post_forward(l, net); return; }
    if(conv3d_direct_applies(l) && conv3d_direct_forward(l, net) == 0){ c3_post_forward(l, net); return; }
    if(conv3d_winograd_forward_applies(l) && conv3d_winograd_forward(l, net) == 0){ c3_post_forward(l, net); return; }
#ifdef ONEDNN
    if(conv3d_onednn_forward(l, net) == 0){ c3_post_forward(l, net); return; }
#endif
    if(T > 1){
        const long nck = (long)((P + st->chunk - 1) / st->chunk), ntask = (long)l.batch * nck;
        const size_t slot = c3_cpu_slot_floats(l);
        int saved = blas_threads_push();
        long task;
        #pragma omp parallel for num_threads(T) schedule(dynamic, 1)
        for(task = 0; task < ntask; ++task){
            int b = (int)(task / nck);
            size_t p0 = (size_t)(task % nck) * st->chunk, np = P - p0 < st->chunk ? P - p0 : st->chunk;
            float *col = net.workspace + (size_t)omp_get_thread_num() * slot;
            vol2col_cpu(net.input + (size_t)b * l.inputs, g, p0, np, col);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, (int)np, K, 1.f, l.weights, K, col, (int)np, 0.f,
                        l.output + (size_t)b * l.outputs + p0, (int)P);
        }
        blas_threads_pop(saved);
        c3_post_forward(l, net);
        return;
    }
    int b;
    for(b = 0; b < l.batch; ++b){
        const float *x = net.input + (size_t)b * l.inputs;
        float *y = l.output + (size_t)b * l.outputs;
        size_t p0;
        for(p0 = 0; p0 < P; p0 += st->chunk){
            size_t np = P - p0 < st->chunk ? P - p0 : st->chunk;
            const float *B = x + p0;
            int ldb = (int)P;
            if(!ident){ vol2col_cpu(x, g, p0, np, net.workspace); B = net.workspace; ldb = (int)np; }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, (int)np, K, 1.f, l.weights, K, B, ldb, 0.f, y + p0, (int)P);
        }
    }
    c3_post_forward(l, net);
}

/* wt[c][o][t] = w[o][c][k3-1-t]: the kernel of the flipped correlation (geom3d_flipped). Reversing the flat tap
 * index reverses every axis, since (kd-1-a, kh-1-b, kw-1-e) is tap k3-1-t. */
static void flip_weights(const float *w, int oc, int c, int k3, float *wt)
{
    int o, i, t;
    for(o = 0; o < oc; ++o)
        for(i = 0; i < c; ++i){
            const float *src = w + ((size_t)o * c + i) * k3;
            float *dst = wt + ((size_t)i * oc + o) * k3;
            for(t = 0; t < k3; ++t) dst[t] = src[k3 - 1 - t];
        }
}

/* The threaded backward: dW over (sample, chunk) tasks into per-thread sums (thread 0 straight into
 * weight_updates), then dX over chunks of input voxels (disjoint writes) or, without the flipped form,
 * the serial col2vol loop. */
static void backward_threaded(layer l, network net, int T, const geom3d *gt, float *wt)
{
    conv3d_state *st = c3_state(l);
    const geom3d *g = &st->g;
    const int K = (int)geom3d_rows(g), OC = l.out_c;
    const size_t P = geom3d_positions(g), slot = c3_cpu_slot_floats(l), colf = slot - (size_t)l.nweights;
    const long nck = (long)((P + st->chunk - 1) / st->chunk), ntask = (long)l.batch * nck;
    int saved = blas_threads_push();
    int t;
    for(t = 1; t < T; ++t) memset(net.workspace + (size_t)t * slot + colf, 0, (size_t)l.nweights * sizeof(float));
    #pragma omp parallel num_threads(T)
    {
        int me = omp_get_thread_num();
        float *col = net.workspace + (size_t)me * slot;
        float *dw = me ? col + colf : l.weight_updates;
        long task;
        /* static: each thread's private sum always holds the same tasks, so the result repeats at a given thread count */
        #pragma omp for schedule(static)
        for(task = 0; task < ntask; ++task){
            int b = (int)(task / nck);
            size_t p0 = (size_t)(task % nck) * st->chunk, np = P - p0 < st->chunk ? P - p0 : st->chunk;
            vol2col_cpu(net.input + (size_t)b * l.inputs, g, p0, np, col);
            /* dW += dY * col^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OC, K, (int)np, 1.f, l.delta + (size_t)b * l.outputs + p0, (int)P,
                        col, (int)np, 1.f, dw, K);
        }
        /* the implicit barrier above: every private sum is complete */
        long i;
        #pragma omp for schedule(static)
        for(i = 0; i < l.nweights; ++i){
            float s = 0;
            int u;
            for(u = 1; u < T; ++u) s += net.workspace[(size_t)u * slot + colf + i];
            l.weight_updates[i] += s;
        }
        if(net.delta && gt){
            const size_t Pin = geom3d_positions(gt);
            const int Kt = (int)geom3d_rows(gt);
            const long nckx = (long)((Pin + st->chunk_dx - 1) / st->chunk_dx), ntx = (long)l.batch * nckx;
            #pragma omp for schedule(dynamic, 1)
            for(task = 0; task < ntx; ++task){
                int b = (int)(task / nckx);
                size_t p0 = (size_t)(task % nckx) * st->chunk_dx, np = Pin - p0 < st->chunk_dx ? Pin - p0 : st->chunk_dx;
                vol2col_cpu(l.delta + (size_t)b * l.outputs, gt, p0, np, col);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l.c, (int)np, Kt, 1.f, wt, Kt, col, (int)np, 1.f,
                            net.delta + (size_t)b * l.inputs + p0, (int)Pin);
            }
        }
    }
    blas_threads_pop(saved);
    if(!net.delta || gt) return;
    int b;
    for(b = 0; b < l.batch; ++b){
        const float *dy = l.delta + (size_t)b * l.outputs;
        float *dx = net.delta + (size_t)b * l.inputs;
        size_t p0;
        for(p0 = 0; p0 < P; p0 += st->chunk){
            size_t np = P - p0 < st->chunk ? P - p0 : st->chunk;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, (int)np, OC, 1.f, l.weights, K, dy + p0, (int)P, 0.f, net.workspace, (int)np);
            col2vol_cpu(net.workspace, g, p0, np, dx);
        }
    }
}

void backward_conv3d_layer(layer l, network net)
{
    conv3d_state *st = c3_state(l);
    const geom3d *g = &st->g;
    const int K = (int)geom3d_rows(g), OC = l.out_c;
    const size_t P = geom3d_positions(g);
    const int ident = geom3d_is_identity(g);
    geom3d gt;
    /* stride 1: dX is a forward correlation of dY (one GEMM per chunk straight into dX, no col2vol scatter) */
    const int flip = net.delta && st->chunk_dx && geom3d_flipped(g, OC, &gt);
    const size_t Pin = flip ? geom3d_positions(&gt) : 0;
    const int Kt = flip ? (int)geom3d_rows(&gt) : 0;
    float *wt = flip ? net.workspace + (c3_cpu_workspace_floats(l) - l.nweights) : 0;
    const int T = chunk_threads(st);
    int b;
    c3_post_backward(l, net);
    if(pointwise_thin(l, st) && pointwise_backward(l, net) == 0) return;
    if(conv3d_direct_applies(l) && conv3d_direct_backward(l, net) == 0) return;
    if(conv3d_winograd_backward_applies(l) && conv3d_winograd_backward(l, net) == 0) return;
#ifdef ONEDNN
    if(conv3d_onednn_backward(l, net) == 0) return;
#endif
    if(flip) flip_weights(l.weights, OC, l.c, g->kd * g->kh * g->kw, wt);
    if(T > 1){
        backward_threaded(l, net, T, flip ? &gt : 0, wt);
        return;
    }
    for(b = 0; b < l.batch; ++b){
        const float *x = net.input + (size_t)b * l.inputs;
        const float *dy = l.delta + (size_t)b * l.outputs;
        float *dx = net.delta ? net.delta + (size_t)b * l.inputs : 0;
        size_t p0;
        for(p0 = 0; p0 < P; p0 += st->chunk){
            size_t np = P - p0 < st->chunk ? P - p0 : st->chunk;
            const float *B = x + p0;
            int ldb = (int)P;
            if(!ident){ vol2col_cpu(x, g, p0, np, net.workspace); B = net.workspace; ldb = (int)np; }
            /* dW += dY * col^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OC, K, (int)np, 1.f, dy + p0, (int)P, B, ldb, 1.f, l.weight_updates, K);
            if(!dx || flip) continue;
            /* dcol = W^T * dY, folded back into the input volume (the column buffer is reused) */
            if(ident){
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, (int)np, OC, 1.f, l.weights, K, dy + p0, (int)P, 1.f, dx + p0, (int)P);
            }else{
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, (int)np, OC, 1.f, l.weights, K, dy + p0, (int)P, 0.f, net.workspace, (int)np);
                col2vol_cpu(net.workspace, g, p0, np, dx);
            }
        }
        if(!flip) continue;
        /* dX += Wt * col(dY), over chunks of input voxels */
        for(p0 = 0; p0 < Pin; p0 += st->chunk_dx){
            size_t np = Pin - p0 < st->chunk_dx ? Pin - p0 : st->chunk_dx;
            vol2col_cpu(dy, &gt, p0, np, net.workspace);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l.c, (int)np, Kt, 1.f, wt, Kt, net.workspace, (int)np, 1.f, dx + p0, (int)Pin);
        }
    }
}

void update_conv3d_layer(layer l, update_args a) { c3_update(l, a); }
int save_conv3d_weights(layer l, FILE *fp) { return c3_save(l, fp); }
int load_conv3d_weights(layer l, FILE *fp) { return c3_load(l, fp); }

int resize_conv3d_layer(layer *l, int d, int h, int w) { return c3_resize_layer(l, d, h, w, &conv_kind); }

/* The free hook of [conv3d] and [deconv3d] (set_layer_type_free): what lies behind plugin_state and outside
 * free_layer's stock list, i.e. the oneDNN primitives, the state's device buffers (c3_free_gpu) and the cuDNN descriptors; then the state itself. */
void free_conv3d_layer(layer l)
{
    conv3d_state *st = c3_state(l);
#ifdef ONEDNN
    conv3d_onednn_free(l);
#endif
#ifdef GPU
    c3_free_gpu(st);
#endif
#ifdef CUDNN
    if(l.convDesc){
        cudnnDestroyTensorDescriptor(l.srcTensorDesc);
        cudnnDestroyTensorDescriptor(l.dstTensorDesc);
        cudnnDestroyFilterDescriptor(l.weightDesc);
        cudnnDestroyConvolutionDescriptor(l.convDesc);
    }
#endif
    free(st);
}

int parse_conv3d_section(list *options, size_params params, layer *l, char *err, size_t errlen)
{
    return c3_parse_section(options, params, l, &conv_kind, err, errlen);
}
