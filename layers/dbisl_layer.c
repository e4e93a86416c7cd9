/* [dbisl]: the DBiSL composite loss (paper §3.3-3.5, docs/design.md §4) as a multi-input Darknet loss layer over the heads of one or two decoders. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dbisl_layer.h"
#include "numerics3d.h"
#include "dbisl_internal.h"
#include "dtransform_layer.h"
#include "layer3d.h"
#include "cuda3d.h"
#include "cfg_options.h"
#include "cfg_keys.h"
#include "layers3d.h"
#include "cuda.h"
#include "option_list.h"
#include "activations.h"

const char *dbisl_term_names[DBISL_NTERMS] = {
    "sup_seg", "sup_reg", "sup_s2r", "sup_r2s", "con_seg", "con_reg", "con_s2r", "con_r2s", "pse"
};

enum { RAMP_SIGMOID, RAMP_LINEAR, RAMP_NONE };

static dbisl_state *st(layer l) { return (dbisl_state *)l.plugin_state; }

int dbisl_decoders(layer l) { return st(l)->ndec; }
int dbisl_seg_input(layer l, int i) { return st(l)->seg[i]; }
int dbisl_sdf_input(layer l, int i) { return st(l)->sdf[i]; }
int dbisl_s2r_input(layer l, int i) { return st(l)->s2r[i]; }
int dbisl_r2s_input(layer l, int i) { return st(l)->r2s[i]; }

/* a ramp from 0 (sigmoid: exp(-5)) to 1 over rampup iterations, 1 from then on */
static float ramp(int shape, int rampup, int t)
{
    if(rampup <= 0 || shape == RAMP_NONE || t >= rampup) return 1.f;
    float x = (float)t / rampup;
    if(shape == RAMP_LINEAR) return x;
    return expf(-5.f * (1.f - x) * (1.f - x));
}

float dbisl_pse_cover(layer l)
{
    return st(l)->pse_cover;
}

float dbisl_beta(layer l, int t)
{
    dbisl_state *s = st(l);
    return s->beta * ramp(s->ramp_shape, s->rampup, t);
}

void dbisl_factors(layer l, int t, float f[DBISL_NTERMS])
{
    dbisl_state *s = st(l);
    float con = s->lambda * ramp(s->con_ramp_shape, s->con_rampup, t);
    int i;
    for(i = 0; i < DBISL_NTERMS; ++i) f[i] = s->lambda;
    f[DBISL_CON_SEG] = f[DBISL_CON_REG] = f[DBISL_CON_S2R] = f[DBISL_CON_R2S] = con;
    f[DBISL_PSE] = dbisl_beta(l, t);
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

/* The samples each group of terms applies to; returns the number of labeled samples. */
static int select_samples(const dbisl_state *s, layer l, network net, int *lab_sel, int *all_sel, int *pse_sel)
{
    int i, nlab = 0;
    for(i = 0; i < l.batch; ++i){
        float flag = net.truth ? net.truth[(size_t)i * l.truths + s->V] : 0;
        lab_sel[i] = flag > 0.5f;
        nlab += lab_sel[i];
        all_sel[i] = 1;
        pse_sel[i] = s->pse_labeled ? 1 : !lab_sel[i];
    }
    return nlab;
}

/* The labels (0/1; 0 for unlabeled samples) into s->lab and, when a term needs it, their signed distance
 * R = T_s2r(label) into s->tmp (per patch, no gradient). Returns 1 when R was made. */
static int make_labels(dbisl_state *s, layer l, network net, const int *lab_sel, int nlab)
{
    size_t V = s->V, j;
    int i;
    for(i = 0; i < l.batch; ++i){
        if(lab_sel[i]) for(j = 0; j < V; ++j) s->lab[i * V + j] = net.truth[(size_t)i * l.truths + j] > 0.5f;
        else memset(s->lab + i * V, 0, V * sizeof(float));
    }
    int need_R = nlab && (s->w[DBISL_SUP_REG] != 0 || s->w[DBISL_SUP_S2R] != 0);
    if(need_R) dtransform_forward(s->tl, s->lab, s->tmp);
    return need_R;
}

/* Y = sigmoid(z), R^ = tanh(s) per decoder; every gradient buffer zeroed */
static void activate_heads(dbisl_state *s, const dbisl_inputs *in, size_t n)
{
    int w;
    size_t j;
    for(w = 0; w < s->ndec; ++w){
        #pragma omp parallel for schedule(static) if(n > 32768)
        for(j = 0; j < n; ++j){
            s->Y[w][j] = sigmoid3d(in->seg[w][j]);
            s->Rh[w][j] = tanhf(in->sdf[w][j]);
        }
        memset(s->gz[w], 0, n * sizeof(float));
        memset(s->gR[w], 0, n * sizeof(float));
        memset(s->gY[w], 0, n * sizeof(float));
        memset(s->dS[w], 0, n * sizeof(float));
        memset(s->gP[w], 0, n * sizeof(float));
    }
}

/* The terms of decoder w: supervised ones on the labeled samples, inter-task consistency on all.
 * S = T_s2r(Y_w) and P = T_r2s(R^_w) are the outputs of the [dtransform] / [r2s] sections (NULL when absent:
 * the terms that read them are then off, parse_dbisl_section made sure of it). */
static void decoder_terms(dbisl_state *s, int w, const dbisl_inputs *in, const float *R, const int *lab_sel,
                          const int *all_sel, int B, const float *f)
{
    size_t V = s->V;
    float *Rh = s->Rh[w];
    const float *S = in->S[w];
    int s2r = s->con_side[0], r2s = s->con_side[1];
    if(s->w[DBISL_SUP_SEG] != 0)
        s->term[DBISL_SUP_SEG] += seg_term(in->seg[w], 1.f, s->lab, lab_sel, B, V, s->dice_w, s->ce_w, f[DBISL_SUP_SEG] * s->w[DBISL_SUP_SEG], s->gz[w]);
    if(s->w[DBISL_SUP_REG] != 0 && R)
        s->term[DBISL_SUP_REG] += mse_term(Rh, R, lab_sel, B, V, f[DBISL_SUP_REG] * s->w[DBISL_SUP_REG], s->gR[w], 0);
    if(s->w[DBISL_SUP_S2R] != 0 && R)
        s->term[DBISL_SUP_S2R] += mse_term(S, R, lab_sel, B, V, f[DBISL_SUP_S2R] * s->w[DBISL_SUP_S2R], s->dS[w], 0);
    if(s->w[DBISL_SUP_R2S] != 0)
        s->term[DBISL_SUP_R2S] += seg_term(Rh, s->k_seg, s->lab, lab_sel, B, V, s->dice_w, s->ce_w, f[DBISL_SUP_R2S] * s->w[DBISL_SUP_R2S], s->gR[w]);
    if(s->w[DBISL_CON_S2R] != 0)
        s->term[DBISL_CON_S2R] += mse_term(S, Rh, all_sel, B, V, f[DBISL_CON_S2R] * s->w[DBISL_CON_S2R],
                                           s2r & DBISL_SIDE_SEG ? s->dS[w] : 0, s2r & DBISL_SIDE_SDF ? s->gR[w] : 0);
    if(s->w[DBISL_CON_R2S] != 0)   /* MSE(T_r2s(R^), Y): the gradient w.r.t. the [r2s] output, which carries it on */
        s->term[DBISL_CON_R2S] += mse_term(in->P[w], s->Y[w], all_sel, B, V, f[DBISL_CON_R2S] * s->w[DBISL_CON_R2S],
                                           r2s & DBISL_SIDE_SDF ? s->gP[w] : 0, r2s & DBISL_SIDE_SEG ? s->gY[w] : 0);
}

/* Pseudo-supervision: pseudo label and confidence mask (pse_mask 1: all four heads agree, 2: the two segmentation
 * heads agree, 0: every voxel; no gradient through either), then the
 * masked CE of each decoder against them. */
static void pse_term(dbisl_state *s, const dbisl_inputs *in, const int *pse_sel, int B, float beta)
{
    size_t V = s->V, n = (size_t)B * V, j;
    double cnt = 0;
    int i, w, nsel = 0;
    for(i = 0; i < B; ++i){
        nsel += pse_sel[i] != 0;
        for(j = i * V; j < (i + 1) * V; ++j){
            int a = s->Y[0][j] > .5f, b = s->Y[1][j] > .5f, c = s->Rh[0][j] < 0, d = s->Rh[1][j] < 0;
            float m = (pse_sel[i] && (!s->pse_mask || (a == b && (s->pse_mask == 2 || (b == c && c == d))))) ? 1.f : 0.f;
            float yb = .5f * (s->Y[0][j] + s->Y[1][j]);
            s->ybar[j] = s->pseudo_hard ? (yb > .5f) : yb;
            s->msk[j] = m;
            cnt += m;
        }
    }
    s->pse_cover = nsel ? (float)(cnt / ((double)nsel * V)) : 0;
    if(cnt <= 0) return;
    float sc = beta * s->w[DBISL_PSE];
    for(w = 0; w < 2; ++w){
        double ce = 0;
        for(j = 0; j < n; ++j){
            if(!s->msk[j]) continue;
            float z = in->seg[w][j];
            ce += softplus3d(z) - s->ybar[j] * z;
            s->gz[w][j] += (float)(sc * (s->Y[w][j] - s->ybar[j]) / cnt);
        }
        s->term[DBISL_PSE] += (float)(ce / cnt);
    }
}

/* Computes every term and the gradients w.r.t. the heads (s->gz, s->gR) and w.r.t. the [dtransform] and
 * [r2s] outputs (s->dS, s->gP) from host copies of the inputs; l.output = the terms, l.cost = L_all. */
void dbisl_compute(layer l, network net, const dbisl_inputs *in)
{
    dbisl_state *s = st(l);
    int B = l.batch, i, w;
    size_t n = (size_t)B * s->V, j;
    int lab_sel[64], all_sel[64], pse_sel[64];
    int nlab = select_samples(s, l, net, lab_sel, all_sel, pse_sel);
    const float *R = make_labels(s, l, net, lab_sel, nlab) ? s->tmp : 0;
    activate_heads(s, in, n);
    float f[DBISL_NTERMS];
    dbisl_factors(l, (int)get_current_batch(&net), f);
    memset(s->term, 0, sizeof(s->term));
    s->pse_cover = -1;
    for(w = 0; w < s->ndec; ++w) decoder_terms(s, w, in, R, lab_sel, all_sel, B, f);
    if(s->ndec == 2){
        if(s->w[DBISL_CON_SEG] != 0)
            s->term[DBISL_CON_SEG] = mse_term(s->Y[0], s->Y[1], all_sel, B, s->V, f[DBISL_CON_SEG] * s->w[DBISL_CON_SEG], s->gY[0], s->gY[1]);
        if(s->w[DBISL_CON_REG] != 0)
            s->term[DBISL_CON_REG] = mse_term(s->Rh[0], s->Rh[1], all_sel, B, s->V, f[DBISL_CON_REG] * s->w[DBISL_CON_REG], s->gR[0], s->gR[1]);
        if(s->w[DBISL_PSE] != 0) pse_term(s, in, pse_sel, B, f[DBISL_PSE]);
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
        float wt = s->w[i] * f[i];
        total += (double)wt * s->term[i];
        l.output[i] = s->term[i];
    }
    l.cost[0] = (float)total;
}

void forward_dbisl_layer(const layer l, network net)
{
    dbisl_state *s = st(l);
    if(!net.train || !s->Y[0]) return;   /* Y[0] NULL: built for inference */
    dbisl_inputs in;
    memset(&in, 0, sizeof(in));
    int w;
    for(w = 0; w < s->ndec; ++w){
        in.seg[w] = net.layers[s->seg[w]].output;
        in.sdf[w] = net.layers[s->sdf[w]].output;
        if(s->s2r[w] >= 0) in.S[w] = net.layers[s->s2r[w]].output;
        if(s->r2s[w] >= 0) in.P[w] = net.layers[s->r2s[w]].output;
    }
    dbisl_compute(l, net, &in);
}

void backward_dbisl_layer(const layer l, network net)
{
    if(!net.train) return;
    dbisl_state *s = st(l);
    int w;
    size_t n = (size_t)l.batch * s->V;
    /* delta = -batch * gradient (Darknet: update adds lr/batch * sum of deltas), times the fp16 loss scale (core/amp.h) */
    float a = -(float)l.batch * amp_loss_scale;
    for(w = 0; w < s->ndec; ++w){
        axpy_cpu((int)n, a, s->gz[w], 1, net.layers[s->seg[w]].delta, 1);
        axpy_cpu((int)n, a, s->gR[w], 1, net.layers[s->sdf[w]].delta, 1);
        if(s->s2r[w] >= 0) axpy_cpu((int)n, a, s->dS[w], 1, net.layers[s->s2r[w]].delta, 1);
        if(s->r2s[w] >= 0) axpy_cpu((int)n, a, s->gP[w], 1, net.layers[s->r2s[w]].delta, 1);
    }
}

void free_dbisl_layer(layer l)
{
    dbisl_state *s = st(l);
    if(!s) return;
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
        int n = snprintf(err, errlen, "key '%s': layer %d outputs %d x %d x %d x %d, expected 1 x %d x %d x %d (one channel at the network's input size)",
                         key, idx, in.out_c, d, d ? in.out_h / d : in.out_h, in.out_w, D, H, W);
        /* a head of another size: the key names a layer that is no head, or the layers before it did not give the
         * size back, which in an encoder-decoder is a crop side that the down-sampling does not divide */
        if((d != D || in.out_h != D * H || in.out_w != W) && n > 0 && (size_t)n < errlen)
            snprintf(err + n, errlen - n, "; either the key names a layer that is not a full-size head, or a crop side ([net] depth, "
                     "height, width: %d, %d, %d) is not a multiple of the network's down-sampling (16 for the V-Net cfgs' four "
                     "stride-2 stages)", D, H, W);
        return -1;
    }
    return 0;
}

/* [dbisl] (and seg3d predict) apply the sigmoid of a seg head and the tanh of an sdf head themselves, so a convolution
 * head must be linear: a logistic seg head would be squashed twice */
static int check_linear_head(size_params params, int idx, const char *key, char *err, size_t errlen)
{
    layer in = params.net->layers[idx];
    if((in.type != CONV3D && in.type != DECONV3D) || in.activation == LINEAR) return 0;
    snprintf(err, errlen, "key '%s': layer %d has activation=%s; [dbisl] applies the %s itself, so a head takes activation=linear",
             key, idx, get_activation_string(in.activation), key[1] == 'e' ? "sigmoid of a seg head" : "tanh of an sdf head");
    return -1;
}

/* The section s2r=/r2s= names reads the head `head`: it directly follows the head, or follows a [route] of
 * that head alone. */
static int reads_head(network *net, int idx, int head)
{
    if(idx - 1 == head) return 1;
    layer r = net->layers[idx - 1];
    return idx - 1 > head && r.type == ROUTE && r.n == 1 && r.input_layers[0] == head;
}

/* s2r= / r2s= (optional): one [dtransform] input=logits per seg head, one [r2s] input=preact per sdf head,
 * each reading its head. out[w] = -1 when the key is absent. */
static int parse_transform_inputs(list *options, size_params params, const char *key, const int *heads, int nheads,
                                  dbisl_state *cfg, char *err, size_t errlen)
{
    int is_s2r = key[0] == 's', *out = is_s2r ? cfg->s2r : cfg->r2s, n = 0, w;
    const char *sec = is_s2r ? "[dtransform] with input=logits" : "[r2s] with input=preact";
    out[0] = out[1] = -1;
    if(!option_find(options, (char *)key)) return 0;
    if(cfg_layers(options, key, params.index, out, 2, &n, err, errlen)) return -1;
    if(n != nheads){ snprintf(err, errlen, "key '%s': %d layers given but 'seg' has %d (one per decoder)", key, n, nheads); return -1; }
    for(w = 0; w < n; ++w){
        layer t = params.net->layers[out[w]];
        int ok = is_s2r ? (t.type == DTRANSFORM && dtransform_layer_takes_logits(t)) : (t.type == R2S && t.activation == TANH);
        if(!ok){ snprintf(err, errlen, "key '%s': layer %d is not a %s section", key, out[w], sec); return -1; }
        if(is_s2r && dtransform_layer_params(t)->exact){
            snprintf(err, errlen, "key 's2r': layer %d has exact=1: the exact distance transform passes no gradient, so the s2r "
                     "terms would not train the seg heads; use exact=0 there ([dbisl] label_exact=1 makes the labels exact)", out[w]);
            return -1;
        }
        if(!reads_head(params.net, out[w], heads[w])){
            snprintf(err, errlen, "key '%s': layer %d does not read head %d: put it directly after that head (or after a [route] of it)",
                     key, out[w], heads[w]);
            return -1;
        }
    }
    if(is_s2r && n == 2 && memcmp(dtransform_layer_params(params.net->layers[out[0]]), dtransform_layer_params(params.net->layers[out[1]]),
                                  sizeof(dtransform_params))){
        snprintf(err, errlen, "key 's2r': layers %d and %d have different settings; the distance labels follow them, so give both the same", out[0], out[1]);
        return -1;
    }
    return 0;
}

/* seg=, sdf=, s2r=, r2s= */
static int parse_inputs(list *options, size_params params, dbisl_state *cfg, char *err, size_t errlen)
{
    network *net = params.net;
    int nseg = 0, nsdf = 0, i;
    if(cfg_layers(options, "seg", params.index, cfg->seg, 2, &nseg, err, errlen)) return -1;
    if(cfg_layers(options, "sdf", params.index, cfg->sdf, 2, &nsdf, err, errlen)) return -1;
    if(nseg != nsdf){ snprintf(err, errlen, "key 'sdf': %d layers given but 'seg' has %d (one seg and one sdf head per decoder)", nsdf, nseg); return -1; }
    for(i = 0; i < nseg; ++i){
        if(check_input(params, cfg->seg[i], "seg", net->d, net->h, net->w, err, errlen)) return -1;
        if(check_input(params, cfg->sdf[i], "sdf", net->d, net->h, net->w, err, errlen)) return -1;
        if(check_linear_head(params, cfg->seg[i], "seg", err, errlen) || check_linear_head(params, cfg->sdf[i], "sdf", err, errlen)) return -1;
    }
    cfg->ndec = nseg;
    if(parse_transform_inputs(options, params, "s2r", cfg->seg, nseg, cfg, err, errlen)) return -1;
    return parse_transform_inputs(options, params, "r2s", cfg->sdf, nseg, cfg, err, errlen);
}

/* The transforms' settings are keys of their own sections: a [dbisl] that still sets one is told where it went. */
static int check_moved_keys(list *options, char *err, size_t errlen)
{
    node *n;
    for(n = options->front; n; n = n->next){
        const char *key = ((kvp *)n->val)->key, *moved = cfg_key_moved("[dbisl]", key);
        if(moved){ snprintf(err, errlen, "key '%s': %s", key, moved); return -1; }
    }
    return 0;
}

/* the term weights, the schedule of beta and the loss settings */
static int parse_terms(list *options, dbisl_state *cfg, int *label_exact, char *err, size_t errlen)
{
    static const char *wkeys[DBISL_NTERMS] = {"w_sup_seg", "w_sup_reg", "w_sup_s2r", "w_sup_r2s", "w_con_seg", "w_con_reg", "w_con_s2r", "w_con_r2s", "w_pse"};
    static const char *ramps[] = {"sigmoid", "linear", "none", 0};
    static const char *sides[] = {"seg", "sdf", "both", 0};   /* in the order of the DBISL_SIDE_* values */
    int i;
    for(i = 0; i < DBISL_NTERMS; ++i) if(cfg_float(options, "[dbisl]", wkeys[i], 1.f, 0, &cfg->w[i], err, errlen)) return -1;
    if(cfg_float(options, "[dbisl]", "lambda", 0.5f, 0, &cfg->lambda, err, errlen)) return -1;
    if(cfg_float(options, "[dbisl]", "beta", 1.f, 0, &cfg->beta, err, errlen)) return -1;
    if(cfg_int(options, "[dbisl]", "rampup", 0, 0, &cfg->rampup, err, errlen)) return -1;
    if(cfg_choice(options, "ramp", "sigmoid", ramps, &cfg->ramp_shape, err, errlen)) return -1;
    if(cfg_int(options, "[dbisl]", "con_rampup", 0, 0, &cfg->con_rampup, err, errlen)) return -1;
    if(cfg_choice(options, "con_ramp", "sigmoid", ramps, &cfg->con_ramp_shape, err, errlen)) return -1;
    if(cfg_choice(options, "con_s2r_grad", "both", sides, &cfg->con_side[0], err, errlen)) return -1;
    if(cfg_choice(options, "con_r2s_grad", "both", sides, &cfg->con_side[1], err, errlen)) return -1;
    cfg->con_side[0] += 1; cfg->con_side[1] += 1;   /* choice index 0,1,2 -> DBISL_SIDE_SEG, _SDF, _BOTH */
    if(cfg_float(options, "[dbisl]", "k_seg", cfg->k_seg, 0, &cfg->k_seg, err, errlen)) return -1;
    if(cfg->k_seg >= 0){ snprintf(err, errlen, "key 'k_seg': must be negative (R is negative inside)"); return -1; }
    if(cfg_float(options, "[dbisl]", "dice_weight", 0.5f, 0, &cfg->dice_w, err, errlen)) return -1;
    if(cfg_float(options, "[dbisl]", "ce_weight", 0.5f, 0, &cfg->ce_w, err, errlen)) return -1;
    if(cfg_int(options, "[dbisl]", "pse_labeled", 1, 0, &cfg->pse_labeled, err, errlen)) return -1;
    if(cfg_int(options, "[dbisl]", "pseudo_hard", 0, 0, &cfg->pseudo_hard, err, errlen)) return -1;
    if(cfg_int(options, "[dbisl]", "pse_mask", 1, 0, &cfg->pse_mask, err, errlen)) return -1;
    if(cfg_int(options, "[dbisl]", "label_exact", 0, 0, label_exact, err, errlen)) return -1;
    if(cfg->ndec == 1){
        /* the cross-decoder terms need two decoders: off by default with one, refused when the cfg turns them on */
        static const int two[] = {DBISL_CON_SEG, DBISL_CON_REG, DBISL_PSE};
        for(i = 0; i < 3; ++i){
            if(option_find(options, (char *)wkeys[two[i]]) && cfg->w[two[i]] != 0){
                snprintf(err, errlen, "key '%s': the term compares two decoders but 'seg' names one head; set it to 0 or leave it out", wkeys[two[i]]);
                return -1;
            }
            cfg->w[two[i]] = 0;
        }
    }
    return 0;
}

/* every term that is on has the sections it reads */
static int check_needed_sections(const dbisl_state *cfg, char *err, size_t errlen)
{
    static const struct { int term; const char *key; } need[] = {
        {DBISL_SUP_REG, "w_sup_reg"}, {DBISL_SUP_S2R, "w_sup_s2r"}, {DBISL_CON_S2R, "w_con_s2r"}, {DBISL_CON_R2S, "w_con_r2s"}};
    size_t i;
    for(i = 0; i < sizeof(need) / sizeof(need[0]); ++i){
        int r2s = need[i].term == DBISL_CON_R2S;
        if(cfg->w[need[i].term] == 0 || (r2s ? cfg->r2s[0] : cfg->s2r[0]) >= 0) continue;
        snprintf(err, errlen, "key '%s': the term is on but no %s: add %s directly after each %s head and name them in %s= "
                 "(or set %s=0)", need[i].key, r2s ? "r2s= is given" : "s2r= is given",
                 r2s ? "an [r2s] section with input=preact" : "a [dtransform] section with input=logits",
                 r2s ? "sdf" : "seg", r2s ? "r2s" : "s2r", need[i].key);
        return -1;
    }
    return 0;
}

/* the state with its host buffers, the label transform and (GPU) the device buffers */
static dbisl_state *alloc_state(const dbisl_state *cfg, size_params params, char *err, size_t errlen)
{
    network *net = params.net;
    size_t V = (size_t)net->d * net->h * net->w, n = (size_t)params.batch * V;
    /* an inference network never evaluates the loss (forward returns without net.train, backward is refused): no
     * loss buffers, no label transform, nothing on the device */
    size_t nbuf = layer3d_inference ? 0 : 7 * 2 + 4;
    dbisl_state *s = calloc(1, sizeof(dbisl_state) + nbuf * n * sizeof(float));
    if(!s){ snprintf(err, errlen, "out of memory for %zu voxels", n); return 0; }
    *s = *cfg;
    s->V = V;
    s->D = net->d; s->H = net->h; s->W = net->w;
    s->batch = params.batch;
    s->pse_cover = -1;
    if(layer3d_inference) return s;
    float *p = (float *)(s + 1);
    int w;
    for(w = 0; w < 2; ++w){
        s->Y[w] = p; p += n; s->Rh[w] = p; p += n; s->gP[w] = p; p += n; s->dS[w] = p; p += n;
        s->gY[w] = p; p += n; s->gz[w] = p; p += n; s->gR[w] = p; p += n;
    }
    s->lab = p; p += n; s->ybar = p; p += n; s->msk = p; p += n; s->tmp = p; p += n;
    if(s->s2r[0] >= 0 && !(s->tl = dtransform_alloc(&s->lp, params.batch, s->D, s->H, s->W, 0))){
        snprintf(err, errlen, "cannot allocate the label distance transform");
        free(s); return 0;
    }
#ifdef GPU
    /* the device path keeps its own buffers and label transform; the host ones serve the CPU path */
    if(gpu_index >= 0 && dbisl_alloc_gpu(s)){
        char why[600];
        layer3d_alloc_error(why, sizeof(why));
        snprintf(err, errlen, "cannot allocate the device buffers and transforms for %d x %d x %d: %s", s->D, s->H, s->W, why);
        free_dbisl_layer((layer){.plugin_state = s});
        return 0;
    }
#endif
    return s;
}

static layer make_dbisl_layer(size_params params, dbisl_state *s)
{
    layer l = {0};
    int w;
    l.type = DBISL;
    l.batch = params.batch;
    l.c = l.out_c = 1; l.d = l.out_d = 1; l.h = l.out_h = 1; l.w = l.out_w = DBISL_NTERMS;
    l.inputs = params.inputs;
    l.outputs = DBISL_NTERMS;
    l.truths = (int)s->V + 1;
    l.output = layer3d_alloc((size_t)DBISL_NTERMS * l.batch);
    l.delta = layer3d_inference ? 0 : layer3d_alloc((size_t)DBISL_NTERMS * l.batch);
    l.cost = calloc(1, sizeof(float));
    l.n = s->ndec * 2;   /* input_layers: seg, sdf of each decoder (src/infer.c reads the seg heads there) */
    l.input_layers = calloc(4, sizeof(int));
    for(w = 0; w < s->ndec; ++w){ l.input_layers[2 * w] = s->seg[w]; l.input_layers[2 * w + 1] = s->sdf[w]; }
    l.plugin_state = s;
    l.forward = forward_dbisl_layer;
    l.backward = backward_dbisl_layer;
#ifdef GPU
    l.forward_gpu = forward_dbisl_layer_gpu;
    l.backward_gpu = backward_dbisl_layer_gpu;
    if(gpu_index >= 0){
        if(l.output && l.delta && !cuda3d_make_array(&l.output_gpu, l.output, (size_t)DBISL_NTERMS * l.batch))
            cuda3d_make_array(&l.delta_gpu, l.delta, (size_t)DBISL_NTERMS * l.batch);
        else if(l.output && layer3d_inference) cuda3d_make_array(&l.output_gpu, l.output, (size_t)DBISL_NTERMS * l.batch);
    }
#endif
    fprintf(stderr, "dbisl      %d decoder%s: seg", s->ndec, s->ndec > 1 ? "s" : "");
    for(w = 0; w < s->ndec; ++w) fprintf(stderr, " %d", s->seg[w]);
    fprintf(stderr, " sdf");
    for(w = 0; w < s->ndec; ++w) fprintf(stderr, " %d", s->sdf[w]);
    if(s->s2r[0] >= 0){ fprintf(stderr, " s2r"); for(w = 0; w < s->ndec; ++w) fprintf(stderr, " %d", s->s2r[w]); }
    if(s->r2s[0] >= 0){ fprintf(stderr, " r2s"); for(w = 0; w < s->ndec; ++w) fprintf(stderr, " %d", s->r2s[w]); }
    static const char *side[] = {"", "seg", "sdf", "both"};
    fprintf(stderr, "  lambda=%g beta=%g rampup=%d", s->lambda, s->beta, s->rampup);
    if(s->con_rampup > 0) fprintf(stderr, " con_rampup=%d", s->con_rampup);
    if(s->con_side[0] != DBISL_SIDE_BOTH) fprintf(stderr, " con_s2r_grad=%s", side[s->con_side[0]]);
    if(s->con_side[1] != DBISL_SIDE_BOTH) fprintf(stderr, " con_r2s_grad=%s", side[s->con_side[1]]);
    fprintf(stderr, "\n");
    return l;
}

int parse_dbisl_section(list *options, size_params params, layer *out, char *err, size_t errlen)
{
    if(params.batch > 64){ snprintf(err, errlen, "batch %d too large for [dbisl] (max 64)", params.batch); return -1; }
    dbisl_state cfg = {0};
    int label_exact = 0, w;
    if(check_moved_keys(options, err, errlen)) return -1;
    if(parse_inputs(options, params, &cfg, err, errlen)) return -1;
    /* k_seg defaults to the k of the [r2s] sections (DTC's -1500 without them) */
    cfg.k_seg = cfg.r2s[0] >= 0 ? params.net->layers[cfg.r2s[0]].alpha : -1500.f;
    for(w = 0; w < cfg.ndec && cfg.r2s[0] >= 0; ++w){
        float k = params.net->layers[cfg.r2s[w]].alpha;
        if(k >= 0){
            snprintf(err, errlen, "key 'r2s': layer %d ([r2s]) has k=%g; under [dbisl] the k of an [r2s] section must be negative "
                     "(the distance map is negative inside; DTC's k is -1500)", cfg.r2s[w], k);
            return -1;
        }
    }
    if(parse_terms(options, &cfg, &label_exact, err, errlen)) return -1;
    if(check_needed_sections(&cfg, err, errlen)) return -1;
    if(cfg.s2r[0] >= 0){   /* the distance labels: the same transform as the s2r sections, exact EDT with label_exact */
        cfg.lp = *dtransform_layer_params(params.net->layers[cfg.s2r[0]]);
        cfg.lp.exact = label_exact;
    }
    dbisl_state *s = alloc_state(&cfg, params, err, errlen);
    if(!s) return -1;
    /* the transforms feed the loss only: they run when it does */
    for(w = 0; w < s->ndec; ++w) if(s->s2r[w] >= 0) dtransform_layer_set_train_only(&params.net->layers[s->s2r[w]]);
    *out = make_dbisl_layer(params, s);
    if(!layer3d_buffers_ok(out) || !out->cost || !out->input_layers) return layer3d_alloc_error(err, errlen);
    return 0;
}
