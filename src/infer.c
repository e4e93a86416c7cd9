/* Sliding-window inference over whole volumes (DTC/UA-MT test_single_case placement, overlap averaging), the network's foreground probability, thresholding, largest component and label-volume metrics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cfg_keys.h"
#include "cfg_options.h"
#include "darknet3d.h"
#include "infer.h"
#include "layer3d.h"
#include "sw_index.h"
#include "infer_gpu.h"
#ifdef GPU
#include "cuda3d.h"
#endif

int sw_starts(int size, int patch, int stride, int *starts)
{
    if(size < 1 || patch < 1 || stride < 1 || size < patch) return 0;
    if(stride > patch) stride = patch;   /* windows never leave a gap */
    int n = (size - patch + stride - 1) / stride + 1, i;   /* ceil((size - patch)/stride) + 1 */
    if(starts) for(i = 0; i < n; ++i) starts[i] = stride*i < size - patch ? stride*i : size - patch;
    return n;
}

/* Where the windows of one sliding-window pass go: the padded volume, its offset and each axis's starts. */
typedef struct {
    int dim[3], patch[3], pdim[3], off[3], nst[3], *st[3];
    long pvox, PD, PH, PW;
} sw_plan;

static void sw_plan_free(sw_plan *p)
{
    int a;
    for(a = 0; a < 3; ++a){ free(p->st[a]); p->st[a] = 0; }
}

/* 0; -1 with err for a bad window or stride; -2 out of memory */
static int sw_plan_make(sw_plan *p, int D, int H, int W, const int patch[3], const int stride[3], char *err, size_t errlen)
{
    int a;
    memset(p, 0, sizeof(*p));
    p->dim[0] = D; p->dim[1] = H; p->dim[2] = W;
    for(a = 0; a < 3; ++a){
        if(patch[a] < 1 || stride[a] < 1){
            snprintf(err, errlen, "sliding window: window %dx%dx%d and stride %dx%dx%d must be >= 1",
                     patch[0], patch[1], patch[2], stride[0], stride[1], stride[2]);
            sw_plan_free(p);
            return -1;
        }
        p->patch[a] = patch[a];
        /* DTC pads a short axis to the window, pad//2 before, the rest after */
        p->pdim[a] = p->dim[a] > patch[a] ? p->dim[a] : patch[a];
        p->off[a] = (p->pdim[a] - p->dim[a]) / 2;
        p->nst[a] = sw_starts(p->pdim[a], patch[a], stride[a], 0);
        p->st[a] = malloc(sizeof(int) * p->nst[a]);
        if(!p->st[a]){ sw_plan_free(p); return -2; }
        sw_starts(p->pdim[a], patch[a], stride[a], p->st[a]);
    }
    p->PD = p->pdim[0]; p->PH = p->pdim[1]; p->PW = p->pdim[2];
    p->pvox = (long)patch[0]*patch[1]*patch[2];
    return 0;
}

#ifdef GPU
/* the plan's geometry as the element functions of sw_index.h take it */
static sw_geom sw_plan_geom(const sw_plan *p)
{
    sw_geom g;
    int a;
    for(a = 0; a < 3; ++a){ g.dim[a] = p->dim[a]; g.patch[a] = p->patch[a]; g.off[a] = p->off[a]; }
    g.PH = p->PH; g.PW = p->PW;
    return g;
}
#endif

/* the padded start of window wi, in DTC's order (x (w) outermost, z (d) innermost) */
static void sw_window_start(const sw_plan *p, long wi, int *z0, int *y0, int *x0)
{
    const int *nst = p->nst;
    int iz = (int)(wi % nst[0]), iy = (int)((wi / nst[0]) % nst[1]), ix = (int)(wi / ((long)nst[0]*nst[1]));
    *z0 = p->st[0][iz]; *y0 = p->st[1][iy]; *x0 = p->st[2][ix];
}

/* copies the window at padded position (z0, y0, x0) out of vol into dst, zeros outside the volume */
static void sw_gather(const sw_plan *p, const float *vol, int z0, int y0, int x0, float *dst)
{
    const int *patch = p->patch, *off = p->off;
    int D = p->dim[0], H = p->dim[1], W = p->dim[2], d;
    #pragma omp parallel for schedule(static)
    for(d = 0; d < patch[0]; ++d) for(int h = 0; h < patch[1]; ++h){
        float *row = dst + (long)patch[2]*(h + (long)patch[1]*d);
        int vd = z0 + d - off[0], vh = y0 + h - off[1];
        if(vd < 0 || vd >= D || vh < 0 || vh >= H){ memset(row, 0, sizeof(float)*patch[2]); continue; }
        const float *src = vol + (long)W*(vh + (long)H*vd);
        for(int w = 0; w < patch[2]; ++w){
            int vw = x0 + w - off[2];
            row[w] = (vw < 0 || vw >= W) ? 0.f : src[vw];
        }
    }
}

/* adds one window's probabilities at padded position (z0, y0, x0) to score and cnt (threads split the window's
 * slices; windows are added one after another, so the sums have the same order at any thread count) */
static void sw_scatter(const sw_plan *p, const float *prob, int z0, int y0, int x0, float *score, float *cnt)
{
    const int *patch = p->patch;
    int d;
    #pragma omp parallel for schedule(static)
    for(d = 0; d < patch[0]; ++d) for(int h = 0; h < patch[1]; ++h){
        long base = x0 + p->PW*((long)(y0 + h) + p->PH*(z0 + d));
        const float *pr = prob + (long)patch[2]*(h + (long)patch[1]*d);
        for(int w = 0; w < patch[2]; ++w){ score[base + w] += pr[w]; cnt[base + w] += 1; }
    }
}

/* the padded volume's average cropped back to D x H x W */
static void sw_crop(const sw_plan *p, const float *score, const float *cnt, float *prob, float *count)
{
    int D = p->dim[0], H = p->dim[1], W = p->dim[2], d, h, w;
    const int *off = p->off;
    for(d = 0; d < D; ++d) for(h = 0; h < H; ++h) for(w = 0; w < W; ++w){
        long pi = (w + off[2]) + p->PW*((long)(h + off[1]) + p->PH*(d + off[0]));
        long oi = w + (long)W*(h + (long)H*d);
        prob[oi] = score[pi] / cnt[pi];   /* every voxel is covered: the last start is size - patch */
        if(count) count[oi] = cnt[pi];
    }
}

/* every window through fn, `slots` at a time, summed into score and cnt; 0 or -1 with err */
static int sw_run(const sw_plan *p, const float *vol, int slots, sw_fn fn, void *ctx, float *in, float *out, int *pos,
                  float *score, float *cnt, char *err, size_t errlen)
{
    const int *nst = p->nst;
    long nwin = (long)nst[0]*nst[1]*nst[2], wi;
    long pvox = p->pvox;
    int filled = 0, b;
    for(wi = 0; wi <= nwin; ++wi){
        if(wi < nwin){
            int z0, y0, x0;
            sw_window_start(p, wi, &z0, &y0, &x0);
            sw_gather(p, vol, z0, y0, x0, in + filled*pvox);
            pos[3*filled] = z0; pos[3*filled+1] = y0; pos[3*filled+2] = x0;
            ++filled;
            if(filled < slots) continue;
        }
        if(filled == 0) break;
        if(filled < slots) memset(in + filled*pvox, 0, sizeof(float)*pvox*(slots - filled));
        for(b = 0; b < 3 * filled; ++b) pos[3 * slots + b] = pos[b] - p->off[b % 3];
        if(fn(ctx, in, pos + 3 * slots, filled, slots, out, err, errlen) != 0) return -1;
        for(b = 0; b < filled; ++b) sw_scatter(p, out + b*pvox, pos[3*b], pos[3*b+1], pos[3*b+2], score, cnt);
        filled = 0;
    }
    return 0;
}

int sliding_window(const float *vol, int D, int H, int W, const int patch[3], const int stride[3], int slots,
                   sw_fn fn, void *ctx, float *prob, float *count, char *err, size_t errlen)
{
    if(!vol || !prob || !fn || slots < 1 || D < 1 || H < 1 || W < 1){
        snprintf(err, errlen, "sliding window: bad arguments");
        return -1;
    }
    sw_plan p;
    int rc = sw_plan_make(&p, D, H, W, patch, stride, err, errlen);
    if(rc == -1) return -1;
    float *score = 0, *cnt = 0, *in = 0, *out = 0;
    int *pos = 0;
    if(rc == 0){
        long nvox = p.PD*p.PH*p.PW;
        score = calloc(nvox, sizeof(float)); cnt = calloc(nvox, sizeof(float));
        in = malloc(sizeof(float) * p.pvox * slots); out = malloc(sizeof(float) * p.pvox * slots);
        pos = malloc(sizeof(int) * 6 * slots);   /* padded starts, then the volume origins fn is given */
        if(!score || !cnt || !in || !out || !pos) rc = -2;
    }
    if(rc == -2){
        snprintf(err, errlen, "sliding window: out of memory (volume %dx%dx%d, window %dx%dx%d, %d per pass)",
                 D, H, W, patch[0], patch[1], patch[2], slots);
        rc = -1;
    } else {
        rc = sw_run(&p, vol, slots, fn, ctx, in, out, pos, score, cnt, err, errlen);
        if(rc == 0) sw_crop(&p, score, cnt, prob, count);
    }
    free(score); free(cnt); free(in); free(out); free(pos);
    sw_plan_free(&p);
    return rc;
}
/* host copy of a layer's output (pulled from the GPU when in use) */
static float *layer_host_output(network *net, int i)
{
    layer *l = &net->layers[i];
#ifdef GPU
    if(gpu_index >= 0 && l->output_gpu) layer3d_pull(l->output_gpu, l->output, (size_t)l->outputs*l->batch);
#else
    (void)net;
#endif
    return l->output;
}

/* layer types whose activation field is meaningful (others leave it 0, which is LOGISTIC) */
static int has_activation(LAYER_TYPE t)
{
    return t == CONVOLUTIONAL || t == DECONVOLUTIONAL || t == CONNECTED || t == ACTIVE || t == SHORTCUT ||
           (CONV3D != BLANK && t == CONV3D) || (DECONV3D != BLANK && t == DECONV3D);
}


/* Where the foreground probability of a forward pass is read: one or two outputs (two: the [dbisl] decoders' seg
 * heads, averaged) and how each is read (SW_PROB_*). */
typedef struct { int layer[2], n, mode; } fg_source;

/* the rules of network_foreground_prob (infer.h); 0, or -1 with err */
static int fg_source_find(network *net, int decoder, fg_source *s, char *err, size_t errlen);

int network_decoder_check(network *net, int decoder, char *err, size_t errlen)
{
    fg_source s;
    return fg_source_find(net, decoder, &s, err, errlen);
}

static int fg_source_find(network *net, int decoder, fg_source *s, char *err, size_t errlen)
{
    long vox = (long)net->d*net->h*net->w;
    int li, k;
    for(li = 0; li < net->n; ++li) if(DBISL != BLANK && net->layers[li].type == DBISL) break;
    if(li < net->n){
        layer dl = net->layers[li];
        int ndec = dl.n >= 4 ? 2 : 1;   /* inputs [seg_a, sdf_a(, seg_b, sdf_b)] */
        if(decoder >= ndec){
            snprintf(err, errlen, "decoder b asked, but the [dbisl] layer (layer %d) has one decoder", li);
            return -1;
        }
        int lo = decoder < 0 ? 0 : decoder, hi = decoder < 0 ? ndec - 1 : decoder;
        s->n = 0;
        s->mode = SW_PROB_SIGMOID;
        for(k = lo; k <= hi; ++k){
            int si = dl.input_layers[2*k];
            if((long)net->layers[si].outputs != vox){
                snprintf(err, errlen, "seg head of decoder %c (layer %d) gives %d values per sample, the input has %ld voxels",
                         'a' + k, si, net->layers[si].outputs, vox);
                return -1;
            }
            s->layer[s->n++] = si;
        }
        return 0;
    }
    if(decoder > 0){
        snprintf(err, errlen, "decoder b asked, but the network has no [dbisl] layer");
        return -1;
    }
    /* the output layer: last one that is not a cost layer */
    for(li = net->n - 1; li > 0 && net->layers[li].type == COST; --li);
    layer l = net->layers[li];
    long ch = vox ? l.outputs / vox : 0;
    if(ch * vox != l.outputs || (ch != 1 && ch != 2)){
        snprintf(err, errlen, "output layer %d (%s) gives %d values per sample: expected 1 or 2 channels of %ld voxels",
                 li, get_layer_string(l.type), l.outputs, vox);
        return -1;
    }
    int is_prob = (R2S != BLANK && l.type == R2S) || l.type == LOGXENT || (has_activation(l.type) && l.activation == LOGISTIC);
    s->layer[0] = li;
    s->n = 1;
    s->mode = ch == 2 ? SW_PROB_SOFTMAX2 : is_prob ? SW_PROB_SAME : SW_PROB_SIGMOID;
    return 0;
}

int network_foreground_prob(network *net, int decoder, float *prob, char *err, size_t errlen)
{
    long vox = (long)net->d*net->h*net->w, v;
    int b, k;
    fg_source s;
    if(fg_source_find(net, decoder, &s, err, errlen)) return -1;
    for(k = 0; k < s.n; ++k){
        const float *o = layer_host_output(net, s.layer[k]);
        long stride = net->layers[s.layer[k]].outputs;
        for(b = 0; b < net->batch; ++b){
            float *pb = prob + b*vox;
            #pragma omp parallel for schedule(static)
            for(v = 0; v < vox; ++v){
                float q = sw_prob_at(o, vox, stride, s.mode, b, v);
                pb[v] = k == 0 ? q : pb[v] + q;
            }
        }
    }
    if(s.n > 1){
        #pragma omp parallel for schedule(static)
        for(v = 0; v < vox*net->batch; ++v) prob[v] *= 1.f / s.n;
    }
    return 0;
}

typedef struct { network *net; int decoder; progress *pg; long done, total; } net_ctx;

static int net_window_fn(void *ctx, float *in, const int *origin, int n, int slots, float *prob, char *err, size_t errlen)
{
    net_ctx *c = ctx;
    (void)slots; (void)origin;
    network_predict(c->net, in);   /* train = 0 inside: dropout off, batch norm on rolling statistics */
    int r = network_foreground_prob(c->net, c->decoder, prob, err, errlen);
    c->done += n;
    progress_update(c->pg, c->done, c->total);
    return r;
}

long sw_device_windows;

#ifdef GPU
/* 1 when the sliding window can run on the device: a network on the GPU whose outputs need no rebuilding during
 * the forward pass (src/output_recompute.h; forward_device_input does not rebuild them) */
static int sw_on_device(const network *net)
{
    int i;
    if(gpu_index < 0 || net->gpu_index < 0 || !net->input_gpu) return 0;
    for(i = 0; i < net->n; ++i){
        const int *r = net->layers[i].recompute_forward;
        if(r[0] || r[1] || r[2]) return 0;
    }
    return 1;
}

/* the forward pass of a network whose input is already in net->input_gpu: Darknet's forward_network_gpu without
 * the copy of net->input to the device, with what network_predict sets (no truth, no delta, train = 0) */
static void forward_device_input(network *netp)
{
    network net = *netp;
    int i;
    net.train = 0;
    net.truth = 0;
    net.delta = 0;
    cuda_set_device(net.gpu_index);
    for(i = 0; i < net.n; ++i){
        net.index = i;
        layer l = net.layers[i];
        l.forward_gpu(l, net);
        net.input_gpu = l.output_gpu;
        net.input = l.output;
        if(l.truth){ net.truth_gpu = l.output_gpu; net.truth = l.output; }
    }
}

/* sw_run + sw_crop on the device: the volume is copied there once; each window is gathered into the network's
 * input, and the heads' probability and the sums are made there (the same windows, order and additions as on the
 * host); the sums and counts come back once. 0, or -1 with err. */
static int sw_run_gpu(network *net, const sw_plan *p, const float *vol, int decoder, net_ctx *c, float *prob,
                      char *err, size_t errlen)
{
    fg_source s;
    if(fg_source_find(net, decoder, &s, err, errlen)) return -1;
    cuda_set_device(net->gpu_index);
    sw_geom g = sw_plan_geom(p);
    long nvol = (long)p->dim[0]*p->dim[1]*p->dim[2], npad = p->PD*p->PH*p->PW, pvox = p->pvox, wi;
    long nwin = (long)p->nst[0]*p->nst[1]*p->nst[2];
    int slots = net->batch, filled = 0, b, k, rc = -1;
    int *pos = malloc(sizeof(int) * 3 * slots);
    float *sum = malloc(sizeof(float) * npad), *cnt = malloc(sizeof(float) * npad);
    float *vol_d = 0, *sum_d = 0, *cnt_d = 0, *prob_d = 0;
    if(!pos || !sum || !cnt){
        snprintf(err, errlen, "sliding window: out of memory (padded volume %ldx%ldx%ld)", p->PD, p->PH, p->PW);
        goto done;
    }
    if(cuda3d_malloc((void **)&vol_d, sizeof(float) * nvol) || cuda3d_malloc((void **)&sum_d, sizeof(float) * npad) ||
       cuda3d_malloc((void **)&cnt_d, sizeof(float) * npad) || cuda3d_malloc((void **)&prob_d, sizeof(float) * pvox * slots)){
        char why[600] = "";
        cuda3d_take_error(why, sizeof(why));
        snprintf(err, errlen, "sliding window on the GPU (padded volume %ldx%ldx%ld): %s", p->PD, p->PH, p->PW, why);
        goto done;
    }
    CUDA3D_CHECK(cudaMemcpy(vol_d, vol, sizeof(float) * nvol, cudaMemcpyHostToDevice));
    CUDA3D_CHECK(cudaMemset(sum_d, 0, sizeof(float) * npad));
    CUDA3D_CHECK(cudaMemset(cnt_d, 0, sizeof(float) * npad));
    for(wi = 0; wi <= nwin; ++wi){
        if(wi < nwin){
            int *q = pos + 3*filled;
            sw_window_start(p, wi, q, q + 1, q + 2);
            sw_gather_gpu(vol_d, g, q[0], q[1], q[2], net->input_gpu + filled*pvox);
            if(++filled < slots) continue;
        }
        if(filled == 0) break;
        if(filled < slots) CUDA3D_CHECK(cudaMemset(net->input_gpu + filled*pvox, 0, sizeof(float) * pvox * (slots - filled)));
        forward_device_input(net);
        for(k = 0; k < s.n; ++k){
            layer l = net->layers[s.layer[k]];
            sw_prob_gpu(l.output_gpu, pvox, l.outputs, s.mode, filled, k == 0, k == s.n - 1 && s.n > 1 ? 1.f / s.n : 1.f, prob_d);
        }
        for(b = 0; b < filled; ++b) sw_scatter_gpu(prob_d + b*pvox, g, pos[3*b], pos[3*b+1], pos[3*b+2], sum_d, cnt_d);
        c->done += filled;
        sw_device_windows += filled;
        progress_update(c->pg, c->done, c->total);
        filled = 0;
    }
    CUDA3D_CHECK(cudaMemcpy(sum, sum_d, sizeof(float) * npad, cudaMemcpyDeviceToHost));
    CUDA3D_CHECK(cudaMemcpy(cnt, cnt_d, sizeof(float) * npad, cudaMemcpyDeviceToHost));
    sw_crop(p, sum, cnt, prob, 0);
    rc = 0;
done:
    cuda3d_free((void **)&vol_d); cuda3d_free((void **)&sum_d); cuda3d_free((void **)&cnt_d); cuda3d_free((void **)&prob_d);
    free(pos); free(sum); free(cnt);
    return rc;
}
#endif

int network_predict_volume(network *net, const float *vol, int nx, int ny, int nz, const int stride[3],
                           int decoder, float *prob, char *err, size_t errlen)
{
    return network_predict_volume_progress(net, vol, nx, ny, nz, stride, decoder, NULL, prob, err, errlen);
}

/* 0 when every probability is finite, else -2 with err: how many are not, and the input's range (an input far
 * outside the range the network was trained on, or weights that grew too large, overflow its activations) */
static int prob_finite(const float *prob, const float *vol, size_t n, char *err, size_t errlen)
{
    size_t i, bad = 0;
    for(i = 0; i < n; ++i) bad += !isfinite(prob[i]);
    if(!bad) return 0;
    float lo = vol[0], hi = vol[0];
    for(i = 1; i < n; ++i){ if(vol[i] < lo) lo = vol[i]; if(vol[i] > hi) hi = vol[i]; }
    snprintf(err, errlen, "the network's output is not finite (NaN or infinite) at %zu of %zu voxels (the input's values "
             "span [%g, %g] after [net] normalize; an input far outside the trained range, or weights grown too large, "
             "overflow the activations)", bad, n, lo, hi);
    return -2;
}

int network_predict_volume_progress(network *net, const float *vol, int nx, int ny, int nz, const int stride[3],
                                    int decoder, progress *pg, float *prob, char *err, size_t errlen)
{
    if(net->c != 1 || net->inputs != net->d*net->h*net->w){
        snprintf(err, errlen, "network input is %d x %d x %d x %d (c x d x h x w): one channel expected",
                 net->c, net->d, net->h, net->w);
        return -1;
    }
    int patch[3] = { net->d, net->h, net->w }, dim[3] = { nz, ny, nx }, a;
    net_ctx c = { net, decoder, pg, 0, 1 };
    for(a = 0; a < 3; ++a) c.total *= sw_starts(dim[a] > patch[a] ? dim[a] : patch[a], patch[a], stride[a], 0);
#ifdef GPU
    if(sw_on_device(net)){
        sw_plan p;
        int rc = sw_plan_make(&p, nz, ny, nx, patch, stride, err, errlen);
        if(rc == -2) snprintf(err, errlen, "sliding window: out of memory");
        if(rc == 0) rc = sw_run_gpu(net, &p, vol, decoder, &c, prob, err, errlen);
        sw_plan_free(&p);
        return rc < 0 ? -1 : prob_finite(prob, vol, (size_t)nx * ny * nz, err, errlen);
    }
#endif
    if(sliding_window(vol, nz, ny, nx, patch, stride, net->batch, net_window_fn, &c, prob, 0, err, errlen)) return -1;
    return prob_finite(prob, vol, (size_t)nx * ny * nz, err, errlen);
}

long largest_component(unsigned char *mask, int D, int H, int W)
{
    long HW = (long)H*W, n = (long)D*HW, i;
    int *lab = calloc(n, sizeof(int));
    long *queue = malloc(sizeof(long) * (n ? n : 1));
    if(!lab || !queue){ free(lab); free(queue); return -1; }
    int cur = 0, best = 0;
    long bestsize = 0;
    for(i = 0; i < n; ++i){
        if(!mask[i] || lab[i]) continue;
        ++cur;
        long qh = 0, qt = 0;
        queue[qt++] = i; lab[i] = cur;
        while(qh < qt){
            long v = queue[qh++];
            int d = (int)(v / HW), h = (int)((v / W) % H), w = (int)(v % W), dd, dh, dw;
            for(dd = -1; dd <= 1; ++dd) for(dh = -1; dh <= 1; ++dh) for(dw = -1; dw <= 1; ++dw){
                int a = d + dd, b = h + dh, c = w + dw;
                if(a < 0 || a >= D || b < 0 || b >= H || c < 0 || c >= W) continue;
                long u = c + W*((long)b + (long)H*a);
                if(mask[u] && !lab[u]){ lab[u] = cur; queue[qt++] = u; }
            }
        }
        if(qt > bestsize){ bestsize = qt; best = cur; }
    }
    for(i = 0; i < n; ++i) mask[i] = mask[i] && lab[i] == best;
    free(lab); free(queue);
    return bestsize;
}

int cfg_infer_stride(const char *cfg, int stride[3], char *err, size_t errlen)
{
    char v[256];
    int line = 0;
    int r = cfg_net_value(cfg, "infer_stride", v, sizeof(v), &line, err, errlen);
    if(r <= 0) return r;
    const cfg_key *k = cfg_key_find("[net]", "infer_stride");
    if(cfg_int3_value(k, v, stride)){
        snprintf(err, errlen, "%s:%d: [net]: key 'infer_stride': expected three integers 'D,H,W' (z,y,x), each in [%.0f, %.0f]", cfg, line, k->lo, k->hi);
        return -1;
    }
    return 1;
}

int infer_default_batch(void)
{
    return gpu_index >= 0 ? 0 : 1;
}

void infer_default_stride(const network *net, int stride[3])
{
    stride[0] = net->d > 1 ? net->d / 2 : 1; stride[1] = net->h > 1 ? net->h / 2 : 1; stride[2] = net->w > 1 ? net->w / 2 : 1;
}

long threshold_label(const float *prob, int nx, int ny, int nz, int lcc, volume *lab, char *err, size_t errlen)
{
    if(volume_alloc(lab, nx, ny, nz) != 0){ snprintf(err, errlen, "out of memory for the label volume"); return -1; }
    long n = (long)nx*ny*nz, i;
    unsigned char *m = malloc(n ? n : 1);
    if(!m){ volume_free(lab); snprintf(err, errlen, "out of memory"); return -1; }
    for(i = 0; i < n; ++i) m[i] = prob[i] > 0.5f;
    if(lcc && largest_component(m, nz, ny, nx) < 0){ free(m); volume_free(lab); snprintf(err, errlen, "out of memory"); return -1; }
    long cnt = 0;
    for(i = 0; i < n; ++i){ lab->data[i] = m[i]; cnt += m[i]; }
    free(m);
    return cnt;
}

int volume_metrics(const volume *pred, const volume *ref, seg_metrics *m, char *err, size_t errlen)
{
    if(pred->nx != ref->nx || pred->ny != ref->ny || pred->nz != ref->nz){
        snprintf(err, errlen, "prediction is %d x %d x %d, reference %d x %d x %d", pred->nx, pred->ny, pred->nz, ref->nx, ref->ny, ref->nz);
        return -1;
    }
    long n = (long)ref->nx*ref->ny*ref->nz, i;
    unsigned char *a = malloc(n), *b = malloc(n);
    if(!a || !b){ free(a); free(b); snprintf(err, errlen, "out of memory"); return -1; }
    for(i = 0; i < n; ++i){ a[i] = pred->data[i] != 0; b[i] = ref->data[i] != 0; }
    float sp[3] = { ref->dz, ref->dy, ref->dx };
    int r = seg_metrics_compute(a, b, ref->nz, ref->ny, ref->nx, sp, m);
    free(a); free(b);
    if(r != 0) snprintf(err, errlen, "metrics failed (spacing %g %g %g, or out of memory)", sp[2], sp[1], sp[0]);
    return r;
}
