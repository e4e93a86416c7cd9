/* [dtransform] (s2r): CPU reference of the differentiable 3D distance transform (kornia-style iteration, O(voxels) backward) and the layer around it. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "dtransform_layer.h"
#include "numerics3d.h"
#include "dtransform_internal.h"
#include "layer3d.h"
#include "cuda3d.h"
#include "cfg_options.h"
#include "layers3d.h"
#include "edt.h"
#include "cuda.h"

void dtransform_default_params(dtransform_params *p)
{
    p->kernel = 3; p->h = 0.35f; p->scale = 0.5f; p->binarize = DT_BIN_STE;
    p->tau = 50.f; p->exact = 0; p->early_stop = 1;
}

/* ---- trilinear resize, align_corners = false (PyTorch's rule for F.interpolate(size=...)) ---- */

void dt_axis_weights(int in, int out, int *i0, int *i1, float *l1)
{
    float sc = (float)in / (float)out;
    int o;
    for(o = 0; o < out; ++o){
        float src = sc * (o + 0.5f) - 0.5f;
        if(src < 0) src = 0;
        int a = (int)src;
        if(a > in - 1) a = in - 1;
        i0[o] = a;
        i1[o] = a + (a < in - 1 ? 1 : 0);
        l1[o] = src - a;
    }
}

/* The tables of a resize (id x ih x iw) -> (od x oh x ow): 2 (od + oh + ow) ints, od + oh + ow floats. */
static void resize_tables(int id, int ih, int iw, int od, int oh, int ow, int *tab, float *ltab)
{
    dt_axis_weights(id, od, tab, tab + od, ltab);
    dt_axis_weights(ih, oh, tab + 2 * od, tab + 2 * od + oh, ltab + od);
    dt_axis_weights(iw, ow, tab + 2 * (od + oh), tab + 2 * (od + oh) + ow, ltab + od + oh);
}

/* out (od x oh x ow) = trilinear(in (id x ih x iw)), with resize_tables' tables of this resize */
static void resize3d(const float *in, int id, int ih, int iw, float *out, int od, int oh, int ow, const int *tab, const float *ltab)
{
    const int *z0 = tab, *z1 = z0 + od, *y0 = z1 + od, *y1 = y0 + oh, *x0 = y1 + oh, *x1 = x0 + ow;
    const float *lz = ltab, *ly = lz + od, *lx = ly + oh;
    int z, y, x;
    (void)id;
    for(z = 0; z < od; ++z) for(y = 0; y < oh; ++y){
        const float *p00 = in + (size_t)iw * (y0[y] + (size_t)ih * z0[z]);
        const float *p01 = in + (size_t)iw * (y1[y] + (size_t)ih * z0[z]);
        const float *p10 = in + (size_t)iw * (y0[y] + (size_t)ih * z1[z]);
        const float *p11 = in + (size_t)iw * (y1[y] + (size_t)ih * z1[z]);
        float wz1 = lz[z], wz0 = 1.f - wz1, wy1 = ly[y], wy0 = 1.f - wy1;
        float *o = out + (size_t)ow * (y + (size_t)oh * z);
        for(x = 0; x < ow; ++x){
            float wx1 = lx[x], wx0 = 1.f - wx1;
            int a = x0[x], b = x1[x];
            o[x] = wz0 * (wy0 * (wx0 * p00[a] + wx1 * p00[b]) + wy1 * (wx0 * p01[a] + wx1 * p01[b]))
                 + wz1 * (wy0 * (wx0 * p10[a] + wx1 * p10[b]) + wy1 * (wx0 * p11[a] + wx1 * p11[b]));
        }
    }
}

/* gin (id x ih x iw) += transpose of resize3d applied to gout (od x oh x ow), with the tables of that resize */
static void resize3d_adjoint_add(const float *gout, int od, int oh, int ow, float *gin, int id, int ih, int iw, const int *tab, const float *ltab)
{
    const int *z0 = tab, *z1 = z0 + od, *y0 = z1 + od, *y1 = y0 + oh, *x0 = y1 + oh, *x1 = x0 + ow;
    const float *lz = ltab, *ly = lz + od, *lx = ly + oh;
    int z, y, x;
    (void)id;
    for(z = 0; z < od; ++z) for(y = 0; y < oh; ++y){
        float *p00 = gin + (size_t)iw * (y0[y] + (size_t)ih * z0[z]);
        float *p01 = gin + (size_t)iw * (y1[y] + (size_t)ih * z0[z]);
        float *p10 = gin + (size_t)iw * (y0[y] + (size_t)ih * z1[z]);
        float *p11 = gin + (size_t)iw * (y1[y] + (size_t)ih * z1[z]);
        float wz1 = lz[z], wz0 = 1.f - wz1, wy1 = ly[y], wy0 = 1.f - wy1;
        const float *g = gout + (size_t)ow * (y + (size_t)oh * z);
        for(x = 0; x < ow; ++x){
            float wx1 = lx[x], wx0 = 1.f - wx1, v = g[x];
            int a = x0[x], b = x1[x];
            p00[a] += wz0 * wy0 * wx0 * v; p00[b] += wz0 * wy0 * wx1 * v;
            p01[a] += wz0 * wy1 * wx0 * v; p01[b] += wz0 * wy1 * wx1 * v;
            p10[a] += wz1 * wy0 * wx0 * v; p10[b] += wz1 * wy0 * wx1 * v;
            p11[a] += wz1 * wy1 * wx0 * v; p11[b] += wz1 * wy1 * wx1 * v;
        }
    }
}

/* ---- state ---- */

static int small_size(int n, float scale)
{
    if(scale >= 1.f) return n;
    int m = (int)floor((double)n * scale + 1e-6);
    return m < 1 ? 1 : m;
}

dtransform_state *dtransform_alloc(const dtransform_params *p, int batch, int D, int H, int W, int gpu)
{
    if(!p || batch < 1 || D < 1 || H < 1 || W < 1) return 0;
    if(p->kernel < 3 || p->kernel > DT_KERNEL_MAX || p->kernel % 2 == 0 || !(p->h > 0) || !(p->scale > 0 && p->scale <= 1)) return 0;
    if(p->binarize < 0 || p->binarize > DT_BIN_SOFTMIN) return 0;
    dtransform_state *s = calloc(1, sizeof(*s));
    if(!s) return 0;
    s->p = *p;
    s->batch = batch; s->D = D; s->H = H; s->W = W;
    s->d = small_size(D, p->scale); s->h = small_size(H, p->scale); s->w = small_size(W, p->scale);
    s->resized = (s->d != D || s->h != H || s->w != W);
    s->nfull = (size_t)D * H * W;
    s->nsmall = (size_t)s->d * s->h * s->w;
    s->r = p->kernel / 2;
    int m = s->d > s->h ? s->d : s->h;
    if(s->w > m) m = s->w;
    s->niter = (m + s->r - 1) / s->r;
    int k = p->kernel, a, b, c;
    s->nk = k * k * k;
    s->K = calloc(s->nk, sizeof(float));
    s->Kd = calloc(s->nk, sizeof(float));
    if(!s->K || !s->Kd){ dtransform_free(s); return 0; }
    for(a = 0; a < k; ++a) for(b = 0; b < k; ++b) for(c = 0; c < k; ++c){
        float dist = sqrtf((float)((a - s->r) * (a - s->r) + (b - s->r) * (b - s->r) + (c - s->r) * (c - s->r)));
        s->Kd[(a * k + b) * k + c] = dist;
        s->K[(a * k + b) * k + c] = expf(-dist / p->h);
    }
    s->gpu = 0;
#ifdef GPU
    if(gpu && gpu_index >= 0){
        if(dtransform_alloc_gpu(s)){ dtransform_free_gpu(s); dtransform_free(s); return 0; } /* device pointers first */
        s->gpu = 1;
        return s;
    }
#else
    (void)gpu;
#endif
    size_t n = (size_t)batch * s->nsmall;
    s->B = calloc(n, sizeof(float));
    s->S = calloc(2 * n, sizeof(float));
    s->reach = calloc(2 * n, sizeof(int));
    s->tmp = calloc(n, sizeof(float));
    s->dB = calloc(n, sizeof(float));
    s->mn = calloc(2 * batch, sizeof(float));
    s->mx = calloc(2 * batch, sizeof(float));
    int tabn = 2 * (D + H + W + s->d + s->h + s->w);
    s->tab = calloc(tabn, sizeof(int));
    s->ltab = calloc(tabn, sizeof(float));
    s->gS = calloc(n, sizeof(float));
    if(p->exact) s->mask8 = calloc(n, 1);
    size_t scr = 2 * (size_t)batch * (s->nsmall + 2);
    s->front = calloc(scr, sizeof(int));
    s->cand = calloc(scr, sizeof(int));
    s->stamp = calloc(scr, sizeof(int));
    s->off = calloc(s->nk, sizeof(int));
    if(!s->B || !s->S || !s->reach || !s->tmp || !s->dB || !s->mn || !s->mx || !s->tab || !s->ltab ||
       !s->gS || !s->front || !s->cand || !s->stamp || !s->off || (p->exact && !s->mask8)){
        dtransform_free(s);
        return 0;
    }
    for(a = 0; a < k; ++a) for(b = 0; b < k; ++b) for(c = 0; c < k; ++c)
        s->off[(a * k + b) * k + c] = ((a - s->r) * s->h + (b - s->r)) * s->w + (c - s->r);
    resize_tables(D, H, W, s->d, s->h, s->w, s->tab, s->ltab);
    resize_tables(s->d, s->h, s->w, D, H, W, s->tab + 2 * (s->d + s->h + s->w), s->ltab + s->d + s->h + s->w);
    return s;
}

void dtransform_free(dtransform_state *s)
{
    if(!s) return;
#ifdef GPU
    if(s->gpu) dtransform_free_gpu(s);
#endif
    free(s->K); free(s->Kd); free(s->B); free(s->S); free(s->reach); free(s->tmp); free(s->dB);
    free(s->mn); free(s->mx); free(s->tab); free(s->ltab); free(s->gS); free(s->mask8);
    free(s->front); free(s->cand); free(s->stamp); free(s->off);
    free(s);
}

int dtransform_last_iterations(const dtransform_state *s) { return s ? s->last_iters : 0; }

size_t dtransform_state_bytes(const dtransform_state *s)
{
    if(!s) return 0;
    size_t n = (size_t)s->batch * s->nsmall;
    size_t per = 4 /*B*/ + 8 /*S*/ + 8 /*reach*/ + 4 /*tmp*/ + 4 /*dB*/ + 4 /*gS*/;
    if(s->p.exact) per += s->gpu ? 0 : 1;
    return n * per + 8 * (size_t)s->batch * sizeof(float) + (s->gpu ? 0 : 24 * (size_t)s->batch * (s->nsmall + 2) + 4 * (size_t)s->nk);
}

/* ---- the distance transform of one mask (CPU) ---- */

#define DT_NK_MAX (DT_KERNEL_MAX * DT_KERNEL_MAX * DT_KERNEL_MAX)

/* neighbour index with replicate border */
static inline size_t nb(int z, int y, int x, int a, int b, int c, int d, int h, int w)
{
    z += a; y += b; x += c;
    z = z < 0 ? 0 : (z >= d ? d - 1 : z);
    y = y < 0 ? 0 : (y >= h ? h - 1 : y);
    x = x < 0 ? 0 : (x >= w ? w - 1 : x);
    return (size_t)x + (size_t)w * (y + (size_t)h * z);
}

/* u[o] = the index of neighbour o of voxel v, in kernel order (replicate border); interior voxels by the offset table */
static inline void neighbours(const dtransform_state *s, size_t v, size_t *u)
{
    int d = s->d, h = s->h, w = s->w, r = s->r, a, b, c, o = 0;
    int x = (int)(v % w), y = (int)((v / w) % h), z = (int)(v / ((size_t)w * h));
    if(z >= r && z < d - r && y >= r && y < h - r && x >= r && x < w - r){
        for(o = 0; o < s->nk; ++o) u[o] = v + s->off[o];
        return;
    }
    for(a = -r; a <= r; ++a) for(b = -r; b <= r; ++b) for(c = -r; c <= r; ++c, ++o) u[o] = nb(z, y, x, a, b, c, d, h, w);
}

/* mask value of voxel u for the transform of B (inv = 0) or 1 - B (inv = 1) */
static inline float mval(const float *B, size_t u, int inv) { return inv ? 1.f - B[u] : B[u]; }

/* logf(m) for m > 0; the hard masks' m = 1 without the call (logf(1) is 0 exactly) */
static inline float log_mask(float m) { return m == 1.f ? 0.f : logf(m); }

/* kornia: conv of the boundary at iteration it (bnd = 1 where reached before it, else M) over the neighbours u */
static inline float conv_kornia(const dtransform_state *s, const float *B, const int *reach, int inv, int it, const size_t *u)
{
    int o;
    float acc = 0;
    for(o = 0; o < s->nk; ++o){
        float v = reach[u[o]] < it ? 1.f : mval(B, u[o], inv);
        acc += s->K[o] * v;
    }
    return acc;
}

/* softmin term of neighbour o (voxel u): -(Kd + S_u)/h where reached before it, -Kd/h + log M_u where M_u > 0, else -inf */
static inline float softmin_term(const dtransform_state *s, const float *B, const float *S, const int *reach, int inv, int it, size_t u, int o)
{
    float ih = 1.f / s->p.h, mv = mval(B, u, inv);
    return reach[u] < it ? -(s->Kd[o] + S[u]) * ih : (mv > 0 ? -s->Kd[o] * ih + log_mask(mv) : -INFINITY);
}

/* softmin: log of sum_u K * E_u, E_u = exp(-S_u/h) where reached before it, M_u where M_u > 0 (hard), else nothing.
 * The terms once, then their max and the shifted sum in kernel order. Returns -INFINITY when no term exists. */
static inline float logconv_softmin(const dtransform_state *s, const float *B, const float *S, const int *reach, int inv, int it, const size_t *u)
{
    float t[DT_NK_MAX], m = -INFINITY;
    int o;
    for(o = 0; o < s->nk; ++o){
        t[o] = softmin_term(s, B, S, reach, inv, it, u[o], o);
        if(t[o] > m) m = t[o];
    }
    if(m == -INFINITY) return m;
    double acc = 0;
    for(o = 0; o < s->nk; ++o) if(t[o] > -INFINITY) acc += exp((double)(t[o] - m));
    return m + (float)log(acc);
}

/* Evaluates voxel v at iteration it; returns 1 when it is newly reached (S, reach written). */
static inline int dt_eval(const dtransform_state *s, const float *B, int inv, float *S, int *reach, int it, size_t v)
{
    size_t u[DT_NK_MAX];
    float hh = s->p.h;
    /* A voxel of the mask (M_v = 1, unreached) is never reached: its own term is K(0) * 1 = 1, so the conv is >= 1
     * and its log >= 0, in both formulations. Skipping it changes no bit; it saves the outside transform's
     * iteration 0, where most voxels are mask voxels, and the mask voxels next to each front. */
    if(mval(B, v, inv) == 1.f) return 0;
    neighbours(s, v, u);
    if(s->p.binarize == DT_BIN_SOFTMIN){
        float lc = logconv_softmin(s, B, S, reach, inv, it, u);
        if(lc > -INFINITY && lc < 0){ S[v] = -hh * lc; reach[v] = it; return 1; }
    } else {
        float cv = conv_kornia(s, B, reach, inv, it, u);
        if(cv > 0){
            float cdt = -hh * logf(cv);
            if(cdt > 0){ S[v] = (float)(it * s->r) + cdt; reach[v] = it; return 1; }
        }
    }
    return 0;
}

/* Fills S (0 where never reached) and reach (INT_MAX where never reached); returns iterations run.
 * Iteration 0 evaluates every voxel; iteration i > 0 only the unreached neighbours of the voxels
 * reached at i - 1: the boundary map changes only there, so any other voxel has the conv it had at
 * i - 1 and stays unreached (exact, not a heuristic). front/cand/stamp: scratch of nsmall ints.
 * Each voxel's value depends on the map before the iteration only, so the result is the same at any thread count. */
static int dt_forward_one(const dtransform_state *s, const float *B, int inv, float *S, int *reach, int *front, int *cand, int *stamp)
{
    int it, iters = 0, o;
    size_t n = s->nsmall, i, nf = 0, nc, u[DT_NK_MAX];
    int par = !omp_in_parallel();
    for(i = 0; i < n; ++i){ S[i] = 0; reach[i] = INT_MAX; stamp[i] = -1; }
    for(it = 0; it < s->niter; ++it){
        ++iters;
        if(it == 0){
            nc = n;
            for(i = 0; i < n; ++i) cand[i] = (int)i;
        } else {
            nc = 0;
            for(i = 0; i < nf; ++i){
                neighbours(s, (size_t)front[i], u);
                for(o = 0; o < s->nk; ++o) if(reach[u[o]] == INT_MAX && stamp[u[o]] != it){ stamp[u[o]] = it; cand[nc++] = (int)u[o]; }
            }
        }
        long j, ncl = (long)nc;
        /* reach[v] = it written here is never < it, so concurrent readers see the pre-iteration map */
        #pragma omp parallel for schedule(static) if(par && ncl > 4096)
        for(j = 0; j < ncl; ++j) dt_eval(s, B, inv, S, reach, it, (size_t)cand[j]);
        nf = 0;
        for(j = 0; j < ncl; ++j) if(reach[cand[j]] == it) front[nf++] = cand[j];
        if(nf == 0){
            if(s->p.early_stop) break;
            /* without early stop the remaining iterations are run (and reach nothing): the cost of the literal loop */
            size_t v;
            for(v = 0; v < n; ++v) if(reach[v] == INT_MAX) dt_eval(s, B, inv, S, reach, it, v);
        }
    }
    return iters;
}

/* minmax normalisation constants of S */
static void dt_minmax(const float *S, size_t n, float *mn, float *mx)
{
    float a = INFINITY, b = -INFINITY;
    size_t i;
    for(i = 0; i < n; ++i){ if(S[i] < a) a = S[i]; if(S[i] > b) b = S[i]; }
    *mn = a; *mx = b;
}

static void binarize_forward(const dtransform_state *s, const float *ps, float *B, size_t n)
{
    size_t i;
    if(s->p.binarize == DT_BIN_SIGMOID && !s->p.exact){
        float tau = s->p.tau;
        for(i = 0; i < n; ++i){
            B[i] = sigmoid3d(tau * (ps[i] - 0.5f));
        }
    } else {
        for(i = 0; i < n; ++i) B[i] = ps[i] > 0.5f ? 1.f : 0.f;
    }
}

/* the tables of the resize transformed -> full (those of full -> transformed are at s->tab, s->ltab) */
static const int *up_tab(const dtransform_state *s) { return s->tab + 2 * (s->d + s->h + s->w); }
static const float *up_ltab(const dtransform_state *s) { return s->ltab + s->d + s->h + s->w; }

/* the scratch of pair j = 2 b + inv */
static int *scratch(int *base, const dtransform_state *s, int j) { return base + (size_t)j * (s->nsmall + 2); }

/* The exact transform (edt3d) of every pair; one mask8 buffer, so one pair at a time. */
static void dt_forward_exact(dtransform_state *s)
{
    size_t ns = s->nsmall, i;
    int j;
    for(j = 0; j < 2 * s->batch; ++j){
        const float *B = s->B + (size_t)(j / 2) * ns;
        int inv = j % 2;
        float *S = s->S + (size_t)j * ns;
        int *reach = s->reach + (size_t)j * ns;
        const float sp[3] = {1, 1, 1};
        for(i = 0; i < ns; ++i) s->mask8[i] = (inv ? B[i] == 0 : B[i] != 0);
        int cnt = edt3d(s->mask8, s->d, s->h, s->w, sp, S);
        if(cnt <= 0) for(i = 0; i < ns; ++i) S[i] = 0;
        for(i = 0; i < ns; ++i) reach[i] = INT_MAX;
    }
}

/* The volumes, and the (volume, in/out) pairs, are independent: threaded over them, each computed as alone. */
void dtransform_forward(dtransform_state *s, const float *prob, float *R)
{
    int b, j, iters = 0, np = 2 * s->batch;
    size_t ns = s->nsmall;
    #pragma omp parallel for schedule(static) if(s->batch > 1)
    for(b = 0; b < s->batch; ++b){
        const float *p = prob + (size_t)b * s->nfull;
        float *B = s->B + (size_t)b * ns;
        const float *ps = p;
        if(s->resized){
            resize3d(p, s->D, s->H, s->W, s->tmp + (size_t)b * ns, s->d, s->h, s->w, s->tab, s->ltab);
            ps = s->tmp + (size_t)b * ns;
        }
        binarize_forward(s, ps, B, ns);
    }
    if(s->p.exact) dt_forward_exact(s);
    else {
        #pragma omp parallel for schedule(dynamic, 1) reduction(max:iters)
        for(j = 0; j < np; ++j){
            int it = dt_forward_one(s, s->B + (size_t)(j / 2) * ns, j % 2, s->S + (size_t)j * ns, s->reach + (size_t)j * ns,
                                    scratch(s->front, s, j), scratch(s->cand, s, j), scratch(s->stamp, s, j));
            if(it > iters) iters = it;
        }
    }
    #pragma omp parallel for schedule(static) if(s->batch > 1)
    for(b = 0; b < s->batch; ++b){
        dt_minmax(s->S + 2 * (size_t)b * ns, ns, &s->mn[2 * b], &s->mx[2 * b]);
        dt_minmax(s->S + (2 * (size_t)b + 1) * ns, ns, &s->mn[2 * b + 1], &s->mx[2 * b + 1]);
        /* Rs into tmp (the resized probability is no longer needed) */
        const float *Si = s->S + 2 * (size_t)b * ns, *So = Si + ns;
        float mi = s->mn[2 * b], Mi = s->mx[2 * b], mo = s->mn[2 * b + 1], Mo = s->mx[2 * b + 1];
        float ri = Mi > mi ? 1.f / (Mi - mi) : 0.f, ro = Mo > mo ? 1.f / (Mo - mo) : 0.f;
        float *Rs = s->resized ? s->tmp + (size_t)b * ns : R + (size_t)b * s->nfull;
        size_t i;
        for(i = 0; i < ns; ++i) Rs[i] = (Si[i] - mi) * ri - (So[i] - mo) * ro;
        if(s->resized) resize3d(Rs, s->d, s->h, s->w, R + (size_t)b * s->nfull, s->D, s->H, s->W, up_tab(s), up_ltab(s));
    }
    s->last_iters = iters;
}

/* dS = d minmax(S)/dS applied to g (gradient w.r.t. the normalised map), ties of min/max share evenly */
static void minmax_backward(const float *S, const float *g, size_t n, float mn, float mx, float sign, float *dS)
{
    size_t i;
    if(!(mx > mn)){ for(i = 0; i < n; ++i) dS[i] = 0; return; }
    double r = 1.0 / ((double)mx - mn), gM = 0, gm = 0;
    long nM = 0, nm = 0;
    for(i = 0; i < n; ++i){
        double gi = sign * g[i];
        gM += -gi * ((double)S[i] - mn) * r * r;
        gm += gi * ((double)S[i] - mx) * r * r;
        if(S[i] == mx) ++nM;
        if(S[i] == mn) ++nm;
    }
    for(i = 0; i < n; ++i){
        double v = sign * g[i] * r;
        if(S[i] == mx) v += gM / nM;
        if(S[i] == mn) v += gm / nm;
        dS[i] = (float)v;
    }
}

/* dM += d S / d M applied to dS (kornia: one pass, reached voxels see bnd = 1 constant) */
static void dt_backward_kornia(const dtransform_state *s, const float *B, int inv, const float *dS, const int *reach, float *dM)
{
    size_t v, u[DT_NK_MAX];
    int o;
    float hh = s->p.h;
    for(v = 0; v < s->nsmall; ++v){
        int it = reach[v];
        if(it == INT_MAX || dS[v] == 0) continue;
        neighbours(s, v, u);
        float cv = conv_kornia(s, B, reach, inv, it, u);
        float coef = -hh * dS[v] / cv;
        for(o = 0; o < s->nk; ++o) if(reach[u[o]] >= it) dM[u[o]] += coef * s->K[o];
    }
}

/* softmin: reverse sweep over iterations, in each the reached voxels in index order; gS holds dS on entry (and is
 * consumed). order, start: scratch of nsmall + 2 ints (the voxels bucketed by iteration). */
static void dt_backward_softmin(const dtransform_state *s, const float *B, int inv, const float *S, const int *reach, float *gS, float *dM,
                                int *order, int *start)
{
    size_t n = s->nsmall, i, u[DT_NK_MAX];
    int it, last = -1, o;
    long k;
    float hh = s->p.h, ih = 1.f / hh;
    for(i = 0; i < n; ++i) if(reach[i] != INT_MAX && reach[i] > last) last = reach[i];
    if(last < 0) return;
    /* counting sort by iteration (last < niter <= nsmall, so start has room) */
    for(it = 0; it <= last + 1; ++it) start[it] = 0;
    for(i = 0; i < n; ++i) if(reach[i] != INT_MAX) start[reach[i] + 1]++;
    for(it = 0; it <= last; ++it) start[it + 1] += start[it];
    for(i = 0; i < n; ++i) if(reach[i] != INT_MAX) order[start[reach[i]]++] = (int)i;
    /* start[it] is now the end of bucket it, the start of bucket it + 1 */
    for(it = last; it >= 0; --it){
        long b0 = it ? start[it - 1] : 0;
        for(k = b0; k < start[it]; ++k){
            size_t v = (size_t)order[k];
            if(gS[v] == 0) continue;
            float g = gS[v], Sv = S[v];
            neighbours(s, v, u);
            for(o = 0; o < s->nk; ++o){
                size_t w = u[o];
                if(reach[w] < it) gS[w] += g * expf((Sv - s->Kd[o] - S[w]) * ih);
                else if(mval(B, w, inv) > 0) dM[w] += g * (-hh) * expf((Sv - s->Kd[o]) * ih);
            }
        }
    }
}

/* Threaded over the volumes; each volume's sums run in the order of the one-thread loop. */
void dtransform_backward(dtransform_state *s, const float *dR, float *dprob)
{
    if(s->p.exact) return; /* not differentiable: documented, adds nothing */
    int b;
    size_t ns = s->nsmall;
    #pragma omp parallel for schedule(dynamic, 1) if(s->batch > 1)
    for(b = 0; b < s->batch; ++b){
        const float *B = s->B + (size_t)b * ns;
        float *g = s->tmp + (size_t)b * ns, *dB = s->dB + (size_t)b * ns;
        size_t i;
        if(s->resized){
            for(i = 0; i < ns; ++i) g[i] = 0;
            resize3d_adjoint_add(dR + (size_t)b * s->nfull, s->D, s->H, s->W, g, s->d, s->h, s->w, up_tab(s), up_ltab(s));
        } else {
            memcpy(g, dR + (size_t)b * s->nfull, ns * sizeof(float));
        }
        for(i = 0; i < ns; ++i) dB[i] = 0;
        int inv;
        for(inv = 0; inv < 2; ++inv){
            const float *S = s->S + (2 * (size_t)b + inv) * ns;
            const int *reach = s->reach + (2 * (size_t)b + inv) * ns;
            float *dS = s->gS + (size_t)b * ns;
            /* R = n_in - n_out and M_out = 1 - B: the two minus signs of the map of 1 - B cancel, so
             * dL/dB += (dS/dM)^T minmax'(g) for both maps */
            minmax_backward(S, g, ns, s->mn[2 * b + inv], s->mx[2 * b + inv], 1.f, dS);
            if(s->p.binarize == DT_BIN_SOFTMIN)
                dt_backward_softmin(s, B, inv, S, reach, dS, dB, scratch(s->front, s, 2 * b), scratch(s->cand, s, 2 * b));
            else dt_backward_kornia(s, B, inv, dS, reach, dB);
        }
        /* binarise backward, then the resize's transpose into dprob (accumulated) */
        if(s->p.binarize == DT_BIN_SIGMOID){
            float tau = s->p.tau;
            for(i = 0; i < ns; ++i) dB[i] *= tau * B[i] * (1.f - B[i]);
        }
        float *dp = dprob + (size_t)b * s->nfull;
        if(s->resized) resize3d_adjoint_add(dB, s->d, s->h, s->w, dp, s->D, s->H, s->W, s->tab, s->ltab);
        else for(i = 0; i < ns; ++i) dp[i] += dB[i];
    }
}

/* ---- cfg and the layer ---- */

int dtransform_parse_params(list *options, const char *sec, dtransform_params *p, char *err, size_t errlen)
{
    static const char *bins[] = {"ste", "sigmoid", "softmin", 0};
    dtransform_default_params(p);
    if(cfg_int(options, sec, "kernel", 3, 0, &p->kernel, err, errlen)) return -1;
    if(p->kernel % 2 == 0){ snprintf(err, errlen, "key 'kernel': must be odd, got %d", p->kernel); return -1; }
    if(cfg_float(options, sec, "h", 0.35f, 0, &p->h, err, errlen)) return -1;
    if(cfg_float(options, sec, "scale", 0.5f, 0, &p->scale, err, errlen)) return -1;
    if(cfg_choice(options, "binarize", "ste", bins, &p->binarize, err, errlen)) return -1;
    if(cfg_float(options, sec, "tau", 50.f, 0, &p->tau, err, errlen)) return -1;
    if(cfg_int(options, sec, "exact", 0, 0, &p->exact, err, errlen)) return -1;
    if(cfg_int(options, sec, "early_stop", 1, 0, &p->early_stop, err, errlen)) return -1;
    return 0;
}

static const char *bin_name(int b) { return b == DT_BIN_SIGMOID ? "sigmoid" : (b == DT_BIN_SOFTMIN ? "softmin" : "ste"); }

layer make_dtransform_layer(int batch, int c, int d, int h, int w, const dtransform_params *p)
{
    layer l = {0};
    l.type = DTRANSFORM;
    dims3d s = {c, d, h, w};
    layer3d_set_shapes(&l, batch, s, s);
    l.plugin_state = dtransform_alloc(p, batch * c, d, h, w, gpu_index >= 0);
    l.activation = LINEAR;
    l.forward = forward_dtransform_layer;
    l.backward = backward_dtransform_layer;
#ifdef GPU
    l.forward_gpu = forward_dtransform_layer_gpu;
    l.backward_gpu = backward_dtransform_layer_gpu;
#endif
    fprintf(stderr, "dtransform k=%d h=%g scale=%g %s%s %4d x%4d x%4d x%4d -> %4d x%4d x%4d x%4d\n", p->kernel, p->h, p->scale,
            p->exact ? "exact" : bin_name(p->binarize), p->binarize == DT_BIN_SIGMOID && !p->exact ? "" : "", c, d, h, w, c, d, h, w);
    return l;
}

const dtransform_params *dtransform_layer_params(layer l) { return &((dtransform_state *)l.plugin_state)->p; }
int dtransform_layer_takes_logits(layer l) { return l.activation == LOGISTIC; }
void dtransform_layer_set_train_only(layer *l) { ((dtransform_state *)l->plugin_state)->train_only = 1; }

void forward_dtransform_layer(const layer l, network net)
{
    dtransform_state *s = (dtransform_state *)l.plugin_state;
    if(s->train_only && !net.train) return;
    if(l.activation != LOGISTIC){ dtransform_forward(s, net.input, l.output); return; }
    long i, n = (long)l.batch * l.outputs;
    #pragma omp parallel for schedule(static) if(n > 32768)
    for(i = 0; i < n; ++i) l.x[i] = sigmoid3d(net.input[i]);
    dtransform_forward(s, l.x, l.output);
}

void backward_dtransform_layer(const layer l, network net)
{
    if(!net.delta) return;
    dtransform_state *s = (dtransform_state *)l.plugin_state;
    if(l.activation != LOGISTIC){ dtransform_backward(s, l.delta, net.delta); return; }
    long i, n = (long)l.batch * l.outputs;
    memset(l.x_norm, 0, (size_t)n * sizeof(float));
    dtransform_backward(s, l.delta, l.x_norm);
    #pragma omp parallel for schedule(static) if(n > 32768)
    for(i = 0; i < n; ++i) net.delta[i] += l.x_norm[i] * l.x[i] * (1 - l.x[i]);
}

/* input=logits: the buffers of P = sigmoid(z) (l.x) and of the gradient w.r.t. P (l.x_norm) */
static int alloc_logit_buffers(layer *l)
{
    size_t n = (size_t)l->batch * l->outputs;
    l->activation = LOGISTIC;
    l->x = calloc(n, sizeof(float));
    l->x_norm = layer3d_inference ? 0 : calloc(n, sizeof(float));   /* backward only */
    if(!l->x || (!layer3d_inference && !l->x_norm)) return -1;
#ifdef GPU
    if(gpu_index >= 0){
        if(cuda3d_make_array(&l->x_gpu, l->x, n) || (!layer3d_inference && cuda3d_make_array(&l->x_norm_gpu, l->x_norm, n))) return -1;
    }
#endif
    return 0;
}

int parse_dtransform_section(list *options, size_params params, layer *l, char *err, size_t errlen)
{
    dims3d in;
    dtransform_params p;
    if(params_dims(params, &in, err, errlen)) return -1;
    if(dtransform_parse_params(options, "[dtransform]", &p, err, errlen)) return -1;
    static const char *inputs[] = {"prob", "logits", 0};
    int input;
    if(cfg_choice(options, "input", "prob", inputs, &input, err, errlen)) return -1;
    *l = make_dtransform_layer(params.batch, in.c, in.d, in.h, in.w, &p);
    if(!layer3d_buffers_ok(l) || !l->plugin_state || (input && alloc_logit_buffers(l))){
        if(l->plugin_state) dtransform_free((dtransform_state *)l->plugin_state);
        free_layer(*l);   /* output and delta were allocated before the state */
        layer empty = {0};
        *l = empty;
        char why[600];
        layer3d_alloc_error(why, sizeof(why));
        snprintf(err, errlen, "cannot allocate the transform's workspace for %d x %d x %d x %d (c x d x h x w, batch %d, kernel %d, scale %g): %s",
                 in.c, in.d, in.h, in.w, params.batch, p.kernel, p.scale, why);
        return -1;
    }
    return 0;
}

void free_dtransform_layer(layer l)
{
    if(l.plugin_state) dtransform_free((dtransform_state *)l.plugin_state);
}
