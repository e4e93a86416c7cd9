/* CUDA twin of the [dbisl] loss: every term, its sums (in double) and its gradients on the device; only the term values and the cost come back to the host. */
#include "cuda3d.h"
#include "numerics3d.h"
extern "C" {
#include "dbisl_layer.h"
#include "dbisl_internal.h"
#include "amp.h"
#include "dtransform_layer.h"
#include "layer3d.h"
}

/* The formulas below mirror dbisl_compute() in dbisl_layer.c expression by expression (same float and
 * double types at each step), so the two paths differ only by the order of the sums. */

/* Everything a kernel needs, passed by value. on[t]: term t is evaluated (gated exactly as the CPU
 * does: weight != 0, labeled samples present for the supervised ones, two decoders for the cross ones). */
struct dbisl_args {
    size_t V, n;                     /* voxels per sample, batch * V */
    int ndec;
    unsigned long long labm, psem;   /* bit i: sample i is labeled / enters the pseudo-supervision */
    int on[DBISL_NTERMS];
    float scale[DBISL_NTERMS];       /* factor(t) * w (dbisl_factors): the loss weight and gradient scale of each term */
    int side[2];                     /* con_s2r, con_r2s: the DBISL_SIDE_* bits of the heads that take the gradient */
    float k_seg, dice_w, ce_w;
    int pseudo_hard, use_mask;
    double Nlab, Nall;               /* voxels of the labeled samples, of all samples */
    const float *z[2], *s[2];        /* raw head outputs (logits, tanh pre-activations) */
    const float *S[2], *P[2];        /* the [dtransform] and [r2s] outputs (NULL without those sections) */
    const float *Y[2], *Rh[2], *R, *lab;
};

__device__ __forceinline__ int bit(unsigned long long m, size_t i) { return (int)((m >> i) & 1ull); }

/* pseudo label and confidence mask of voxel j, as pse_term in dbisl_layer.c (recomputed where needed instead of stored) */
__device__ __forceinline__ int pse_mask(const dbisl_args &a, size_t j, int sel, float *ybar)
{
    float y0 = a.Y[0][j], y1 = a.Y[1][j];
    int p = y0 > .5f, q = y1 > .5f, c = a.Rh[0][j] < 0, d = a.Rh[1][j] < 0;
    float yb = .5f * (y0 + y1);
    *ybar = a.pseudo_hard ? (float)(yb > .5f) : yb;
    return sel && (!a.use_mask || (p == q && (a.use_mask == 2 || (q == c && c == d))));
}

/* d(scale * Lseg)/dx at one voxel (seg_term's gradient loop), I and S the batch-wise Dice sums */
__device__ __forceinline__ float seg_grad(float x, float mult, float g, double I, double S, double N,
                                          float dice_w, float ce_w, float scale)
{
    const double eps = 1e-5;
    float u = mult * x, p = sigmoid3d(u);
    double den = (S + eps) * (S + eps);
    double dd_dp = -(2.0 * g * (S + eps) - (2 * I + eps) * 2.0 * p) / den;
    double dl_du = dice_w * dd_dp * p * (1 - p) + ce_w * (p - g) / N;
    return (float)(scale * dl_du * mult);
}

/* Y = sigmoid(z), R^ = tanh(s) per decoder; lab = the labeled samples' labels (0/1), 0 elsewhere.
 * truth: per sample `truths` floats, the D*H*W labels first (may be NULL when no sample is labeled). */
__global__ void dbisl_prep_kernel(dbisl_args a, float *Y0, float *Y1, float *R0, float *R1, float *lab,
                                  const float *truth, size_t truths)
{
    size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if(j >= a.n) return;
    size_t i = j / a.V, v = j - i * a.V;
    Y0[j] = sigmoid3d(a.z[0][j]);
    R0[j] = tanhf(a.s[0][j]);
    if(a.ndec > 1){
        Y1[j] = sigmoid3d(a.z[1][j]);
        R1[j] = tanhf(a.s[1][j]);
    }
    lab[j] = (truth && bit(a.labm, i)) ? (float)(truth[i * truths + v] > 0.5f) : 0.f;
}

/* One pass over all voxels: every sum the terms and their gradients need, per-thread double
 * accumulators (indices are compile-time constants, so they stay in registers), a warp shuffle and a
 * shared-memory reduction per block, then one double atomicAdd per block and sum into acc.
 * Launched with blockDim.x == BLOCK (a multiple of 32) and a grid-stride loop: every thread reaches
 * the reduction (no early return), as the full-mask shuffles require. */
__global__ void dbisl_sums_kernel(dbisl_args a, double *acc, double *part)
{
    double L[DBISL_NACC];
    #pragma unroll
    for(int q = 0; q < DBISL_NACC; ++q) L[q] = 0;
    for(size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < a.n; j += (size_t)gridDim.x * blockDim.x){
        size_t i = j / a.V;
        int lab = bit(a.labm, i);
        #pragma unroll
        for(int w = 0; w < 2; ++w) if(w < a.ndec){
            const int o = w * DBISL_ACC_DEC;
            float Yv = a.Y[w][j], Rv = a.Rh[w][j];
            if(a.on[DBISL_SUP_SEG] && lab){
                float u = a.z[w][j], p = sigmoid3d(u), g = a.lab[j];
                L[o + 0] += (double)p * g;
                L[o + 1] += (double)p * p + (double)g * g;
                L[o + 2] += softplus3d(u) - g * u;
            }
            if(a.on[DBISL_SUP_R2S] && lab){
                float u = a.k_seg * Rv, p = sigmoid3d(u), g = a.lab[j];
                L[o + 3] += (double)p * g;
                L[o + 4] += (double)p * p + (double)g * g;
                L[o + 5] += softplus3d(u) - g * u;
            }
            if(a.on[DBISL_SUP_REG] && lab){ float d = Rv - a.R[j]; L[o + 6] += (double)d * d; }
            if(a.on[DBISL_SUP_S2R] && lab){ float d = a.S[w][j] - a.R[j]; L[o + 7] += (double)d * d; }
            if(a.on[DBISL_CON_S2R]){ float d = a.S[w][j] - Rv; L[o + 8] += (double)d * d; }
            if(a.on[DBISL_CON_R2S]){ float d = a.P[w][j] - Yv; L[o + 9] += (double)d * d; }
        }
        if(a.on[DBISL_CON_SEG]){ float d = a.Y[0][j] - a.Y[1][j]; L[DBISL_ACC_X + 0] += (double)d * d; }
        if(a.on[DBISL_CON_REG]){ float d = a.Rh[0][j] - a.Rh[1][j]; L[DBISL_ACC_X + 1] += (double)d * d; }
        if(a.on[DBISL_PSE]){
            float yb;
            if(pse_mask(a, j, bit(a.psem, i), &yb)){
                L[DBISL_ACC_X + 2] += 1;
                float z0 = a.z[0][j], z1 = a.z[1][j];
                L[DBISL_ACC_X + 3] += softplus3d(z0) - yb * z0;
                L[DBISL_ACC_X + 4] += softplus3d(z1) - yb * z1;
            }
        }
    }
    __shared__ double sh[DBISL_NACC][BLOCK / 32];
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    #pragma unroll
    for(int q = 0; q < DBISL_NACC; ++q){
        double v = L[q];
        for(int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
        if(lane == 0) sh[q][wid] = v;
    }
    __syncthreads();
    if(threadIdx.x < DBISL_NACC){
        double t = 0;
        for(int q = 0; q < (int)(blockDim.x >> 5); ++q) t += sh[threadIdx.x][q];
        if(part) part[(size_t)threadIdx.x * gridDim.x + blockIdx.x] = t;
        else if(t != 0) atomicAdd(acc + threadIdx.x, t);
    }
}

/* Deterministic mode: the block sums dbisl_sums_kernel left in part, added in block order (no atomics), so the
 * loss and its gradients are the same from run to run. */
__global__ void dbisl_sums_finish_kernel(const double *part, int nblocks, double *acc)
{
    int q = blockIdx.x * blockDim.x + threadIdx.x;
    if(q >= DBISL_NACC) return;
    double t = 0;
    for(int i = 0; i < nblocks; ++i) t += part[(size_t)q * nblocks + i];
    acc[q] += t;
}

extern "C" int darknet3d_deterministic;
#define DBISL_MAX_SUM_BLOCKS 1024

/* Second pass, per voxel: every term's gradient. Overwrites gz (direct logit gradient: sup_seg, pse),
 * gY (gradient w.r.t. Y: con_r2s, con_seg), dS and gP (gradients w.r.t. the [dtransform] and [r2s] outputs)
 * and gR (gradient w.r.t. the tanh pre-activation: complete, the chain through tanh applied). */
__global__ void dbisl_grad_kernel(dbisl_args a, const double *acc, float *gz0, float *gz1, float *gY0, float *gY1,
                                  float *dS0, float *dS1, float *gP0, float *gP1, float *gR0, float *gR1)
{
    size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if(j >= a.n) return;
    size_t i = j / a.V;
    int lab = bit(a.labm, i);
    float gz[2] = {0, 0}, gY[2] = {0, 0}, dS[2] = {0, 0}, gP[2] = {0, 0}, gR[2] = {0, 0};
    #pragma unroll
    for(int w = 0; w < 2; ++w) if(w < a.ndec){
        const int o = w * DBISL_ACC_DEC;
        float Yv = a.Y[w][j], Rv = a.Rh[w][j];
        if(a.on[DBISL_SUP_SEG] && lab)
            gz[w] += seg_grad(a.z[w][j], 1.f, a.lab[j], acc[o + 0], acc[o + 1], a.Nlab, a.dice_w, a.ce_w, a.scale[DBISL_SUP_SEG]);
        if(a.on[DBISL_SUP_REG] && lab){
            float d = Rv - a.R[j];
            gR[w] += (float)(a.scale[DBISL_SUP_REG] * 2.0 * d / a.Nlab);
        }
        if(a.on[DBISL_SUP_S2R] && lab){
            float d = a.S[w][j] - a.R[j];
            dS[w] += (float)(a.scale[DBISL_SUP_S2R] * 2.0 * d / a.Nlab);
        }
        if(a.on[DBISL_SUP_R2S] && lab)
            gR[w] += seg_grad(Rv, a.k_seg, a.lab[j], acc[o + 3], acc[o + 4], a.Nlab, a.dice_w, a.ce_w, a.scale[DBISL_SUP_R2S]);
        if(a.on[DBISL_CON_S2R]){
            float d = a.S[w][j] - Rv;
            float g = (float)(a.scale[DBISL_CON_S2R] * 2.0 * d / a.Nall);
            if(a.side[0] & DBISL_SIDE_SEG) dS[w] += g;
            if(a.side[0] & DBISL_SIDE_SDF) gR[w] -= g;
        }
        if(a.on[DBISL_CON_R2S]){
            float d = a.P[w][j] - Yv;
            float g = (float)(a.scale[DBISL_CON_R2S] * 2.0 * d / a.Nall);
            if(a.side[1] & DBISL_SIDE_SDF) gP[w] += g;
            if(a.side[1] & DBISL_SIDE_SEG) gY[w] -= g;
        }
    }
    if(a.on[DBISL_CON_SEG]){
        float d = a.Y[0][j] - a.Y[1][j];
        float g = (float)(a.scale[DBISL_CON_SEG] * 2.0 * d / a.Nall);
        gY[0] += g; gY[1] -= g;
    }
    if(a.on[DBISL_CON_REG]){
        float d = a.Rh[0][j] - a.Rh[1][j];
        float g = (float)(a.scale[DBISL_CON_REG] * 2.0 * d / a.Nall);
        gR[0] += g; gR[1] -= g;
    }
    double cnt = acc[DBISL_ACC_X + 2];
    if(a.on[DBISL_PSE] && cnt > 0){
        float yb;
        if(pse_mask(a, j, bit(a.psem, i), &yb)){
            float sc = a.scale[DBISL_PSE];
            gz[0] += (float)(sc * (a.Y[0][j] - yb) / cnt);
            gz[1] += (float)(sc * (a.Y[1][j] - yb) / cnt);
        }
    }
    float r0 = a.Rh[0][j];
    gz0[j] = gz[0]; gY0[j] = gY[0]; dS0[j] = dS[0]; gP0[j] = gP[0]; gR0[j] = gR[0] * (1 - r0 * r0);
    if(a.ndec > 1){
        float r1 = a.Rh[1][j];
        gz1[j] = gz[1]; gY1[j] = gY[1]; dS1[j] = dS[1]; gP1[j] = gP[1]; gR1[j] = gR[1] * (1 - r1 * r1);
    }
}

/* gz += gY * dY/dz: the chain rule through the sigmoid */
__global__ void dbisl_chain_kernel(size_t n, const float *Y, const float *gY, float *gz)
{
    size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if(j < n) gz[j] += gY[j] * Y[j] * (1 - Y[j]);
}

/* One thread: the term values from the sums (as seg_term / mse_term return them), the total cost;
 * res = terms then cost, out = the terms (the layer's output_gpu, which Darknet pulls). */
__global__ void dbisl_final_kernel(dbisl_args a, const double *acc, float *res, float *out)
{
    if(blockIdx.x != 0 || threadIdx.x != 0) return;
    const double eps = 1e-5;
    float term[DBISL_NTERMS];
    for(int t = 0; t < DBISL_NTERMS; ++t) term[t] = 0;
    for(int w = 0; w < a.ndec; ++w){
        const double *A = acc + w * DBISL_ACC_DEC;
        if(a.on[DBISL_SUP_SEG]){
            double dice = 1.0 - (2 * A[0] + eps) / (A[1] + eps);
            term[DBISL_SUP_SEG] += (float)(a.dice_w * dice + a.ce_w * A[2] / a.Nlab);
        }
        if(a.on[DBISL_SUP_REG]) term[DBISL_SUP_REG] += (float)(A[6] / a.Nlab);
        if(a.on[DBISL_SUP_S2R]) term[DBISL_SUP_S2R] += (float)(A[7] / a.Nlab);
        if(a.on[DBISL_SUP_R2S]){
            double dice = 1.0 - (2 * A[3] + eps) / (A[4] + eps);
            term[DBISL_SUP_R2S] += (float)(a.dice_w * dice + a.ce_w * A[5] / a.Nlab);
        }
        if(a.on[DBISL_CON_S2R]) term[DBISL_CON_S2R] += (float)(A[8] / a.Nall);
        if(a.on[DBISL_CON_R2S]) term[DBISL_CON_R2S] += (float)(A[9] / a.Nall);
    }
    const double *X = acc + DBISL_ACC_X;
    if(a.on[DBISL_CON_SEG]) term[DBISL_CON_SEG] = (float)(X[0] / a.Nall);
    if(a.on[DBISL_CON_REG]) term[DBISL_CON_REG] = (float)(X[1] / a.Nall);
    if(a.on[DBISL_PSE] && X[2] > 0){
        term[DBISL_PSE] += (float)(X[3] / X[2]);
        term[DBISL_PSE] += (float)(X[4] / X[2]);
    }
    double total = 0;
    for(int t = 0; t < DBISL_NTERMS; ++t){
        total += (double)a.scale[t] * term[t];
        res[t] = term[t];
        if(out) out[t] = term[t];
    }
    res[DBISL_NTERMS] = (float)total;
    res[DBISL_NTERMS + 1] = a.on[DBISL_PSE] ? (float)X[2] : -1.f;
}

/* 1-D grids: the x dimension allows 2^31 - 1 blocks on every architecture we build for (sm_80, sm_90) */
static unsigned nblocks(size_t n) { return (unsigned)((n + BLOCK - 1) / BLOCK); }

extern "C" int dbisl_alloc_gpu(dbisl_state *s)
{
    size_t n = (size_t)s->batch * s->V;
    int w;
    s->dev = 0;
    for(w = 0; w < s->ndec; ++w){
        if(cuda3d_make_array(&s->Y_gpu[w], NULL, n) || cuda3d_make_array(&s->Rh_gpu[w], NULL, n) ||
           cuda3d_make_array(&s->gP_gpu[w], NULL, n) || cuda3d_make_array(&s->dS_gpu[w], NULL, n) ||
           cuda3d_make_array(&s->gY_gpu[w], NULL, n) || cuda3d_make_array(&s->gz_gpu[w], NULL, n) ||
           cuda3d_make_array(&s->gR_gpu[w], NULL, n)) return -1;
    }
    if(cuda3d_make_array(&s->lab_gpu, NULL, n) || cuda3d_make_array(&s->R_gpu, NULL, n) ||
       cuda3d_make_array(&s->res_gpu, NULL, DBISL_NTERMS + 2)) return -1;
    if(cuda3d_malloc((void **)&s->acc_gpu, DBISL_NACC * sizeof(double))) return -1;
    if(cuda3d_malloc((void **)&s->part_gpu, (size_t)DBISL_NACC * DBISL_MAX_SUM_BLOCKS * sizeof(double))) return -1;
    if(s->s2r[0] >= 0 && !(s->tl_gpu = dtransform_alloc(&s->lp, s->batch, s->D, s->H, s->W, 1))) return -1;
    s->dev = 1;
    return 0;
}

extern "C" void dbisl_free_gpu(dbisl_state *s)
{
    int w;
    for(w = 0; w < 2; ++w){
        float **b[7] = {&s->Y_gpu[w], &s->Rh_gpu[w], &s->gP_gpu[w], &s->dS_gpu[w], &s->gY_gpu[w], &s->gz_gpu[w], &s->gR_gpu[w]};
        for(int q = 0; q < 7; ++q) cuda3d_free((void **)b[q]);
    }
    float **c[3] = {&s->lab_gpu, &s->R_gpu, &s->res_gpu};
    for(int q = 0; q < 3; ++q) cuda3d_free((void **)c[q]);
    cuda3d_free((void **)&s->acc_gpu);
    cuda3d_free((void **)&s->part_gpu);
    if(s->tl_gpu){ dtransform_free(s->tl_gpu); s->tl_gpu = 0; }
    s->dev = 0;
}

/* Fallback when the layer was built without device buffers (gpu_index < 0 at parse): the host path. */
static void forward_on_host(const layer l, network net, dbisl_state *s)
{
    size_t n = (size_t)l.batch * s->V;
    float *buf = (float *)calloc(8 * n, sizeof(float));
    if(!buf){ fprintf(stderr, "[dbisl]: out of host memory\n"); return; }
    dbisl_inputs in;
    memset(&in, 0, sizeof(in));
    for(int w = 0; w < s->ndec; ++w){
        int src[4] = {s->seg[w], s->sdf[w], s->s2r[w], s->r2s[w]};
        float **dst[4] = {&in.seg[w], &in.sdf[w], &in.S[w], &in.P[w]};
        for(int q = 0; q < 4; ++q){
            if(src[q] < 0) continue;
            *dst[q] = buf + (4 * w + q) * n;
            layer3d_pull(net.layers[src[q]].output_gpu, *dst[q], n);
        }
    }
    dbisl_compute(l, net, &in);
    layer3d_push(l.output_gpu, l.output, DBISL_NTERMS);
    free(buf);
}

static void backward_on_host(const layer l, network net, dbisl_state *s)
{
    size_t n = (size_t)l.batch * s->V;
    float a = -(float)l.batch * amp_loss_scale;
    for(int w = 0; w < s->ndec; ++w){
        int idx[4] = {s->seg[w], s->sdf[w], s->s2r[w], s->r2s[w]};
        float *g[4] = {s->gz[w], s->gR[w], s->dS[w], s->gP[w]};
        for(int q = 0; q < 4; ++q){
            if(idx[q] < 0) continue;
            layer *in = &net.layers[idx[q]];
            if(!in->delta_gpu) continue;
            layer3d_pull(in->delta_gpu, in->delta, n);
            axpy_cpu((int)n, a, g[q], 1, in->delta, 1);
            layer3d_push(in->delta_gpu, in->delta, n);
        }
    }
}

/* The kernels' arguments for one forward: samples, the gates of each term (as the CPU path gates them), scales
 * and the device pointers. Returns the number of labeled samples; *truth the device truth (NULL when none). */
static int make_args(const layer l, network net, dbisl_state *s, const float *f, dbisl_args *a, const float **truth)
{
    int B = l.batch, i, w, nlab = 0;
    size_t V = s->V;
    memset(a, 0, sizeof(*a));
    a->V = V; a->n = (size_t)B * V; a->ndec = s->ndec;
    /* the labeled flags from the host copy of the truth (as the CPU path reads them) */
    for(i = 0; i < B; ++i){
        float flag = net.truth ? net.truth[(size_t)i * l.truths + V] : 0;
        int lab = flag > 0.5f;
        nlab += lab;
        if(lab) a->labm |= 1ull << i;
        if(s->pse_labeled || !lab) a->psem |= 1ull << i;
    }
    *truth = (nlab && net.truth_gpu) ? net.truth_gpu : 0;
    if(nlab && !*truth){ /* labeled flags but no device truth: treat every sample as unlabeled */
        nlab = 0; a->labm = 0;
        a->psem = 0;
        for(i = 0; i < B; ++i) a->psem |= 1ull << i;
    }
    int need_R = nlab && (s->w[DBISL_SUP_REG] != 0 || s->w[DBISL_SUP_S2R] != 0);
    int two = s->ndec == 2;
    a->on[DBISL_SUP_SEG] = nlab && s->w[DBISL_SUP_SEG] != 0;
    a->on[DBISL_SUP_REG] = need_R && s->w[DBISL_SUP_REG] != 0;
    a->on[DBISL_SUP_S2R] = need_R && s->w[DBISL_SUP_S2R] != 0;
    a->on[DBISL_SUP_R2S] = nlab && s->w[DBISL_SUP_R2S] != 0;
    a->on[DBISL_CON_S2R] = s->w[DBISL_CON_S2R] != 0;
    a->on[DBISL_CON_R2S] = s->w[DBISL_CON_R2S] != 0;
    a->on[DBISL_CON_SEG] = two && s->w[DBISL_CON_SEG] != 0;
    a->on[DBISL_CON_REG] = two && s->w[DBISL_CON_REG] != 0;
    a->on[DBISL_PSE] = two && s->w[DBISL_PSE] != 0;
    for(i = 0; i < DBISL_NTERMS; ++i) a->scale[i] = f[i] * s->w[i];
    a->side[0] = s->con_side[0]; a->side[1] = s->con_side[1];
    a->k_seg = s->k_seg; a->dice_w = s->dice_w; a->ce_w = s->ce_w;
    a->pseudo_hard = s->pseudo_hard;
    a->use_mask = s->pse_mask;
    a->Nlab = (double)nlab * V;
    a->Nall = (double)B * V;
    for(w = 0; w < 2; ++w){
        int u = w < s->ndec ? w : 0; /* decoder 1's pointers alias decoder 0's with one decoder (never read) */
        a->z[w] = net.layers[s->seg[u]].output_gpu;
        a->s[w] = net.layers[s->sdf[u]].output_gpu;
        a->S[w] = s->s2r[u] >= 0 ? net.layers[s->s2r[u]].output_gpu : 0;
        a->P[w] = s->r2s[u] >= 0 ? net.layers[s->r2s[u]].output_gpu : 0;
        a->Y[w] = s->Y_gpu[u]; a->Rh[w] = s->Rh_gpu[u];
    }
    a->R = s->R_gpu; a->lab = s->lab_gpu;
    return nlab;
}

/* every sum into s->acc_gpu: atomics, or block sums added in block order in deterministic mode */
static void run_sums(const dbisl_args &a, dbisl_state *s)
{
    CUDA3D_CHECK(cudaMemset(s->acc_gpu, 0, DBISL_NACC * sizeof(double)));
    unsigned nb = nblocks(a.n);
    unsigned nsb = nb < DBISL_MAX_SUM_BLOCKS ? nb : DBISL_MAX_SUM_BLOCKS;
    double *part = darknet3d_deterministic ? s->part_gpu : 0;
    dbisl_sums_kernel<<<nsb, BLOCK>>>(a, s->acc_gpu, part);
    CUDA3D_CHECK_LAUNCH();
    if(part){
        dbisl_sums_finish_kernel<<<1, 64>>>(part, (int)nsb, s->acc_gpu);
        CUDA3D_CHECK_LAUNCH();
    }
}

extern "C" void forward_dbisl_layer_gpu(const layer l, network net)
{
    dbisl_state *s = (dbisl_state *)l.plugin_state;
    if(!net.train || !s->Y[0]) return;   /* Y[0] NULL: built for inference (no loss buffers) */
    if(!s->dev){ forward_on_host(l, net, s); return; }
    float f[DBISL_NTERMS];
    dbisl_factors(l, (int)get_current_batch(&net), f);
    dbisl_args a;
    const float *truth;
    make_args(l, net, s, f, &a, &truth);
    size_t n = a.n;
    int w, w1 = s->ndec > 1;
    unsigned nb = nblocks(n);
    dbisl_prep_kernel<<<nb, BLOCK>>>(a, s->Y_gpu[0], s->Y_gpu[w1], s->Rh_gpu[0], s->Rh_gpu[w1], s->lab_gpu, truth, (size_t)l.truths);
    CUDA3D_CHECK_LAUNCH();
    if(a.on[DBISL_SUP_REG] || a.on[DBISL_SUP_S2R]) dtransform_forward_gpu(s->tl_gpu, s->lab_gpu, s->R_gpu);
    run_sums(a, s);
    dbisl_grad_kernel<<<nb, BLOCK>>>(a, s->acc_gpu, s->gz_gpu[0], s->gz_gpu[w1], s->gY_gpu[0], s->gY_gpu[w1],
                                     s->dS_gpu[0], s->dS_gpu[w1], s->gP_gpu[0], s->gP_gpu[w1], s->gR_gpu[0], s->gR_gpu[w1]);
    CUDA3D_CHECK_LAUNCH();
    for(w = 0; w < s->ndec; ++w){
        dbisl_chain_kernel<<<nb, BLOCK>>>(n, s->Y_gpu[w], s->gY_gpu[w], s->gz_gpu[w]);
        CUDA3D_CHECK_LAUNCH();
    }
    dbisl_final_kernel<<<1, 1>>>(a, s->acc_gpu, s->res_gpu, l.output_gpu);
    CUDA3D_CHECK_LAUNCH();
    /* the one device-to-host copy of the iteration (it also waits for the kernels above) */
    float res[DBISL_NTERMS + 2];
    CUDA3D_CHECK(cudaMemcpy(res, s->res_gpu, (DBISL_NTERMS + 2) * sizeof(float), cudaMemcpyDeviceToHost));
    for(int i = 0; i < DBISL_NTERMS; ++i){ s->term[i] = res[i]; l.output[i] = res[i]; }
    l.cost[0] = res[DBISL_NTERMS];
    int nsel = __builtin_popcountll(a.psem);
    s->pse_cover = res[DBISL_NTERMS + 1] < 0 ? -1.f : nsel ? res[DBISL_NTERMS + 1] / ((float)nsel * s->V) : 0.f;
}

extern "C" void backward_dbisl_layer_gpu(const layer l, network net)
{
    if(!net.train) return;
    dbisl_state *s = (dbisl_state *)l.plugin_state;
    if(!s->dev){ backward_on_host(l, net, s); return; }
    size_t n = (size_t)l.batch * s->V;
    float a = -(float)l.batch * amp_loss_scale; /* delta = -batch * gradient * loss scale, as backward_dbisl_layer */
    for(int w = 0; w < s->ndec; ++w){
        int idx[4] = {s->seg[w], s->sdf[w], s->s2r[w], s->r2s[w]};
        float *g[4] = {s->gz_gpu[w], s->gR_gpu[w], s->dS_gpu[w], s->gP_gpu[w]};
        for(int q = 0; q < 4; ++q){
            float *d = idx[q] >= 0 ? net.layers[idx[q]].delta_gpu : 0;
            if(d) axpy_gpu((int)n, a, g[q], 1, d, 1);
        }
    }
}
