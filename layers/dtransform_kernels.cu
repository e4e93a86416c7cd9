/* CUDA twin of the [dtransform] (s2r) transform: same iteration, same O(voxels) backward (with atomics, or with dtransform_gather.h's gathers under -deterministic), checked against the CPU by tests/test_dtransform.c. */
#include "cuda3d.h"
#include "numerics3d.h"
#include <math_constants.h>
extern "C" {
#include "dtransform_layer.h"
#include "dtransform_internal.h"
#include "edt_gpu.h"
#include "layer3d.h"
#include "dtransform_gather.h"
}
#include <limits.h>

extern "C" int darknet3d_deterministic;

/* the kernel's weights and distances in constant memory: 2 x 15^3 floats = 27 KB of the 64 KB */
#define MAXK (DT_KERNEL_MAX * DT_KERNEL_MAX * DT_KERNEL_MAX)
static_assert(2 * MAXK * sizeof(float) <= 65536, "DT_KERNEL_MAX too large for constant memory");
__constant__ float cK[MAXK], cKd[MAXK];

static int grid(size_t n) { return (int)((n + BLOCK - 1) / BLOCK); }

/* axes: dt_axis_w (dtransform_gather.h), the arithmetic of dt_axis_weights on the CPU */
__global__ void resize_kernel(const float *in, int N, int id, int ih, int iw, float *out, int od, int oh, int ow)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, n = (size_t)od * oh * ow;
    if(i >= N * n) return;
    int b = (int)(i / n); size_t r = i % n;
    int x = (int)(r % ow), y = (int)((r / ow) % oh), z = (int)(r / ((size_t)ow * oh));
    int z0, z1, y0, y1, x0, x1; float lz, ly, lx;
    dt_axis_w(id, od, z, &z0, &z1, &lz); dt_axis_w(ih, oh, y, &y0, &y1, &ly); dt_axis_w(iw, ow, x, &x0, &x1, &lx);
    const float *p = in + (size_t)b * id * ih * iw;
    const float *p00 = p + (size_t)iw * (y0 + (size_t)ih * z0), *p01 = p + (size_t)iw * (y1 + (size_t)ih * z0);
    const float *p10 = p + (size_t)iw * (y0 + (size_t)ih * z1), *p11 = p + (size_t)iw * (y1 + (size_t)ih * z1);
    float wz0 = __fsub_rn(1.f, lz), wy0 = __fsub_rn(1.f, ly), wx0 = __fsub_rn(1.f, lx);
#define L(P) __fadd_rn(__fmul_rn(wx0, P[x0]), __fmul_rn(lx, P[x1]))
    float a = __fadd_rn(__fmul_rn(wy0, L(p00)), __fmul_rn(ly, L(p01)));
    float c = __fadd_rn(__fmul_rn(wy0, L(p10)), __fmul_rn(ly, L(p11)));
#undef L
    out[i] = __fadd_rn(__fmul_rn(wz0, a), __fmul_rn(lz, c));
}

/* gin += resize^T gout (scatter with atomics) */
__global__ void resize_adjoint_kernel(const float *gout, int N, int od, int oh, int ow, float *gin, int id, int ih, int iw)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, n = (size_t)od * oh * ow;
    if(i >= N * n) return;
    int b = (int)(i / n); size_t r = i % n;
    int x = (int)(r % ow), y = (int)((r / ow) % oh), z = (int)(r / ((size_t)ow * oh));
    int z0, z1, y0, y1, x0, x1; float lz, ly, lx;
    dt_axis_w(id, od, z, &z0, &z1, &lz); dt_axis_w(ih, oh, y, &y0, &y1, &ly); dt_axis_w(iw, ow, x, &x0, &x1, &lx);
    float v = gout[i];
    if(v == 0) return;
    float *p = gin + (size_t)b * id * ih * iw;
    float wz[2] = {1.f - lz, lz}, wy[2] = {1.f - ly, ly}, wx[2] = {1.f - lx, lx};
    int zz[2] = {z0, z1}, yy[2] = {y0, y1}, xx[2] = {x0, x1};
    for(int a = 0; a < 2; ++a) for(int c = 0; c < 2; ++c) for(int e = 0; e < 2; ++e)
        atomicAdd(p + xx[e] + (size_t)iw * (yy[c] + (size_t)ih * zz[a]), wz[a] * wy[c] * wx[e] * v);
}

__global__ void binarize_kernel(size_t n, const float *ps, float *B, int sigmoid, float tau)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if(i >= n) return;
    if(sigmoid){
        B[i] = sigmoid3d(tau * (ps[i] - 0.5f));
    } else B[i] = ps[i] > 0.5f ? 1.f : 0.f;
}

__global__ void mask8_kernel(size_t n, const float *B, int inv, unsigned char *m)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if(i < n) m[i] = inv ? B[i] == 0 : B[i] != 0;
}

__global__ void init_kernel(size_t n, float *S, int *reach)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if(i < n){ S[i] = 0; reach[i] = INT_MAX; }
}

struct geom { int d, h, w, r, k; size_t n; float hh; };

__device__ __forceinline__ size_t nbr(int z, int y, int x, int a, int b, int c, const geom &g)
{
    z += a; y += b; x += c;
    z = z < 0 ? 0 : (z >= g.d ? g.d - 1 : z);
    y = y < 0 ? 0 : (y >= g.h ? g.h - 1 : y);
    x = x < 0 ? 0 : (x >= g.w ? g.w - 1 : x);
    return (size_t)x + (size_t)g.w * (y + (size_t)g.h * z);
}

__device__ __forceinline__ float mv(const float *B, size_t u, int inv) { return inv ? 1.f - B[u] : B[u]; }

__device__ float conv_k(const geom &g, const float *B, const int *reach, int inv, int it, int z, int y, int x)
{
    float acc = 0; int o = 0;
    for(int a = -g.r; a <= g.r; ++a) for(int b = -g.r; b <= g.r; ++b) for(int c = -g.r; c <= g.r; ++c, ++o){
        size_t u = nbr(z, y, x, a, b, c, g);
        float v = reach[u] < it ? 1.f : mv(B, u, inv);
        acc = __fadd_rn(acc, __fmul_rn(cK[o], v));
    }
    return acc;
}

__device__ float logconv_s(const geom &g, const float *B, const float *S, const int *reach, int inv, int it, int z, int y, int x)
{
    float ih = 1.f / g.hh, m = -CUDART_INF_F; int o = 0;
    for(int a = -g.r; a <= g.r; ++a) for(int b = -g.r; b <= g.r; ++b) for(int c = -g.r; c <= g.r; ++c, ++o){
        size_t u = nbr(z, y, x, a, b, c, g);
        float mm = mv(B, u, inv);
        float t = reach[u] < it ? -(cKd[o] + S[u]) * ih : (mm > 0 ? -cKd[o] * ih + logf(mm) : -CUDART_INF_F);
        if(t > m) m = t;
    }
    if(m == -CUDART_INF_F) return m;
    double acc = 0; o = 0;
    for(int a = -g.r; a <= g.r; ++a) for(int b = -g.r; b <= g.r; ++b) for(int c = -g.r; c <= g.r; ++c, ++o){
        size_t u = nbr(z, y, x, a, b, c, g);
        float mm = mv(B, u, inv);
        float t = reach[u] < it ? -(cKd[o] + S[u]) * ih : (mm > 0 ? -cKd[o] * ih + logf(mm) : -CUDART_INF_F);
        if(t > -CUDART_INF_F) acc += exp((double)(t - m));
    }
    return m + (float)log(acc);
}

/* iterations of the distance transform run between two reads of their early-stop flags */
#define DT_CHECK_EVERY 8

/* one iteration over the maps of every volume for one polarity; layout: map b at S + (2b + inv) n */
__global__ void dt_iter_kernel(geom g, int N, int inv, int it, int soft, const float *Ball, float *Sall, int *Rall, int *flag)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if(i >= N * g.n) return;
    int b = (int)(i / g.n); size_t v = i % g.n;
    int *reach = Rall + (2 * (size_t)b + inv) * g.n;
    if(reach[v] != INT_MAX) return;
    float *S = Sall + (2 * (size_t)b + inv) * g.n;
    const float *B = Ball + (size_t)b * g.n;
    if(mv(B, v, inv) == 1.f) return;   /* a mask voxel is never reached (its own term makes the conv >= 1), as on the CPU */
    int x = (int)(v % g.w), y = (int)((v / g.w) % g.h), z = (int)(v / ((size_t)g.w * g.h));
    if(soft){
        float lc = logconv_s(g, B, S, reach, inv, it, z, y, x);
        if(lc > -CUDART_INF_F && lc < 0){ S[v] = -g.hh * lc; reach[v] = it; *flag = 1; }
    } else {
        float cv = conv_k(g, B, reach, inv, it, z, y, x);
        if(cv > 0){
            float cdt = -g.hh * logf(cv);
            if(cdt > 0){ S[v] = (float)(it * g.r) + cdt; reach[v] = it; *flag = 1; }
        }
    }
}

/* min and max of each map: one block per map */
__global__ void minmax_kernel(const float *S, size_t n, float *mn, float *mx)
{
    __shared__ float smn[BLOCK], smx[BLOCK];
    const float *s = S + (size_t)blockIdx.x * n;
    float a = CUDART_INF_F, b = -CUDART_INF_F;
    for(size_t i = threadIdx.x; i < n; i += blockDim.x){ a = fminf(a, s[i]); b = fmaxf(b, s[i]); }
    smn[threadIdx.x] = a; smx[threadIdx.x] = b;
    __syncthreads();
    for(int st = blockDim.x / 2; st > 0; st >>= 1){
        if(threadIdx.x < st){ smn[threadIdx.x] = fminf(smn[threadIdx.x], smn[threadIdx.x + st]); smx[threadIdx.x] = fmaxf(smx[threadIdx.x], smx[threadIdx.x + st]); }
        __syncthreads();
    }
    if(threadIdx.x == 0){ mn[blockIdx.x] = smn[0]; mx[blockIdx.x] = smx[0]; }
}

__global__ void rs_kernel(int N, size_t n, const float *S, const float *mn, const float *mx, float *Rs)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if(i >= N * n) return;
    int b = (int)(i / n); size_t v = i % n;
    float mi = mn[2 * b], Mi = mx[2 * b], mo = mn[2 * b + 1], Mo = mx[2 * b + 1];
    float ri = Mi > mi ? 1.f / (Mi - mi) : 0.f, ro = Mo > mo ? 1.f / (Mo - mo) : 0.f;
    const float *Si = S + 2 * (size_t)b * n, *So = Si + n;
    Rs[i] = (Si[v] - mi) * ri - (So[v] - mo) * ro;
}

__global__ void zero_inf_kernel(size_t n, float *x) { size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; if(i < n && isinf(x[i])) x[i] = 0; }

/* tie sums of the minmax backward, one block per volume (polarity inv): red[4b..] = gM, gm, nM, nm */
__global__ void minmax_red_kernel(const float *Sall, const float *g, size_t n, int inv, const float *mn, const float *mx, double *red)
{
    __shared__ double s0[BLOCK], s1[BLOCK], s2[BLOCK], s3[BLOCK];
    int b = blockIdx.x;
    const float *S = Sall + (2 * (size_t)b + inv) * n, *gb = g + (size_t)b * n;
    float m = mn[2 * b + inv], M = mx[2 * b + inv];
    double r = M > m ? 1.0 / ((double)M - m) : 0, a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for(size_t i = threadIdx.x; i < n; i += blockDim.x){
        double gi = gb[i];
        a0 += -gi * ((double)S[i] - m) * r * r;
        a1 += gi * ((double)S[i] - M) * r * r;
        a2 += S[i] == M; a3 += S[i] == m;
    }
    s0[threadIdx.x] = a0; s1[threadIdx.x] = a1; s2[threadIdx.x] = a2; s3[threadIdx.x] = a3;
    __syncthreads();
    for(int st = blockDim.x / 2; st > 0; st >>= 1){
        if(threadIdx.x < st){ s0[threadIdx.x] += s0[threadIdx.x + st]; s1[threadIdx.x] += s1[threadIdx.x + st]; s2[threadIdx.x] += s2[threadIdx.x + st]; s3[threadIdx.x] += s3[threadIdx.x + st]; }
        __syncthreads();
    }
    if(threadIdx.x == 0){ red[4 * b] = s0[0]; red[4 * b + 1] = s1[0]; red[4 * b + 2] = s2[0]; red[4 * b + 3] = s3[0]; }
}

__global__ void minmax_bwd_kernel(int N, size_t n, int inv, const float *Sall, const float *g, const float *mn, const float *mx, const double *red, float *dS)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if(i >= N * n) return;
    int b = (int)(i / n); size_t v = i % n;
    const float *S = Sall + (2 * (size_t)b + inv) * n;
    float m = mn[2 * b + inv], M = mx[2 * b + inv];
    if(!(M > m)){ dS[i] = 0; return; }
    double r = 1.0 / ((double)M - m), x = g[i] * r;
    if(S[v] == M) x += red[4 * b] / red[4 * b + 2];
    if(S[v] == m) x += red[4 * b + 1] / red[4 * b + 3];
    dS[i] = (float)x;
}

__global__ void dt_bwd_kornia_kernel(geom g, int N, int inv, const float *Ball, const int *Rall, const float *dSall, float *dBall)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if(i >= N * g.n) return;
    int b = (int)(i / g.n); size_t v = i % g.n;
    const int *reach = Rall + (2 * (size_t)b + inv) * g.n;
    int it = reach[v];
    float ds = dSall[i];
    if(it == INT_MAX || ds == 0) return;
    const float *B = Ball + (size_t)b * g.n;
    float *dM = dBall + (size_t)b * g.n;
    int x = (int)(v % g.w), y = (int)((v / g.w) % g.h), z = (int)(v / ((size_t)g.w * g.h));
    float coef = -g.hh * ds / conv_k(g, B, reach, inv, it, z, y, x);
    int o = 0;
    for(int a = -g.r; a <= g.r; ++a) for(int bb = -g.r; bb <= g.r; ++bb) for(int c = -g.r; c <= g.r; ++c, ++o){
        size_t u = nbr(z, y, x, a, bb, c, g);
        if(reach[u] >= it) atomicAdd(dM + u, coef * cK[o]);
    }
}

__global__ void dt_bwd_softmin_kernel(geom g, int N, int inv, int it, const float *Ball, const float *Sall, const int *Rall, float *gSall, float *dBall)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if(i >= N * g.n) return;
    int b = (int)(i / g.n); size_t v = i % g.n;
    const int *reach = Rall + (2 * (size_t)b + inv) * g.n;
    if(reach[v] != it) return;
    float *gS = gSall + (size_t)b * g.n;
    float gv = gS[v];
    if(gv == 0) return;
    const float *S = Sall + (2 * (size_t)b + inv) * g.n, *B = Ball + (size_t)b * g.n;
    float *dM = dBall + (size_t)b * g.n, ih = 1.f / g.hh, Sv = S[v];
    int x = (int)(v % g.w), y = (int)((v / g.w) % g.h), z = (int)(v / ((size_t)g.w * g.h)), o = 0;
    for(int a = -g.r; a <= g.r; ++a) for(int bb = -g.r; bb <= g.r; ++bb) for(int c = -g.r; c <= g.r; ++c, ++o){
        size_t u = nbr(z, y, x, a, bb, c, g);
        if(reach[u] < it) atomicAdd(gS + u, gv * expf((Sv - cKd[o] - S[u]) * ih));
        else if(mv(B, u, inv) > 0) atomicAdd(dM + u, gv * (-g.hh) * expf((Sv - cKd[o]) * ih));
    }
}

/* -deterministic: the gathers of dtransform_gather.h, one thread per receiving element, no atomics */
__global__ void resize_adjoint_gather_kernel(const float *gout, int N, int od, int oh, int ow, float *gin, int id, int ih, int iw, int add)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, n = (size_t)id * ih * iw;
    if(i >= N * n) return;
    int b = (int)(i / n); size_t r = i % n;
    int x = (int)(r % iw), y = (int)((r / iw) % ih), z = (int)(r / ((size_t)iw * ih));
    float v = tri_adjoint_at(gout + (size_t)b * od * oh * ow, id, ih, iw, od, oh, ow, 0, z, y, x);
    gin[i] = add ? gin[i] + v : v;
}

__global__ void dt_bwd_softmin_gather_kernel(geom g, int N, int inv, int it, const float *Ball, const float *Sall, const int *Rall, float *gSall, float *dBall)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if(i >= N * g.n) return;
    int b = (int)(i / g.n), to_gS; size_t u = i % g.n;
    dt_grid gg = {g.d, g.h, g.w, g.r, g.hh};
    float *gS = gSall + (size_t)b * g.n;
    float a = dt_softmin_gather_at(gg, cKd, Ball + (size_t)b * g.n, Sall + (2 * (size_t)b + inv) * g.n, Rall + (2 * (size_t)b + inv) * g.n,
                                   gS, inv, it, u, &to_gS);
    if(a != 0){ if(to_gS) gS[u] += a; else dBall[i] += a; }
}

/* kornia, first step: dS of each reached voxel becomes its coefficient -h dS / conv (in place), 0 elsewhere */
__global__ void kornia_coef_kernel(geom g, int N, int inv, const float *Ball, const int *Rall, float *gSall)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if(i >= N * g.n) return;
    int b = (int)(i / g.n); size_t v = i % g.n;
    const int *reach = Rall + (2 * (size_t)b + inv) * g.n;
    int it = reach[v];
    float ds = gSall[i];
    if(it == INT_MAX || ds == 0){ gSall[i] = 0; return; }
    int x = (int)(v % g.w), y = (int)((v / g.w) % g.h), z = (int)(v / ((size_t)g.w * g.h));
    gSall[i] = -g.hh * ds / conv_k(g, Ball + (size_t)b * g.n, reach, inv, it, z, y, x);
}

__global__ void dt_bwd_kornia_gather_kernel(geom g, int N, int inv, const int *Rall, const float *coef, float *dBall)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if(i >= N * g.n) return;
    int b = (int)(i / g.n); size_t u = i % g.n;
    dt_grid gg = {g.d, g.h, g.w, g.r, g.hh};
    dBall[i] += dt_kornia_gather_at(gg, cK, Rall + (2 * (size_t)b + inv) * g.n, coef + (size_t)b * g.n, u);
}

__global__ void sigmoid_bwd_kernel(size_t n, float tau, const float *B, float *dB)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if(i < n) dB[i] *= tau * B[i] * (1.f - B[i]);
}

extern "C" int dtransform_alloc_gpu(dtransform_state *s)
{
    size_t n = (size_t)s->batch * s->nsmall;
    if(s->nk > MAXK) return -1;
    if(cuda3d_make_array(&s->B, NULL, n) || cuda3d_make_array(&s->S, NULL, 2 * n) ||
       cuda3d_make_array(&s->tmp, NULL, n) || cuda3d_make_array(&s->dB, NULL, n) ||
       cuda3d_make_array(&s->gS, NULL, n) || cuda3d_make_array(&s->mn, NULL, 2 * (size_t)s->batch) ||
       cuda3d_make_array(&s->mx, NULL, 2 * (size_t)s->batch) ||
       cuda3d_make_array(&s->red_gpu, NULL, 8 * (size_t)s->batch)) return -1; /* red_gpu: 4 doubles per volume */
    if(cuda3d_malloc((void **)&s->reach, 2 * n * sizeof(int))) return -1;
    if(cuda3d_malloc((void **)&s->flag_gpu, (size_t)(s->niter > 0 ? s->niter : 1) * sizeof(int))) return -1;   /* one per iteration */
    if(s->p.exact && cuda3d_malloc((void **)&s->mask8_gpu, s->nsmall)) return -1;
    return 0;
}

extern "C" void dtransform_free_gpu(dtransform_state *s)
{
    float **f[8] = {&s->B, &s->S, &s->tmp, &s->dB, &s->gS, &s->mn, &s->mx, &s->red_gpu};
    for(int q = 0; q < 8; ++q) cuda3d_free((void **)f[q]);
    cuda3d_free((void **)&s->reach);
    cuda3d_free((void **)&s->flag_gpu);
    cuda3d_free((void **)&s->mask8_gpu);
}

static geom make_geom(const dtransform_state *s)
{
    geom g = { s->d, s->h, s->w, s->r, s->p.kernel, s->nsmall, s->p.h };
    return g;
}

extern "C" void dtransform_forward_gpu(dtransform_state *s, const float *prob, float *R)
{
    int N = s->batch, inv, iters = 0;
    size_t ns = s->nsmall, n = (size_t)N * ns;
    geom g = make_geom(s);
    CUDA3D_CHECK(cudaMemcpyToSymbol(cK, s->K, s->nk * sizeof(float)));
    CUDA3D_CHECK(cudaMemcpyToSymbol(cKd, s->Kd, s->nk * sizeof(float)));
    const float *ps = prob;
    if(s->resized){
        resize_kernel<<<grid(n), BLOCK>>>(prob, N, s->D, s->H, s->W, s->tmp, s->d, s->h, s->w);
        CUDA3D_CHECK_LAUNCH();
        ps = s->tmp;
    }
    binarize_kernel<<<grid(n), BLOCK>>>(n, ps, s->B, s->p.binarize == DT_BIN_SIGMOID && !s->p.exact, s->p.tau);
    CUDA3D_CHECK_LAUNCH();
    init_kernel<<<grid(2 * n), BLOCK>>>(2 * n, s->S, s->reach);
    CUDA3D_CHECK_LAUNCH();
    if(s->p.exact){
        const float sp[3] = {1, 1, 1};
        for(int b = 0; b < N; ++b) for(inv = 0; inv < 2; ++inv){
            float *S = s->S + (2 * (size_t)b + inv) * ns;
            mask8_kernel<<<grid(ns), BLOCK>>>(ns, s->B + (size_t)b * ns, inv, s->mask8_gpu);
            CUDA3D_CHECK_LAUNCH();
            if(edt3d_gpu(s->mask8_gpu, s->d, s->h, s->w, sp, S) < 0){
                char why[512] = "bad arguments";
                cuda3d_take_error(why, sizeof(why));
                cuda3d_fatal("edt3d_gpu", why, __FILE__, __LINE__);
            }
            zero_inf_kernel<<<grid(ns), BLOCK>>>(ns, S);
            CUDA3D_CHECK_LAUNCH();
        }
    } else {
        int soft = s->p.binarize == DT_BIN_SOFTMIN;
        /* Early stop: iteration it sets flag_gpu[it] when it reaches a voxel; the flags are read every DT_CHECK_EVERY
         * iterations instead of after each (one host round trip per group). An iteration that reaches nothing leaves
         * S and reach as they were, and the next one reads the same sources (reach < it) and so reaches nothing
         * either: the extra iterations of a group change nothing (tests/test_dtransform.c, early_stop_bit_exact, on
         * the CPU twin), and iters is the CPU's: up to the first iteration that reached nothing. */
        for(inv = 0; inv < 2; ++inv){
            int it = 0, stop = 0, j;
            CUDA3D_CHECK(cudaMemset(s->flag_gpu, 0, (size_t)(s->niter > 0 ? s->niter : 1) * sizeof(int)));
            while(it < s->niter && !stop){
                int end = it + DT_CHECK_EVERY < s->niter ? it + DT_CHECK_EVERY : s->niter;
                for(j = it; j < end; ++j){
                    dt_iter_kernel<<<grid(n), BLOCK>>>(g, N, inv, j, soft, s->B, s->S, s->reach, s->flag_gpu + j);
                    CUDA3D_CHECK_LAUNCH();
                }
                if(s->p.early_stop){
                    int fl[DT_CHECK_EVERY];
                    CUDA3D_CHECK(cudaMemcpy(fl, s->flag_gpu + it, (size_t)(end - it) * sizeof(int), cudaMemcpyDeviceToHost));
                    for(j = it; j < end && !stop; ++j){
                        if(j + 1 > iters) iters = j + 1;
                        stop = !fl[j - it];
                    }
                } else if(end > iters) iters = end;
                it = end;
            }
        }
    }
    minmax_kernel<<<2 * N, BLOCK>>>(s->S, ns, s->mn, s->mx);
    CUDA3D_CHECK_LAUNCH();
    float *Rs = s->resized ? s->tmp : R;
    rs_kernel<<<grid(n), BLOCK>>>(N, ns, s->S, s->mn, s->mx, Rs);
    CUDA3D_CHECK_LAUNCH();
    if(s->resized){
        resize_kernel<<<grid((size_t)N * s->nfull), BLOCK>>>(Rs, N, s->d, s->h, s->w, R, s->D, s->H, s->W);
        CUDA3D_CHECK_LAUNCH();
    }
    s->last_iters = iters;
}

extern "C" void dtransform_backward_gpu(dtransform_state *s, const float *dR, float *dprob)
{
    if(s->p.exact) return;
    int N = s->batch, inv;
    size_t ns = s->nsmall, n = (size_t)N * ns;
    geom g = make_geom(s);
    CUDA3D_CHECK(cudaMemcpyToSymbol(cK, s->K, s->nk * sizeof(float)));
    CUDA3D_CHECK(cudaMemcpyToSymbol(cKd, s->Kd, s->nk * sizeof(float)));
    int det = darknet3d_deterministic;
    float *gr = s->tmp;
    if(s->resized && det){
        resize_adjoint_gather_kernel<<<grid(n), BLOCK>>>(dR, N, s->D, s->H, s->W, gr, s->d, s->h, s->w, 0);
        CUDA3D_CHECK_LAUNCH();
    } else if(s->resized){
        fill_gpu((int)n, 0, gr, 1);
        resize_adjoint_kernel<<<grid((size_t)N * s->nfull), BLOCK>>>(dR, N, s->D, s->H, s->W, gr, s->d, s->h, s->w);
        CUDA3D_CHECK_LAUNCH();
    } else {
        CUDA3D_CHECK(cudaMemcpy(gr, dR, n * sizeof(float), cudaMemcpyDeviceToDevice));
    }
    fill_gpu((int)n, 0, s->dB, 1);
    for(inv = 0; inv < 2; ++inv){
        minmax_red_kernel<<<N, BLOCK>>>(s->S, gr, ns, inv, s->mn, s->mx, (double *)s->red_gpu);
        CUDA3D_CHECK_LAUNCH();
        minmax_bwd_kernel<<<grid(n), BLOCK>>>(N, ns, inv, s->S, gr, s->mn, s->mx, (const double *)s->red_gpu, s->gS);
        CUDA3D_CHECK_LAUNCH();
        if(s->p.binarize == DT_BIN_SOFTMIN){
            for(int it = s->last_iters - 1; it >= 0; --it){
                if(det) dt_bwd_softmin_gather_kernel<<<grid(n), BLOCK>>>(g, N, inv, it, s->B, s->S, s->reach, s->gS, s->dB);
                else dt_bwd_softmin_kernel<<<grid(n), BLOCK>>>(g, N, inv, it, s->B, s->S, s->reach, s->gS, s->dB);
                CUDA3D_CHECK_LAUNCH();
            }
        } else if(det){
            kornia_coef_kernel<<<grid(n), BLOCK>>>(g, N, inv, s->B, s->reach, s->gS);
            CUDA3D_CHECK_LAUNCH();
            dt_bwd_kornia_gather_kernel<<<grid(n), BLOCK>>>(g, N, inv, s->reach, s->gS, s->dB);
            CUDA3D_CHECK_LAUNCH();
        } else {
            dt_bwd_kornia_kernel<<<grid(n), BLOCK>>>(g, N, inv, s->B, s->reach, s->gS, s->dB);
            CUDA3D_CHECK_LAUNCH();
        }
    }
    if(s->p.binarize == DT_BIN_SIGMOID){
        sigmoid_bwd_kernel<<<grid(n), BLOCK>>>(n, s->p.tau, s->B, s->dB);
        CUDA3D_CHECK_LAUNCH();
    }
    if(s->resized && det){
        resize_adjoint_gather_kernel<<<grid((size_t)N * s->nfull), BLOCK>>>(s->dB, N, s->d, s->h, s->w, dprob, s->D, s->H, s->W, 1);
        CUDA3D_CHECK_LAUNCH();
    } else if(s->resized){
        resize_adjoint_kernel<<<grid(n), BLOCK>>>(s->dB, N, s->d, s->h, s->w, dprob, s->D, s->H, s->W);
        CUDA3D_CHECK_LAUNCH();
    } else axpy_gpu((int)n, 1, s->dB, 1, dprob, 1);
}

/* input=logits: P = sigmoid(z); and the chain through it, dz += dP * P * (1 - P) */
__global__ void dt_logits_kernel(size_t n, const float *z, float *P)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if(i < n) P[i] = sigmoid3d(z[i]);
}

__global__ void dt_logits_bwd_kernel(size_t n, const float *P, const float *dP, float *dz)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if(i < n) dz[i] += dP[i] * P[i] * (1 - P[i]);
}

extern "C" void forward_dtransform_layer_gpu(const layer l, network net)
{
    dtransform_state *s = (dtransform_state *)l.plugin_state;
    if(s->train_only && !net.train) return;
    size_t n = (size_t)l.batch * l.outputs;
    if(s->gpu){
        if(l.activation != LOGISTIC){ dtransform_forward_gpu(s, net.input_gpu, l.output_gpu); return; }
        dt_logits_kernel<<<grid(n), BLOCK>>>(n, net.input_gpu, l.x_gpu);
        CUDA3D_CHECK_LAUNCH();
        dtransform_forward_gpu(s, l.x_gpu, l.output_gpu);
        return;
    }
    /* state on the host (allocated before the GPU was chosen): run on the CPU */
    float *in = (float *)calloc(n ? n : 1, sizeof(float));
    if(!in) cuda3d_fatal("calloc of the host input", "out of host memory", __FILE__, __LINE__);
    layer3d_pull(net.input_gpu, in, n);
    network hn = net;
    hn.input = in;
    forward_dtransform_layer(l, hn);
    layer3d_push(l.output_gpu, l.output, n);
    free(in);
}

extern "C" void backward_dtransform_layer_gpu(const layer l, network net)
{
    if(!net.delta_gpu) return;
    dtransform_state *s = (dtransform_state *)l.plugin_state;
    size_t n = (size_t)l.batch * l.inputs;
    if(s->gpu){
        if(l.activation != LOGISTIC){ dtransform_backward_gpu(s, l.delta_gpu, net.delta_gpu); return; }
        fill_gpu((int)n, 0, l.x_norm_gpu, 1);
        dtransform_backward_gpu(s, l.delta_gpu, l.x_norm_gpu);
        dt_logits_bwd_kernel<<<grid(n), BLOCK>>>(n, l.x_gpu, l.x_norm_gpu, net.delta_gpu);
        CUDA3D_CHECK_LAUNCH();
        return;
    }
    float *d = (float *)calloc(n ? n : 1, sizeof(float));
    if(!d) cuda3d_fatal("calloc of the host delta", "out of host memory", __FILE__, __LINE__);
    layer3d_pull(l.delta_gpu, l.delta, n);
    layer3d_pull(net.delta_gpu, d, n);
    network hn = net;
    hn.delta = d;
    backward_dtransform_layer(l, hn);
    layer3d_push(net.delta_gpu, d, n);
    free(d);
}
