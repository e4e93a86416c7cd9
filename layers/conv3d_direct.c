/* Direct AVX-512 loops for thin stride-1 [conv3d] layers: forward, data gradient and weight gradient over zero-padded copies of the volumes, 8 output channels x 48 voxels in registers. */
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>
#include "conv3d_direct.h"
#include "conv3d_common.h"
#include "cpu_isa.h"

int conv3d_direct_enabled = 1;

#define OB 8      /* output channels per register block */
#define VL 16     /* floats per vector */

int conv3d_direct_applies(layer l)
{
    if(!conv3d_direct_enabled || !l.plugin_state || cpu_isa_level() < CPU_ISA_AVX512) return 0;
    const conv3d_state *st = c3_state(l);
    const geom3d *g = &st->g;
    if(st->transposed || l.out_c > CONV3D_DIRECT_OC || l.c > CONV3D_DIRECT_C) return 0;
    if(g->sd != 1 || g->sh != 1 || g->sw != 1) return 0;
    if(g->kd > 3 || g->kh > 3 || g->kw > 3) return 0;
    if(g->pd > g->kd - 1 || g->ph > g->kh - 1 || g->pw > g->kw - 1) return 0;
    if(g->kd * g->kh * g->kw == 1) return 0;          /* pointwise: its own loops or a GEMM */
    return g->ow >= VL && g->w >= VL;
}

static size_t round_vl(size_t n) { return (n + VL - 1) / VL * VL; }

/* One correlation's padded image: c x Dp x Hp x Wp, image voxel (z, y, x) at (z + oz, y + oy, x + ox), zeros
 * elsewhere. Wp covers every vector load of the loops below. */
typedef struct { int c, Dp, Hp, Wp, oz, oy, ox; } padded;

static size_t padded_floats(const padded *p) { return (size_t)p->c * p->Dp * p->Hp * p->Wp; }

static void pad_volume(const float *src, int c, int d, int h, int w, const padded *p, float *dst)
{
    long r;
    #pragma omp parallel for schedule(static)
    for(r = 0; r < (long)c * p->Dp; ++r){
        int ch = (int)(r / p->Dp), zp = (int)(r % p->Dp), z = zp - p->oz, y;
        float *row = dst + (size_t)r * p->Hp * p->Wp;
        memset(row, 0, (size_t)p->Hp * p->Wp * sizeof(float));
        if(z < 0 || z >= d) continue;
        for(y = 0; y < h; ++y)
            memcpy(row + (size_t)(y + p->oy) * p->Wp + p->ox, src + (((size_t)ch * d + z) * h + y) * w, (size_t)w * sizeof(float));
    }
}

/* Register blocks: NX vectors of VL voxels along w, OB output channels. */
#define LOOP_NX(body) { if(NX > 0){ const int j = 0; body } if(NX > 1){ const int j = 1; body } if(NX > 2){ const int j = 2; body } }

/* out[o][y][x0 + 0..NX*VL) (o < nob; lanes from x0 up to ow) = or += sum over ci, taps of wb[ci][tap][o] times the
 * padded image at (ci, z + a, y + b, x0 + e + lane) */
static inline __attribute__((always_inline, target("avx512f")))
void corr_block(const float *P, const padded *p, int ci_n, int kd, int kh, int kw, const float *wb, int z, int y, int x0,
                int NX, int ow, float *out, size_t ostride, size_t orow, int nob, int accumulate)
{
    __m512 acc[OB][3];
    int o, ci, a, b, e;
    for(o = 0; o < OB; ++o) LOOP_NX(acc[o][j] = _mm512_setzero_ps();)
    for(ci = 0; ci < ci_n; ++ci)
        for(a = 0; a < kd; ++a)
            for(b = 0; b < kh; ++b){
                const float *row = P + (((size_t)ci * p->Dp + z + a) * p->Hp + y + b) * p->Wp + x0;
                const float *w = wb + (((size_t)ci * kd + a) * kh + b) * kw * OB;
                for(e = 0; e < kw; ++e){
                    __m512 v[3];
                    LOOP_NX(v[j] = _mm512_loadu_ps(row + e + j * VL);)
                    for(o = 0; o < OB; ++o){
                        __m512 wv = _mm512_set1_ps(w[e * OB + o]);
                        LOOP_NX(acc[o][j] = _mm512_fmadd_ps(wv, v[j], acc[o][j]);)
                    }
                }
            }
    for(o = 0; o < nob; ++o){
        float *dst = out + (size_t)o * ostride + orow + x0;
        int j;
        for(j = 0; j < NX; ++j){
            int left = ow - x0 - j * VL;
            __mmask16 m = left >= VL ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
            __m512 r = acc[o][j];
            if(accumulate) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, dst + j * VL));
            _mm512_mask_storeu_ps(dst + j * VL, m, r);
        }
    }
}

/* One output depth slice z of one channel block: every row y, in register blocks of up to 3 vectors. */
__attribute__((target("avx512f")))
static void corr_slice(const float *P, const padded *p, int ci_n, int kd, int kh, int kw, const float *wb, int z,
                       int oh, int ow, float *out, size_t ostride, int nob, int accumulate)
{
    int y, x0;
    for(y = 0; y < oh; ++y){
        size_t orow = ((size_t)z * oh + y) * ow;
        for(x0 = 0; x0 < ow; x0 += 3 * VL){
            int nx = (ow - x0 + VL - 1) / VL;
            if(nx >= 3) corr_block(P, p, ci_n, kd, kh, kw, wb, z, y, x0, 3, ow, out, ostride, orow, nob, accumulate);
            else if(nx == 2) corr_block(P, p, ci_n, kd, kh, kw, wb, z, y, x0, 2, ow, out, ostride, orow, nob, accumulate);
            else corr_block(P, p, ci_n, kd, kh, kw, wb, z, y, x0, 1, ow, out, ostride, orow, nob, accumulate);
        }
    }
}

/* out (nblk*OB >= n_out channels of od x oh x ow) = or += the correlation of the padded image with wb
 * ([blk][ci][tap][OB], zeros for missing channels) */
static void correlate(const float *P, const padded *p, int ci_n, int kd, int kh, int kw, const float *wb, int n_out,
                      int od, int oh, int ow, float *out, int accumulate)
{
    const int nblk = (n_out + OB - 1) / OB;
    const size_t ostride = (size_t)od * oh * ow, wblk = (size_t)ci_n * kd * kh * kw * OB;
    long t;
    #pragma omp parallel for schedule(static)
    for(t = 0; t < (long)nblk * od; ++t){
        int blk = (int)(t / od), z = (int)(t % od), nob = n_out - blk * OB < OB ? n_out - blk * OB : OB;
        corr_slice(P, p, ci_n, kd, kh, kw, wb + blk * wblk, z, oh, ow, out + (size_t)blk * OB * ostride, ostride, nob, accumulate);
    }
}

/* wb[blk][c][tap][o] = w[blk*OB + o][c][tap] (flip = 0) or, for the data gradient (the correlation of dY with the
 * flipped, transposed kernel), wb[blk][o][tap][c] = w[o][blk*OB + c][k3 - 1 - tap]; zeros for missing channels */
static float *block_weights(const float *w, int oc, int c, int k3, int flip)
{
    const int n_out = flip ? c : oc, n_in = flip ? oc : c, nblk = (n_out + OB - 1) / OB;
    float *wb = calloc((size_t)nblk * n_in * k3 * OB, sizeof(float));
    if(!wb) return 0;
    int q, i, t;
    for(q = 0; q < n_out; ++q)
        for(i = 0; i < n_in; ++i)
            for(t = 0; t < k3; ++t){
                float v = flip ? w[((size_t)i * c + q) * k3 + (k3 - 1 - t)] : w[((size_t)q * c + i) * k3 + t];
                wb[((((size_t)(q / OB) * n_in + i) * k3) + t) * OB + q % OB] = v;
            }
    return wb;
}

static padded fwd_padding(const geom3d *g)
{
    padded p = {g->c, g->od + g->kd - 1, g->oh + g->kh - 1, (int)round_vl(g->ow) + g->kw - 1, g->pd, g->ph, g->pw};
    return p;
}

int conv3d_direct_forward(layer l, network net)
{
    const geom3d *g = &c3_state(l)->g;
    const int k3 = g->kd * g->kh * g->kw;
    padded p = fwd_padding(g);
    int b;
    float *wb = block_weights(l.weights, l.out_c, l.c, k3, 0);
    float *P = malloc(padded_floats(&p) * sizeof(float));
    if(!wb || !P){ free(wb); free(P); return -1; }
    for(b = 0; b < l.batch; ++b){
        pad_volume(net.input + (size_t)b * l.inputs, g->c, g->d, g->h, g->w, &p, P);
        correlate(P, &p, l.c, g->kd, g->kh, g->kw, wb, l.out_c, g->od, g->oh, g->ow, l.output + (size_t)b * l.outputs, 0);
    }
    free(wb);
    free(P);
    return 0;
}

/* acc[o][e] (o < OB, e < KW) += sum over the rows of output slice z and their voxels of dY[o] times the padded x
 * shifted by e: one (channel, a, b) task of the weight gradient. dY's rows are read from its own padded copy, whose
 * lanes past ow are zeros. KW is a compile-time constant at each call, so the 24 accumulators, the KW shifted x
 * vectors and one dY vector stay in registers. */
static inline __attribute__((always_inline, target("avx512f")))
void wgrad_rows(const float *X, const padded *px, const float *DY, const padded *pd, int blk, int ci, int a, int b,
                const int KW, int z, int oh, int ow, __m512 acc[OB][3])
{
    const size_t dstride = (size_t)pd->Dp * pd->Hp * pd->Wp;
    int o, e, y, x0;
    for(y = 0; y < oh; ++y){
        const float *xr = X + (((size_t)ci * px->Dp + z + a) * px->Hp + y + b) * px->Wp;
        const float *dr = DY + (((size_t)blk * OB * pd->Dp + z + pd->oz) * pd->Hp + y + pd->oy) * pd->Wp + pd->ox;
        for(x0 = 0; x0 < ow; x0 += VL){
            __m512 xv[3];
            for(e = 0; e < KW; ++e) xv[e] = _mm512_loadu_ps(xr + x0 + e);
            for(o = 0; o < OB; ++o){
                __m512 dy = _mm512_loadu_ps(dr + o * dstride + x0);
                __asm__("" : "+v"(dy));   /* one load of dY[o], not one per FMA */
                for(e = 0; e < KW; ++e) acc[o][e] = _mm512_fmadd_ps(dy, xv[e], acc[o][e]);
            }
        }
    }
}

/* One weight-gradient task over output slice z, accumulated into accmem ([OB][3] vectors). Every task runs over one
 * slice before the next slice, so the slice's dY stays in cache. */
__attribute__((target("avx512f")))
static void wgrad_task(const float *X, const padded *px, const float *DY, const padded *pd, int blk, int ci, int a, int b,
                       int kw, int z, int oh, int ow, float *accmem)
{
    __m512 acc[OB][3];
    int o, e;
    for(o = 0; o < OB; ++o) for(e = 0; e < 3; ++e) acc[o][e] = _mm512_loadu_ps(accmem + (o * 3 + e) * VL);
    if(kw == 3) wgrad_rows(X, px, DY, pd, blk, ci, a, b, 3, z, oh, ow, acc);
    else if(kw == 2) wgrad_rows(X, px, DY, pd, blk, ci, a, b, 2, z, oh, ow, acc);
    else wgrad_rows(X, px, DY, pd, blk, ci, a, b, 1, z, oh, ow, acc);
    for(o = 0; o < OB; ++o) for(e = 0; e < 3; ++e) _mm512_storeu_ps(accmem + (o * 3 + e) * VL, acc[o][e]);
}

/* weight-gradient task t: output block blk, input channel ci, kernel row ab = a * kh + b */
typedef struct { int blk, ci, ab; } wtask;

static wtask wtask_of(long t, const geom3d *g, int c)
{
    const long rows = (long)g->kd * g->kh;
    wtask w = {(int)(t / (rows * c)), (int)(t / rows % c), (int)(t % rows)};
    return w;
}

__attribute__((target("avx512f")))
static float lane_sum(const float *v) { return _mm512_reduce_add_ps(_mm512_loadu_ps(v)); }

int conv3d_direct_backward(layer l, network net)
{
    const geom3d *g = &c3_state(l)->g;
    const int k3 = g->kd * g->kh * g->kw, nblk_o = (l.out_c + OB - 1) / OB;
    padded px = fwd_padding(g);
    /* dY padded for the data gradient (pad k-1-p, positions = the input's voxels), with room for the weight
     * gradient's reads of whole vectors past ow */
    padded pd = {nblk_o * OB, g->d + g->kd - 1, g->h + g->kh - 1, 0, g->kd - 1 - g->pd, g->kh - 1 - g->ph, g->kw - 1 - g->pw};
    int wa = (int)round_vl(g->w) + g->kw - 1, wb_ = pd.ox + (int)round_vl(g->ow);
    pd.Wp = wa > wb_ ? wa : wb_;
    const long ntask = (long)nblk_o * l.c * g->kd * g->kh;
    int s;
    float *wx = net.delta ? block_weights(l.weights, l.out_c, l.c, k3, 1) : 0;
    float *X = malloc(padded_floats(&px) * sizeof(float));
    float *DY = calloc(padded_floats(&pd), sizeof(float));
    float *acc = calloc((size_t)ntask * OB * 3 * VL, sizeof(float));
    if((net.delta && !wx) || !X || !DY || !acc){ free(wx); free(X); free(DY); free(acc); return -1; }
    for(s = 0; s < l.batch; ++s){
        pad_volume(net.input + (size_t)s * l.inputs, g->c, g->d, g->h, g->w, &px, X);
        pad_volume(l.delta + (size_t)s * l.outputs, l.out_c, g->od, g->oh, g->ow, &pd, DY);
        int z;
        for(z = 0; z < g->od; ++z){
            long t;
            #pragma omp parallel for schedule(static)
            for(t = 0; t < ntask; ++t){
                wtask k = wtask_of(t, g, l.c);
                wgrad_task(X, &px, DY, &pd, k.blk, k.ci, k.ab / g->kh, k.ab % g->kh, g->kw, z, g->oh, g->ow, acc + (size_t)t * OB * 3 * VL);
            }
        }
        if(net.delta)
            correlate(DY, &pd, l.out_c, g->kd, g->kh, g->kw, wx, l.c, g->d, g->h, g->w, net.delta + (size_t)s * l.inputs, 1);
    }
    long t;
    for(t = 0; t < ntask; ++t){
        wtask k = wtask_of(t, g, l.c);
        int o, e;
        for(o = 0; o < OB && k.blk * OB + o < l.out_c; ++o)
            for(e = 0; e < g->kw; ++e)
                l.weight_updates[((size_t)(k.blk * OB + o) * l.c + k.ci) * k3 + k.ab * g->kw + e] += lane_sum(acc + ((size_t)t * OB * 3 + o * 3 + e) * VL);
    }
    free(wx); free(X); free(DY); free(acc);
    return 0;
}
