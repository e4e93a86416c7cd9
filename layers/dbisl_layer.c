/* [dbisl]: the DBiSL composite loss (paper §3.3-3.5, docs/design.md §4) as a multi-input Darknet loss layer over the heads of one or two decoders. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dbisl_layer.h"
#include "numerics3d.h"
#include "dbisl_internal.h"
#include "dtransform_layer.h"
#include "layer3d.h"
#include "cfg_options.h"
#include "layers3d.h"
#include "cuda.h"

const char *dbisl_term_names[DBISL_NTERMS] = {
    "sup_seg", "sup_reg", "sup_s2r", "sup_r2s", "con_seg", "con_reg", "con_s2r", "con_r2s", "pse"
};

enum { RAMP_SIGMOID, RAMP_LINEAR, RAMP_NONE };

static dbisl_state *st(layer l) { return (dbisl_state *)l.plugin_state; }

int dbisl_decoders(layer l) { return st(l)->ndec; }
int dbisl_seg_input(layer l, int i) { return st(l)->seg[i]; }
int dbisl_sdf_input(layer l, int i) { return st(l)->sdf[i]; }

float dbisl_beta(layer l, int t)
{
    dbisl_state *s = st(l);
    if(s->rampup <= 0 || s->ramp_shape == RAMP_NONE || t >= s->rampup) return s->beta;
    float x = (float)t / s->rampup;
    if(s->ramp_shape == RAMP_LINEAR) return s->beta * x;
    return s->beta * expf(-5.f * (1.f - x) * (1.f - x));
}

/* The loss sums run over fixed blocks of this many voxels, each summed in order, then the block sums in block order:
 * the result does not depend on the thread count or on scheduling (a volume up to one block is one serial sum). */
#define DBISL_SUM_BLOCK 32768


/* MSE over the selected samples: returns mean (a-b)^2; adds scale * dMSE/da into ga and dMSE/db into gb (either may be NULL). */
static float mse_term(const float *a, const float *b, const int *sel, int batch, size_t V, float scale, float *ga, float *gb)
{
    int n = 0, i;
    for(i = 0; i < batch; ++i) n += sel[i];
    if(!n) return 0;
    double sum = 0;
    double N = (double)n * V;
    const long nb = (long)((V + DBISL_SUM_BLOCK - 1) / DBISL_SUM_BLOCK);
    double *part = malloc((nb > 0 ? nb : 1) * sizeof(double));
    if(!part) return NAN;
    for(i = 0; i < batch; ++i){
        if(!sel[i]) continue;
        size_t o = (size_t)i * V;
        long blk;
        #pragma omp parallel for schedule(static) if(nb > 1)
        for(blk = 0; blk < nb; ++blk){
            size_t j, j1 = (size_t)(blk + 1) * DBISL_SUM_BLOCK < V ? (size_t)(blk + 1) * DBISL_SUM_BLOCK : V;
            double s = nb == 1 ? sum : 0;   /* one block: the plain serial sum over every selected sample */
            for(j = (size_t)blk * DBISL_SUM_BLOCK; j < j1; ++j){
                float d = a[o + j] - b[o + j];
                s += (double)d * d;
                float g = (float)(scale * 2.0 * d / N);
                if(ga) ga[o + j] += g;
                if(gb) gb[o + j] -= g;
            }
            part[blk] = s;
        }
        if(nb == 1) sum = part[0];
        else for(blk = 0; blk < nb; ++blk) sum += part[blk];
    }
    free(part);
    return (float)(sum / N);
}

/* Lseg = dice_w * Dice(sigmoid(u), G) + ce_w * BCE(u, G) over the selected samples, from logits u = mult * x.
 * Adds scale * dLseg/dx into gx. Returns the value. */
static float seg_term(const float *x, float mult, const float *G, const int *sel, int batch, size_t V,
                      float dice_w, float ce_w, float scale, float *gx)
{
    int n = 0, i;
    for(i = 0; i < batch; ++i) n += sel[i];
    if(!n) return 0;
    const double eps = 1e-5;
    double I = 0, S = 0, ce = 0;
    double N = (double)n * V;
    long j;
    const long nb = (long)((V + DBISL_SUM_BLOCK - 1) / DBISL_SUM_BLOCK);
    double *part = malloc(3 * (nb > 0 ? nb : 1) * sizeof(double));
    if(!part) return NAN;
    for(i = 0; i < batch; ++i){
        if(!sel[i]) continue;
        size_t o = (size_t)i * V;
        long blk;
        #pragma omp parallel for schedule(static) if(nb > 1)
        for(blk = 0; blk < nb; ++blk){
            size_t jj, j1 = (size_t)(blk + 1) * DBISL_SUM_BLOCK < V ? (size_t)(blk + 1) * DBISL_SUM_BLOCK : V;
            double bI = nb == 1 ? I : 0, bS = nb == 1 ? S : 0, bce = nb == 1 ? ce : 0;   /* as in mse_term */
            for(jj = (size_t)blk * DBISL_SUM_BLOCK; jj < j1; ++jj){
                float u = mult * x[o + jj], p = sigmoid3d(u), g = G[o + jj];
                bI += (double)p * g;
                bS += (double)p * p + (double)g * g;
                bce += softplus3d(u) - g * u;
            }
            part[3 * blk] = bI; part[3 * blk + 1] = bS; part[3 * blk + 2] = bce;
        }
        if(nb == 1){ I = part[0]; S = part[1]; ce = part[2]; }
        else for(blk = 0; blk < nb; ++blk){ I += part[3 * blk]; S += part[3 * blk + 1]; ce += part[3 * blk + 2]; }
    }
    free(part);
    double dice = 1.0 - (2 * I + eps) / (S + eps);
    double val = dice_w * dice + ce_w * ce / N;
    if(gx){
        double den = (S + eps) * (S + eps);
        for(i = 0; i < batch; ++i){
            if(!sel[i]) continue;
            size_t o = (size_t)i * V;
            #pragma omp parallel for schedule(static) if(V > 32768)
            for(j = 0; j < (long)V; ++j){
                float u = mult * x[o + j], p = sigmoid3d(u), g = G[o + j];
                double dd_dp = -(2.0 * g * (S + eps) - (2 * I + eps) * 2.0 * p) / den;
                double dl_du = dice_w * dd_dp * p * (1 - p) + ce_w * (p - g) / N;
                gx[o + j] += (float)(scale * dl_du * mult);
            }
        }
    }
    return (float)val;
}

/* Computes every term and the gradients (into s->gz, s->gR) from host copies of the inputs. */
void dbisl_compute(layer l, network net, float **in_seg, float **in_sdf)
{
    dbisl_state *s = st(l);
    int B = l.batch, i, w;
    size_t V = s->V, n = (size_t)B * V, j;
    int lab_sel[64], all_sel[64], pse_sel[64];
    int nlab = 0;
    for(i = 0; i < B; ++i){
        float flag = net.truth ? net.truth[(size_t)i * l.truths + V] : 0;
        lab_sel[i] = flag > 0.5f;
        nlab += lab_sel[i];
        all_sel[i] = 1;
        pse_sel[i] = s->pse_labeled ? 1 : !lab_sel[i];
    }
    /* labels and their online signed distance R (per patch, no gradient) */
    for(i = 0; i < B; ++i){
        if(lab_sel[i]) for(j = 0; j < V; ++j) s->lab[i * V + j] = net.truth[(size_t)i * l.truths + j] > 0.5f;
        else memset(s->lab + i * V, 0, V * sizeof(float));
    }
    int need_R = nlab && (s->w[DBISL_SUP_REG] != 0 || s->w[DBISL_SUP_S2R] != 0);
    if(need_R) dtransform_forward(s->tl, s->lab, s->tmp);
    float *R = s->tmp;

    for(w = 0; w < s->ndec; ++w){
        #pragma omp parallel for schedule(static) if(n > 32768)
        for(j = 0; j < n; ++j){
            s->Y[w][j] = sigmoid3d(in_seg[w][j]);
            s->Rh[w][j] = tanhf(in_sdf[w][j]);
        }
        memset(s->gz[w], 0, n * sizeof(float));
        memset(s->gR[w], 0, n * sizeof(float));
        memset(s->gY[w], 0, n * sizeof(float));
        memset(s->dS[w], 0, n * sizeof(float));
    }
    float lam = s->lambda;
    float beta = dbisl_beta(l, (int)get_current_batch(&net));
    memset(s->term, 0, sizeof(s->term));
    int need_s2r = s->w[DBISL_CON_S2R] != 0 || (nlab && s->w[DBISL_SUP_S2R] != 0);

    for(w = 0; w < s->ndec; ++w){
        float *Y = s->Y[w], *Rh = s->Rh[w];
        if(need_s2r) dtransform_forward(s->ts[w], Y, s->S[w]);
        /* supervised, labeled samples */
        if(s->w[DBISL_SUP_SEG] != 0)
            s->term[DBISL_SUP_SEG] += seg_term(in_seg[w], 1.f, s->lab, lab_sel, B, V, s->dice_w, s->ce_w, lam * s->w[DBISL_SUP_SEG], s->gz[w]);
        if(s->w[DBISL_SUP_REG] != 0 && need_R)
            s->term[DBISL_SUP_REG] += mse_term(Rh, R, lab_sel, B, V, lam * s->w[DBISL_SUP_REG], s->gR[w], 0);
        if(s->w[DBISL_SUP_S2R] != 0 && need_R)
            s->term[DBISL_SUP_S2R] += mse_term(s->S[w], R, lab_sel, B, V, lam * s->w[DBISL_SUP_S2R], s->dS[w], 0);
        if(s->w[DBISL_SUP_R2S] != 0)
            s->term[DBISL_SUP_R2S] += seg_term(Rh, s->k_seg, s->lab, lab_sel, B, V, s->dice_w, s->ce_w, lam * s->w[DBISL_SUP_R2S], s->gR[w]);
        /* inter-task consistency, all samples */
        if(s->w[DBISL_CON_S2R] != 0)
            s->term[DBISL_CON_S2R] += mse_term(s->S[w], Rh, all_sel, B, V, lam * s->w[DBISL_CON_S2R], s->dS[w], s->gR[w]);
        if(s->w[DBISL_CON_R2S] != 0){
            /* MSE(sigmoid(k R^), Y): gradient into R^ through the r2s, into Y directly */
            float *P = s->ybar; /* scratch */
            for(j = 0; j < n; ++j) P[j] = sigmoid3d(s->k * Rh[j]);
            float *gP = s->msk; /* scratch */
            memset(gP, 0, n * sizeof(float));
            s->term[DBISL_CON_R2S] += mse_term(P, Y, all_sel, B, V, lam * s->w[DBISL_CON_R2S], gP, s->gY[w]);
            for(j = 0; j < n; ++j) s->gR[w][j] += gP[j] * P[j] * (1 - P[j]) * s->k;
        }
        if(need_s2r) dtransform_backward(s->ts[w], s->dS[w], s->gY[w]);
    }
    if(s->ndec == 2){
        if(s->w[DBISL_CON_SEG] != 0)
            s->term[DBISL_CON_SEG] = mse_term(s->Y[0], s->Y[1], all_sel, B, V, lam * s->w[DBISL_CON_SEG], s->gY[0], s->gY[1]);
        if(s->w[DBISL_CON_REG] != 0)
            s->term[DBISL_CON_REG] = mse_term(s->Rh[0], s->Rh[1], all_sel, B, V, lam * s->w[DBISL_CON_REG], s->gR[0], s->gR[1]);
        if(s->w[DBISL_PSE] != 0){
            /* pseudo label and unanimous confidence mask (no gradient through either) */
            double cnt = 0;
            for(i = 0; i < B; ++i){
                for(j = i * V; j < (i + 1) * V; ++j){
                    int a = s->Y[0][j] > .5f, b = s->Y[1][j] > .5f, c = s->Rh[0][j] < 0, d = s->Rh[1][j] < 0;
                    float m = (pse_sel[i] && (!s->pse_mask || (a == b && b == c && c == d))) ? 1.f : 0.f;
                    float yb = .5f * (s->Y[0][j] + s->Y[1][j]);
                    s->ybar[j] = s->pseudo_hard ? (yb > .5f) : yb;
                    s->msk[j] = m;
                    cnt += m;
                }
            }
            if(cnt > 0){
                float sc = beta * s->w[DBISL_PSE];
                for(w = 0; w < 2; ++w){
                    double ce = 0;
                    for(j = 0; j < n; ++j){
                        if(!s->msk[j]) continue;
                        float z = in_seg[w][j];
                        ce += softplus3d(z) - s->ybar[j] * z;
                        s->gz[w][j] += (float)(sc * (s->Y[w][j] - s->ybar[j]) / cnt);
                    }
                    s->term[DBISL_PSE] += (float)(ce / cnt);
                }
            }
        }
    }
    /* chain rule to the raw head outputs */
    for(w = 0; w < s->ndec; ++w){
        #pragma omp parallel for schedule(static) if(n > 32768)
        for(j = 0; j < n; ++j){
            s->gz[w][j] += s->gY[w][j] * s->Y[w][j] * (1 - s->Y[w][j]);
            s->gR[w][j] *= 1 - s->Rh[w][j] * s->Rh[w][j];
        }
    }
    double total = 0;
    for(i = 0; i < DBISL_NTERMS; ++i){
        float wt = s->w[i] * (i == DBISL_PSE ? beta : lam);
        total += (double)wt * s->term[i];
        l.output[i] = s->term[i];
    }
    l.cost[0] = (float)total;
}

void forward_dbisl_layer(const layer l, network net)
{
    if(!net.train) return;
    dbisl_state *s = st(l);
    float *seg[2], *sdf[2];
    int w;
    for(w = 0; w < s->ndec; ++w){
        seg[w] = net.layers[s->seg[w]].output;
        sdf[w] = net.layers[s->sdf[w]].output;
    }
    dbisl_compute(l, net, seg, sdf);
}

void backward_dbisl_layer(const layer l, network net)
{
    if(!net.train) return;
    dbisl_state *s = st(l);
    int w;
    size_t n = (size_t)l.batch * s->V;
    float a = -(float)l.batch; /* delta = -batch * gradient (Darknet: update adds lr/batch * sum of deltas) */
    for(w = 0; w < s->ndec; ++w){
        axpy_cpu((int)n, a, s->gz[w], 1, net.layers[s->seg[w]].delta, 1);
        axpy_cpu((int)n, a, s->gR[w], 1, net.layers[s->sdf[w]].delta, 1);
    }
}

void free_dbisl_layer(layer l)
{
    dbisl_state *s = st(l);
    if(!s) return;
    int w;
    for(w = 0; w < 2; ++w) if(s->ts[w]) dtransform_free(s->ts[w]);
    if(s->tl) dtransform_free(s->tl);
#ifdef GPU
    dbisl_free_gpu(s);
#endif
    free(s);
}

static int check_input(size_params params, int idx, const char *key, int D, int H, int W, char *err, size_t errlen)
{
    layer in = params.net->layers[idx];
    int d = in.out_d > 0 ? in.out_d : 1;
    if(in.out_c != 1 || d != D || in.out_h != D * H || in.out_w != W){
        snprintf(err, errlen, "key '%s': layer %d outputs %d x %d x %d x %d, expected 1 x %d x %d x %d (one channel at the network's input size)",
                 key, idx, in.out_c, d, d ? in.out_h / d : in.out_h, in.out_w, D, H, W);
        return -1;
    }
    return 0;
}

int parse_dbisl_section(list *options, size_params params, layer *out, char *err, size_t errlen)
{
    network *net = params.net;
    int D = net->d, H = net->h, W = net->w;
    int seg[2], sdf[2], nseg = 0, nsdf = 0, i;
    if(cfg_layers(options, "seg", params.index, seg, 2, &nseg, err, errlen)) return -1;
    if(cfg_layers(options, "sdf", params.index, sdf, 2, &nsdf, err, errlen)) return -1;
    if(nseg != nsdf){ snprintf(err, errlen, "key 'sdf': %d layers given but 'seg' has %d (one seg and one sdf head per decoder)", nsdf, nseg); return -1; }
    for(i = 0; i < nseg; ++i){
        if(check_input(params, seg[i], "seg", D, H, W, err, errlen)) return -1;
        if(check_input(params, sdf[i], "sdf", D, H, W, err, errlen)) return -1;
    }
    if(params.batch > 64){ snprintf(err, errlen, "batch %d too large for [dbisl] (max 64)", params.batch); return -1; }

    dbisl_state cfg = {0};
    cfg.ndec = nseg;
    for(i = 0; i < nseg; ++i){ cfg.seg[i] = seg[i]; cfg.sdf[i] = sdf[i]; }
    static const char *wkeys[DBISL_NTERMS] = {"w_sup_seg", "w_sup_reg", "w_sup_s2r", "w_sup_r2s", "w_con_seg", "w_con_reg", "w_con_s2r", "w_con_r2s", "w_pse"};
    for(i = 0; i < DBISL_NTERMS; ++i) if(cfg_float(options, "[dbisl]", wkeys[i], 1.f, 0, &cfg.w[i], err, errlen)) return -1;
    static const char *ramps[] = {"sigmoid", "linear", "none", 0};
    if(cfg_float(options, "[dbisl]", "lambda", 0.5f, 0, &cfg.lambda, err, errlen)) return -1;
    if(cfg_float(options, "[dbisl]", "beta", 1.f, 0, &cfg.beta, err, errlen)) return -1;
    if(cfg_int(options, "[dbisl]", "rampup", 0, 0, &cfg.rampup, err, errlen)) return -1;
    if(cfg_choice(options, "ramp", "sigmoid", ramps, &cfg.ramp_shape, err, errlen)) return -1;
    if(cfg_float(options, "[dbisl]", "k", -1500.f, 0, &cfg.k, err, errlen)) return -1;
    if(cfg_float(options, "[dbisl]", "k_seg", cfg.k, 0, &cfg.k_seg, err, errlen)) return -1;
    if(cfg.k >= 0 || cfg.k_seg >= 0){ snprintf(err, errlen, "key '%s': must be negative (R is negative inside)", cfg.k >= 0 ? "k" : "k_seg"); return -1; }
    if(cfg_float(options, "[dbisl]", "dice_weight", 0.5f, 0, &cfg.dice_w, err, errlen)) return -1;
    if(cfg_float(options, "[dbisl]", "ce_weight", 0.5f, 0, &cfg.ce_w, err, errlen)) return -1;
    if(cfg_int(options, "[dbisl]", "pse_labeled", 1, 0, &cfg.pse_labeled, err, errlen)) return -1;
    if(cfg_int(options, "[dbisl]", "pseudo_hard", 0, 0, &cfg.pseudo_hard, err, errlen)) return -1;
    if(cfg_int(options, "[dbisl]", "pse_mask", 1, 0, &cfg.pse_mask, err, errlen)) return -1;
    int label_exact = 0;
    if(cfg_int(options, "[dbisl]", "label_exact", 0, 0, &label_exact, err, errlen)) return -1;
    if(dtransform_parse_params(options, "[dbisl]", &cfg.tp, err, errlen)) return -1;
    cfg.lp = cfg.tp;
    cfg.lp.exact = label_exact;
    if(nseg == 1){
        cfg.w[DBISL_CON_SEG] = cfg.w[DBISL_CON_REG] = cfg.w[DBISL_PSE] = 0; /* need two decoders */
    }

    size_t V = (size_t)D * H * W, n = (size_t)params.batch * V;
    size_t nbuf = 7 * 2 + 4;
    dbisl_state *s = calloc(1, sizeof(dbisl_state) + nbuf * n * sizeof(float));
    if(!s){ snprintf(err, errlen, "out of memory for %zu voxels", n); return -1; }
    *s = cfg;
    s->V = V;
    s->D = D; s->H = H; s->W = W;
    s->batch = params.batch;
    float *p = (float *)(s + 1);
    int w;
    for(w = 0; w < 2; ++w){
        s->Y[w] = p; p += n; s->Rh[w] = p; p += n; s->S[w] = p; p += n; s->dS[w] = p; p += n;
        s->gY[w] = p; p += n; s->gz[w] = p; p += n; s->gR[w] = p; p += n;
    }
    s->lab = p; p += n; s->ybar = p; p += n; s->msk = p; p += n; s->tmp = p; p += n;
    for(w = 0; w < s->ndec; ++w){
        s->ts[w] = dtransform_alloc(&s->tp, params.batch, D, H, W, 0);
        if(!s->ts[w]){
            snprintf(err, errlen, "cannot allocate the distance transform for %d x %d x %d", D, H, W);
            while(--w >= 0) dtransform_free(s->ts[w]);
            free(s); return -1;
        }
    }
    s->tl = dtransform_alloc(&s->lp, params.batch, D, H, W, 0);
    if(!s->tl){
        snprintf(err, errlen, "cannot allocate the label distance transform");
        for(w = 0; w < s->ndec; ++w) dtransform_free(s->ts[w]);
        free(s); return -1;
    }
#ifdef GPU
    /* the device path keeps its own buffers and transform states; the host ones serve the CPU path */
    if(gpu_index >= 0 && dbisl_alloc_gpu(s)){
        snprintf(err, errlen, "cannot allocate the device buffers and transforms for %d x %d x %d", D, H, W);
        free_dbisl_layer((layer){.plugin_state = s});
        return -1;
    }
#endif

    layer l = {0};
    l.type = DBISL;
    l.batch = params.batch;
    l.c = l.out_c = 1; l.d = l.out_d = 1; l.h = l.out_h = 1; l.w = l.out_w = DBISL_NTERMS;
    l.inputs = params.inputs;
    l.outputs = DBISL_NTERMS;
    l.truths = (int)V + 1;
    l.output = layer3d_alloc((size_t)DBISL_NTERMS * l.batch);
    l.delta = layer3d_alloc((size_t)DBISL_NTERMS * l.batch);
    l.cost = calloc(1, sizeof(float));
    l.n = nseg * 2;
    l.input_layers = calloc(4, sizeof(int));
    for(w = 0; w < nseg; ++w){ l.input_layers[2 * w] = seg[w]; l.input_layers[2 * w + 1] = sdf[w]; }
    l.plugin_state = s;
    l.forward = forward_dbisl_layer;
    l.backward = backward_dbisl_layer;
#ifdef GPU
    l.forward_gpu = forward_dbisl_layer_gpu;
    l.backward_gpu = backward_dbisl_layer_gpu;
    if(gpu_index >= 0){
        l.output_gpu = cuda_make_array(l.output, (size_t)DBISL_NTERMS * l.batch);
        l.delta_gpu = cuda_make_array(l.delta, (size_t)DBISL_NTERMS * l.batch);
    }
#endif
    fprintf(stderr, "dbisl      %d decoder%s: seg", nseg, nseg > 1 ? "s" : "");
    for(w = 0; w < nseg; ++w) fprintf(stderr, " %d", seg[w]);
    fprintf(stderr, " sdf");
    for(w = 0; w < nseg; ++w) fprintf(stderr, " %d", sdf[w]);
    fprintf(stderr, "  lambda=%g beta=%g rampup=%d\n", s->lambda, s->beta, s->rampup);
    *out = l;
    return 0;
}
