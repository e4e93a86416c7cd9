/* Winograd F(2x2x2, 3x3x3) loops for stride-1, padding-1 3x3x3 [conv3d] layers on AVX2 CPUs: 4x4x4 input tiles and kernels transformed, 64 small matrix products over blocks of tile rows with 8 tiles of a row in the lanes of a vector, the products transformed back into 2x2x2 outputs (forward, data gradient) or into 3x3x3 weight gradients. */
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include <immintrin.h>
#include "conv3d_winograd.h"
#include "conv3d_common.h"
#include "cpu_isa.h"

int conv3d_winograd_mode = 1;

#define VL 8              /* floats per vector */
#define NF 64             /* transformed taps of a 4x4x4 tile: f = (a * 4 + b) * 4 + e over z, y, x */
#define FWD_BLOCK 1024    /* (c + oc) x tiles per block of the forward pass and data gradient: 256 KB of transforms */
#define FWD_TILES 32      /* and at least this many tiles (64 -> 64 at 8x16x16 has 8 tiles a row) */
#define WGRAD_BLOCK 4096  /* the same for the weight gradient, */
#define WGRAD_TILES 128   /* at least this many: each block adds into all of its group's sums */
#define FWD_CC 4096       /* most out_c x c of the forward pass */
#define BWD_CC 2048       /* most out_c x c of the backward pass */
#define WG_GROUPS 8       /* fixed groups of the weight gradient's blocks, each with its own sums */
#define F_PAD 16          /* floats between the transforms of consecutive f: their rows would otherwise share L1 sets */
#define AVX2 __attribute__((target("avx2,fma")))

/* the rule both passes share: the CPU and mode, a [conv3d] of 3x3x3 kernels, stride 1, padding 1, rows of two vectors */
static int shape_rule(layer l)
{
    if(!l.plugin_state || !cpu_isa_avx2_mode(conv3d_winograd_mode)) return 0;
    const conv3d_state *st = c3_state(l);
    const geom3d *g = &st->g;
    if(st->transposed || g->kd != 3 || g->kh != 3 || g->kw != 3) return 0;
    if(g->sd != 1 || g->sh != 1 || g->sw != 1 || g->pd != 1 || g->ph != 1 || g->pw != 1) return 0;
    return g->w >= 2 * VL;
}

int conv3d_winograd_forward_applies(layer l) { return shape_rule(l) && l.c >= 8 && (long)l.out_c * l.c <= FWD_CC; }
int conv3d_winograd_backward_applies(layer l) { return shape_rule(l) && (long)l.out_c * l.c <= BWD_CC; }

/* The tiling of one correlation: an image of c channels, d x h x w voxels, oc output channels of the same size in
 * tiles of 2x2x2; a tile row is the tx tiles along w at one (tile z, tile y), txp = tx rounded up to VL; a block is
 * `rows` consecutive tile rows of the nrows (tile row r: tile z r / ty, tile y r % ty), NT = rows * txp tiles. */
typedef struct { int c, oc, d, h, w, ty, txp, L, rows, nrows; size_t NT, fsc, fso; } wtile;

static wtile wtile_of(int c, int oc, int d, int h, int w, int budget, int min_tiles)
{
    wtile t;
    int tx = (w + 1) / 2, r;
    t.c = c; t.oc = oc; t.d = d; t.h = h; t.w = w;
    t.ty = (h + 1) / 2;
    t.txp = (tx + VL - 1) / VL * VL;
    t.L = 2 * t.txp + 2;
    t.nrows = (d + 1) / 2 * t.ty;
    r = budget / ((c + oc) * t.txp);
    if(r * t.txp < min_tiles) r = (min_tiles + t.txp - 1) / t.txp;
    t.rows = r < 1 ? 1 : r > t.nrows ? t.nrows : r;
    t.NT = (size_t)t.rows * t.txp;
    t.fsc = (size_t)c * t.NT + F_PAD;
    t.fso = (size_t)oc * t.NT + F_PAD;
    return t;
}

/* floats of one thread's scratch: the block's transformed tiles (64 x c x NT) and products (64 x oc x NT), and rows */
static size_t scratch_floats(const wtile *t) { return NF * (t->fsc + t->fso) + 17 * (size_t)t->L; }

#define R restrict

/* Tiles in the lanes: a vector of 8 tiles k0 .. k0 + 7 of a row holds them in the order k0 + {0, 1, 4, 5, 2, 3, 6, 7}
 * (the order AVX2's in-lane shuffles give). The products are per tile, so only the transforms see it: evens/odds
 * read it, at_x writes it back in voxel order. */

/* entries 2k and 2k + 1 of the 16 floats at p, for the 8 tiles k in lane order */
static inline __attribute__((always_inline)) AVX2 __m256 evens(const float *p)
{
    return _mm256_shuffle_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(p + VL), 0x88);
}
static inline __attribute__((always_inline)) AVX2 __m256 odds(const float *p)
{
    return _mm256_shuffle_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(p + VL), 0xdd);
}

/* B^T along x of a padded row r (entry x + 1 = voxel x): tile k of v0 .. v3 from r[2k .. 2k + 3], txp tiles */
static AVX2 void bt_x(const float *r, float *R v0, float *R v1, float *R v2, float *R v3, int txp)
{
    int k;
    for(k = 0; k < txp; k += VL){
        const __m256 e0 = evens(r + 2 * k), o0 = odds(r + 2 * k), e1 = evens(r + 2 * k + 2), o1 = odds(r + 2 * k + 2);
        _mm256_storeu_ps(v0 + k, _mm256_sub_ps(e0, e1));
        _mm256_storeu_ps(v1 + k, _mm256_add_ps(o0, e1));
        _mm256_storeu_ps(v2 + k, _mm256_sub_ps(e1, o0));
        _mm256_storeu_ps(v3 + k, _mm256_sub_ps(o0, o1));
    }
}

/* B^T along z and y of the 4x4 rows src[a][b] (w voxels each) into p[a'][b'][1 + x], 8 voxels at a time in registers */
static AVX2 void zy_rows(const float *src[4][4], float *p, int L, int w)
{
    static const int Z0[4] = {0, 1, 2, 1}, Z1[4] = {2, 2, 1, 3};   /* B^T row a' = row Z0 -/+ row Z1: -, +, -, - */
    int x, a, b;
    for(x = 0; x + VL <= w; x += VL)
        for(a = 0; a < 4; ++a){
            __m256 z[4];
            for(b = 0; b < 4; ++b){
                const __m256 u = _mm256_loadu_ps(src[Z0[a]][b] + x), v = _mm256_loadu_ps(src[Z1[a]][b] + x);
                z[b] = a == 1 ? _mm256_add_ps(u, v) : _mm256_sub_ps(u, v);
            }
            float *o = p + (size_t)a * 4 * L + 1 + x;
            _mm256_storeu_ps(o, _mm256_sub_ps(z[0], z[2]));
            _mm256_storeu_ps(o + L, _mm256_add_ps(z[1], z[2]));
            _mm256_storeu_ps(o + 2 * L, _mm256_sub_ps(z[2], z[1]));
            _mm256_storeu_ps(o + 3 * L, _mm256_sub_ps(z[1], z[3]));
        }
    for(; x < w; ++x)
        for(a = 0; a < 4; ++a){
            float z[4];
            for(b = 0; b < 4; ++b){ float u = src[Z0[a]][b][x], v = src[Z1[a]][b][x]; z[b] = a == 1 ? u + v : u - v; }
            float *o = p + (size_t)a * 4 * L + 1 + x;
            o[0] = z[0] - z[2]; o[L] = z[1] + z[2]; o[2 * L] = z[2] - z[1]; o[3 * L] = z[1] - z[3];
        }
}

/* V[f][ch][n] for image x (t->c channels) over tile rows r0 .. r0 + nr: B^T d B of every 4x4x4 input tile (tile k of
 * block row rr at n = rr * txp + k; its input voxels from (2 tz - 1, 2 ty - 1, 2 k - 1), zeros outside the image).
 * s: 17 L floats. */
static AVX2 void input_block(const float *x, const wtile *t, int r0, int nr, float *V, float *s)
{
    const int L = t->L, txp = t->txp, w = t->w;
    float *p = s, *zero = s + 16 * L;
    int ch, rr, a, b;
    memset(s, 0, 17 * (size_t)L * sizeof(float));   /* the row pads (entries 0 and w + 1 ..) stay zero */
    for(ch = 0; ch < t->c; ++ch)
        for(rr = 0; rr < nr; ++rr){
            const int tz = (r0 + rr) / t->ty, ty = (r0 + rr) % t->ty;
            const float *src[4][4];
            for(a = 0; a < 4; ++a)
                for(b = 0; b < 4; ++b){
                    const int z = 2 * tz - 1 + a, y = 2 * ty - 1 + b;
                    src[a][b] = z < 0 || z >= t->d || y < 0 || y >= t->h ? zero : x + (((size_t)ch * t->d + z) * t->h + y) * w;
                }
            zy_rows(src, p, L, w);
            for(a = 0; a < 16; ++a){    /* along x */
                float *v = V + (size_t)a * 4 * t->fsc + (size_t)ch * t->NT + (size_t)rr * txp;
                const size_t fs = t->fsc;
                bt_x(p + a * L, v, v + fs, v + 2 * fs, v + 3 * fs, txp);
            }
        }
}

/* dst[0 .. n) = or += (accumulate) the first n of the 16 voxels lo, hi */
static inline __attribute__((always_inline)) AVX2 void put16(float *dst, __m256 lo, __m256 hi, int n, int accumulate)
{
    if(n >= 2 * VL){
        if(accumulate){ lo = _mm256_add_ps(lo, _mm256_loadu_ps(dst)); hi = _mm256_add_ps(hi, _mm256_loadu_ps(dst + VL)); }
        _mm256_storeu_ps(dst, lo);
        _mm256_storeu_ps(dst + VL, hi);
        return;
    }
    float t[2 * VL];
    int k;
    _mm256_storeu_ps(t, lo);
    _mm256_storeu_ps(t + VL, hi);
    if(accumulate) for(k = 0; k < n; ++k) dst[k] += t[k];
    else for(k = 0; k < n; ++k) dst[k] = t[k];
}

/* One group of 8 tiles (lane order) of one output channel: A^T m A from m[f * fs] in registers, voxels x 2 k0 ..
 * 2 k0 + 16 of output rows dst[i][j] (i, j: z, y within the tiles; NULL outside the image), n of them inside it. */
static inline __attribute__((always_inline)) AVX2
void output_group(const float *m, size_t fs, float *dst[2][2], int n, int accumulate)
{
    int i, j, b, e;
    for(i = 0; i < 2; ++i){
        if(!dst[i][0] && !dst[i][1]) continue;
        __m256 y[2][4];
        for(e = 0; e < 4; ++e){
            __m256 z[4];
            for(b = 0; b < 4; ++b){     /* along z */
                const float *p = m + (size_t)(b * 4 + e) * fs;
                const __m256 m1 = _mm256_loadu_ps(p + 16 * fs), m2 = _mm256_loadu_ps(p + 32 * fs);
                z[b] = i == 0 ? _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(p), m1), m2)
                              : _mm256_sub_ps(_mm256_sub_ps(m1, m2), _mm256_loadu_ps(p + 48 * fs));
            }
            y[0][e] = _mm256_add_ps(_mm256_add_ps(z[0], z[1]), z[2]);   /* along y */
            y[1][e] = _mm256_sub_ps(_mm256_sub_ps(z[1], z[2]), z[3]);
        }
        for(j = 0; j < 2; ++j){         /* along x, into voxel order */
            if(!dst[i][j]) continue;
            const __m256 s0 = _mm256_add_ps(_mm256_add_ps(y[j][0], y[j][1]), y[j][2]);
            const __m256 s1 = _mm256_sub_ps(_mm256_sub_ps(y[j][1], y[j][2]), y[j][3]);
            put16(dst[i][j], _mm256_unpacklo_ps(s0, s1), _mm256_unpackhi_ps(s0, s1), n, accumulate);
        }
    }
}

/* y (or y +=, accumulate) for output channels of the tile rows r0 .. r0 + nr from the products M[f][o][n]: A^T m A of
 * each tile, its 2x2x2 voxels inside the image kept. */
static AVX2 void output_block(const float *M, const wtile *t, int r0, int nr, float *y, int accumulate)
{
    int o, rr, i, j, k;
    for(o = 0; o < t->oc; ++o)
        for(rr = 0; rr < nr; ++rr){
            const int tz = (r0 + rr) / t->ty, ty = (r0 + rr) % t->ty;
            const float *m = M + (size_t)o * t->NT + (size_t)rr * t->txp;
            float *row[2][2], *dst[2][2];
            for(i = 0; i < 2; ++i)
                for(j = 0; j < 2; ++j)
                    row[i][j] = 2 * tz + i < t->d && 2 * ty + j < t->h ? y + (((size_t)o * t->d + 2 * tz + i) * t->h + 2 * ty + j) * t->w : 0;
            for(k = 0; 2 * k < t->w; k += VL){
                if(k % (2 * VL) == 0 && k + 2 * VL < t->txp)   /* 64 streams: more than the hardware prefetchers follow */
                    for(i = 0; i < NF; ++i) _mm_prefetch((const char *)(m + i * t->fso + k + 2 * VL), _MM_HINT_T0);
                for(i = 0; i < 4; ++i) dst[i / 2][i % 2] = row[i / 2][i % 2] ? row[i / 2][i % 2] + 2 * k : 0;
                output_group(m + k, t->fso, dst, t->w - 2 * k, accumulate);
            }
        }
}

/* m[r][0 .. 8 NV) = sum over c < C of u[r * C + c] v[c * ldv + 0 .. 8 NV), r < MR: MR x NV vectors in registers */
static inline __attribute__((always_inline)) AVX2
void mm_tile(const float *u, int C, const float *v, size_t ldv, float *m, size_t ldm, const int MR, const int NV)
{
    __m256 acc[6][2];
    int r, c;
    for(r = 0; r < MR; ++r){ acc[r][0] = _mm256_setzero_ps(); acc[r][1] = _mm256_setzero_ps(); }
    for(c = 0; c < C; ++c){
        const __m256 v0 = _mm256_loadu_ps(v + (size_t)c * ldv), v1 = NV > 1 ? _mm256_loadu_ps(v + (size_t)c * ldv + VL) : v0;
        for(r = 0; r < MR; ++r){
            const __m256 w = _mm256_broadcast_ss(u + (size_t)r * C + c);
            acc[r][0] = _mm256_fmadd_ps(w, v0, acc[r][0]);
            if(NV > 1) acc[r][1] = _mm256_fmadd_ps(w, v1, acc[r][1]);
        }
    }
    for(r = 0; r < MR; ++r){
        _mm256_storeu_ps(m + (size_t)r * ldm, acc[r][0]);
        if(NV > 1) _mm256_storeu_ps(m + (size_t)r * ldm + VL, acc[r][1]);
    }
}

static inline __attribute__((always_inline)) AVX2
void mm_rows(const float *u, int C, const float *v, size_t ldv, float *m, size_t ldm, size_t n, const int MR)
{
    size_t j;
    for(j = 0; j + 2 * VL <= n; j += 2 * VL) mm_tile(u, C, v + j, ldv, m + j, ldm, MR, 2);
    if(j < n) mm_tile(u, C, v + j, ldv, m + j, ldm, MR, 1);
}

/* M[o][0 .. n) = U (OC x C) V (C x n), n a multiple of VL, rows of V and M ldv / ldm apart */
static AVX2 void mm(const float *U, int OC, int C, const float *V, size_t ldv, float *M, size_t ldm, size_t n)
{
    int o = 0;
    for(; o + 6 <= OC; o += 6) mm_rows(U + (size_t)o * C, C, V, ldv, M + o * ldm, ldm, n, 6);
    if(o + 4 <= OC){ mm_rows(U + (size_t)o * C, C, V, ldv, M + o * ldm, ldm, n, 4); o += 4; }
    if(o + 2 <= OC){ mm_rows(U + (size_t)o * C, C, V, ldv, M + o * ldm, ldm, n, 2); o += 2; }
    if(o < OC) mm_rows(U + (size_t)o * C, C, V, ldv, M + o * ldm, ldm, n, 1);
}

static const float G[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};

/* U[f][o][c] = (G g G^T)[f] over the three axes for the correlation with oc output and c input channels. Forward (flip
 * 0): g = w[o][c] (w: oc x c x 27). Data gradient (flip 1): the correlation of dY with the flipped, channel-transposed
 * kernel, g = w[c][o] reversed (w: c x oc x 27, the layer's [out_c][in_c] weights). */
static void kernel_transform(const float *w, int oc, int c, int flip, float *U)
{
    long oi;
    #pragma omp parallel for schedule(static)
    for(oi = 0; oi < (long)oc * c; ++oi){
        const int o = (int)(oi / c), i = (int)(oi % c);
        const float *src = flip ? w + ((size_t)i * oc + o) * 27 : w + ((size_t)o * c + i) * 27;
        float g[27], t1[4][3][3], t2[4][4][3];
        int a, b, e, k;
        for(k = 0; k < 27; ++k) g[k] = flip ? src[26 - k] : src[k];
        for(a = 0; a < 4; ++a) for(b = 0; b < 3; ++b) for(e = 0; e < 3; ++e)
            t1[a][b][e] = G[a][0] * g[b * 3 + e] + G[a][1] * g[9 + b * 3 + e] + G[a][2] * g[18 + b * 3 + e];
        for(a = 0; a < 4; ++a) for(b = 0; b < 4; ++b) for(e = 0; e < 3; ++e)
            t2[a][b][e] = G[b][0] * t1[a][0][e] + G[b][1] * t1[a][1][e] + G[b][2] * t1[a][2][e];
        for(a = 0; a < 4; ++a) for(b = 0; b < 4; ++b) for(e = 0; e < 4; ++e)
            U[((size_t)((a * 4 + b) * 4 + e) * oc + o) * c + i] = G[e][0] * t2[a][b][0] + G[e][1] * t2[a][b][1] + G[e][2] * t2[a][b][2];
    }
}

/* out (+)= the correlation of image in (t->c channels) with the kernels U, for each of batch samples: blocks of tile
 * rows as tasks, each transformed, multiplied and transformed back by one thread (disjoint outputs). */
static void correlate(const float *in, size_t in_stride, const float *U, const wtile *t, int batch, float *out,
                      size_t out_stride, int accumulate, float *work, int T)
{
    const size_t slot = scratch_floats(t);
    const long nb = (t->nrows + t->rows - 1) / t->rows, ntask = (long)batch * nb;
    long task;
    #pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for(task = 0; task < ntask; ++task){
        const int b = (int)(task / nb), r0 = (int)(task % nb) * t->rows, nr = r0 + t->rows <= t->nrows ? t->rows : t->nrows - r0;
        float *V = work + (size_t)omp_get_thread_num() * slot, *M = V + NF * t->fsc, *s = M + NF * t->fso;
        int f;
        input_block(in + (size_t)b * in_stride, t, r0, nr, V, s);
        for(f = 0; f < NF; ++f)
            mm(U + (size_t)f * t->oc * t->c, t->oc, t->c, V + f * t->fsc, t->NT, M + f * t->fso, t->NT,
               (size_t)nr * t->txp);
        output_block(M, t, r0, nr, out + (size_t)b * out_stride, accumulate);
    }
}

int conv3d_winograd_forward(layer l, network net)
{
    const geom3d *g = &c3_state(l)->g;
    const wtile t = wtile_of(l.c, l.out_c, g->d, g->h, g->w, FWD_BLOCK, FWD_TILES);
    const int T = omp_get_max_threads();
    float *U = malloc(((size_t)NF * l.out_c * l.c + (size_t)T * scratch_floats(&t)) * sizeof(float));
    if(!U) return -1;
    kernel_transform(l.weights, l.out_c, l.c, 0, U);
    correlate(net.input, (size_t)l.inputs, U, &t, l.batch, l.output, (size_t)l.outputs, 0, U + (size_t)NF * l.out_c * l.c, T);
    free(U);
    return 0;
}

/* A of two vectors, component a: r0, r0 + r1, r0 - r1, -r1 */
static inline __attribute__((always_inline)) AVX2 __m256 a_of(__m256 r0, __m256 r1, int a)
{
    return a == 0 ? r0 : a == 1 ? _mm256_add_ps(r0, r1) : a == 2 ? _mm256_sub_ps(r0, r1) : _mm256_sub_ps(_mm256_setzero_ps(), r1);
}

/* D[f][o][n] for output gradient dy (t->oc channels) over tile rows r0 .. r0 + nr: A dy A^T of every 2x2x2 tile of
 * dy, zeros outside it (the adjoint of output_block's transform), 8 tiles at a time in registers. s: 8 txp floats. */
static AVX2 void grad_block(const float *dy, const wtile *t, int r0, int nr, float *D, float *s)
{
    const int txp = t->txp;
    int o, rr, i, a, b, e, k;
    for(o = 0; o < t->oc; ++o)
        for(rr = 0; rr < nr; ++rr){
            const int tz = (r0 + rr) / t->ty, ty = (r0 + rr) % t->ty;
            for(i = 0; i < 4; ++i){     /* rows (z, y) = (2 tz + i / 2, 2 ty + i % 2), zero-padded to 2 txp */
                const int z = 2 * tz + i / 2, y = 2 * ty + i % 2;
                float *row = s + i * 2 * txp;
                memset(row, 0, 2 * (size_t)txp * sizeof(float));
                if(z < t->d && y < t->h) memcpy(row, dy + (((size_t)o * t->d + z) * t->h + y) * t->w, (size_t)t->w * sizeof(float));
            }
            float *d = D + (size_t)o * t->NT + (size_t)rr * txp;
            for(k = 0; k < txp; k += VL){
                __m256 ev[4], od[4];
                for(i = 0; i < 4; ++i){ ev[i] = evens(s + i * 2 * txp + 2 * k); od[i] = odds(s + i * 2 * txp + 2 * k); }
                for(e = 0; e < 4; ++e){
                    __m256 x[4];
                    for(i = 0; i < 4; ++i) x[i] = a_of(ev[i], od[i], e);                /* along x */
                    for(b = 0; b < 4; ++b){
                        const __m256 y0 = a_of(x[0], x[1], b), y1 = a_of(x[2], x[3], b);  /* along y */
                        for(a = 0; a < 4; ++a)                                          /* along z */
                            _mm256_storeu_ps(d + (size_t)((a * 4 + b) * 4 + e) * t->fso + k, a_of(y0, y1, a));
                    }
                }
            }
        }
}

/* acc[r][c][0 .. VL) += sum over vectors k < n of d[r * ld + k] v[c * ld + k], r < MR, c < NC (acc rows C * VL apart):
 * MR x NC vectors in registers, NC rows of v loaded once per step */
static inline __attribute__((always_inline)) AVX2
void wg_tile(const float *d, const float *v, size_t ld, size_t n, float *acc, int C, const int MR, const int NC)
{
    __m256 s[4][3];
    size_t k;
    int r, c;
    for(r = 0; r < MR; ++r) for(c = 0; c < NC; ++c) s[r][c] = _mm256_setzero_ps();
    for(k = 0; k < n; k += VL){
        __m256 vv[3];
        for(c = 0; c < NC; ++c) vv[c] = _mm256_loadu_ps(v + c * ld + k);
        for(r = 0; r < MR; ++r){
            const __m256 x = _mm256_loadu_ps(d + r * ld + k);
            for(c = 0; c < NC; ++c) s[r][c] = _mm256_fmadd_ps(x, vv[c], s[r][c]);
        }
    }
    for(r = 0; r < MR; ++r)
        for(c = 0; c < NC; ++c){
            float *p = acc + ((size_t)r * C + c) * VL;
            _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), s[r][c]));
        }
}

static inline __attribute__((always_inline)) AVX2
void wg_rows(const float *d, const float *V, size_t ld, size_t n, float *acc, int C, const int MR)
{
    int c = 0;
    for(; c + 3 <= C; c += 3) wg_tile(d, V + (size_t)c * ld, ld, n, acc + (size_t)c * VL, C, MR, 3);
    if(c + 2 <= C){ wg_tile(d, V + (size_t)c * ld, ld, n, acc + (size_t)c * VL, C, MR, 2); c += 2; }
    if(c < C) wg_tile(d, V + (size_t)c * ld, ld, n, acc + (size_t)c * VL, C, MR, 1);
}

/* P[o][c][0 .. VL) += the lane sums of D (OC x n) V^T (n x C), rows ld apart */
static AVX2 void wg(const float *D, int OC, const float *V, int C, size_t ld, size_t n, float *P)
{
    int o = 0;
    for(; o + 4 <= OC; o += 4) wg_rows(D + (size_t)o * ld, V, ld, n, P + (size_t)o * C * VL, C, 4);
    for(; o < OC; ++o) wg_rows(D + (size_t)o * ld, V, ld, n, P + (size_t)o * C * VL, C, 1);
}

/* weight_updates[o][c] += G^T dU[.][o][c] G over the three axes (dU: 64 x oc x c) */
static void weights_from(const float *dU, int oc, int c, float *dw)
{
    long oi;
    #pragma omp parallel for schedule(static)
    for(oi = 0; oi < (long)oc * c; ++oi){
        float t1[3][4][4], t2[3][3][4];
        int a, b, e, f;
        for(a = 0; a < 3; ++a) for(b = 0; b < 4; ++b) for(e = 0; e < 4; ++e){
            float s = 0;
            for(f = 0; f < 4; ++f) s += G[f][a] * dU[((size_t)((f * 4 + b) * 4 + e)) * oc * c + oi];
            t1[a][b][e] = s;
        }
        for(a = 0; a < 3; ++a) for(b = 0; b < 3; ++b) for(e = 0; e < 4; ++e)
            t2[a][b][e] = G[0][b] * t1[a][0][e] + G[1][b] * t1[a][1][e] + G[2][b] * t1[a][2][e] + G[3][b] * t1[a][3][e];
        for(a = 0; a < 3; ++a) for(b = 0; b < 3; ++b) for(e = 0; e < 3; ++e)
            dw[(size_t)oi * 27 + (a * 3 + b) * 3 + e] += G[0][e] * t2[a][b][0] + G[1][e] * t2[a][b][1] + G[2][e] * t2[a][b][2] + G[3][e] * t2[a][b][3];
    }
}

/* l.weight_updates += dW from net.input and l.delta. The blocks of tile rows fall into WG_GROUPS fixed groups, each
 * summing its blocks in order into its own lane sums; then the groups and lanes in order, so the result does not
 * depend on the thread count. -1 when short of memory (nothing changed). */
static int backward_weights(layer l, network net)
{
    const geom3d *g = &c3_state(l)->g;
    const wtile t = wtile_of(l.c, l.out_c, g->d, g->h, g->w, WGRAD_BLOCK, WGRAD_TILES);
    const int T = omp_get_max_threads();
    const long nb = (t.nrows + t.rows - 1) / t.rows, ntask = (long)l.batch * nb, G = ntask < WG_GROUPS ? ntask : WG_GROUPS;
    const size_t slot = scratch_floats(&t), nu = (size_t)NF * l.out_c * l.c;
    float *work = malloc(((size_t)T * slot + (size_t)G * nu * VL + nu) * sizeof(float));
    if(!work) return -1;
    float *P0 = work + (size_t)T * slot, *dU = P0 + (size_t)G * nu * VL;
    #pragma omp parallel num_threads(T)
    {
        float *V = work + (size_t)omp_get_thread_num() * slot, *D = V + NF * t.fsc, *s = D + NF * t.fso;
        long grp, i;
        #pragma omp for schedule(dynamic, 1)
        for(grp = 0; grp < G; ++grp){
            float *P = P0 + (size_t)grp * nu * VL;
            long task;
            memset(P, 0, nu * VL * sizeof(float));
            for(task = grp * ntask / G; task < (grp + 1) * ntask / G; ++task){
                const int b = (int)(task / nb), r0 = (int)(task % nb) * t.rows, nr = r0 + t.rows <= t.nrows ? t.rows : t.nrows - r0;
                int f;
                input_block(net.input + (size_t)b * l.inputs, &t, r0, nr, V, s);
                grad_block(l.delta + (size_t)b * l.outputs, &t, r0, nr, D, s);
                for(f = 0; f < NF; ++f)
                    wg(D + f * t.fso, t.oc, V + f * t.fsc, t.c, t.NT, (size_t)nr * t.txp, P + (size_t)f * t.oc * t.c * VL);
            }
        }
        #pragma omp for schedule(static)
        for(i = 0; i < (long)nu; ++i){
            float sum = 0;
            int k;
            for(grp = 0; grp < G; ++grp)
                for(k = 0; k < VL; ++k) sum += P0[((size_t)grp * nu + i) * VL + k];
            dU[i] = sum;
        }
    }
    weights_from(dU, l.out_c, l.c, l.weight_updates);
    free(work);
    return 0;
}

int conv3d_winograd_backward(layer l, network net)
{
    const geom3d *g = &c3_state(l)->g;
    const wtile t = wtile_of(l.out_c, l.c, g->d, g->h, g->w, FWD_BLOCK, FWD_TILES);
    const int T = omp_get_max_threads();
    float *U = 0;
    if(net.delta && !(U = malloc(((size_t)NF * l.out_c * l.c + (size_t)T * scratch_floats(&t)) * sizeof(float)))) return -1;
    if(backward_weights(l, net)){ free(U); return -1; }
    if(net.delta){
        kernel_transform(l.weights, l.c, l.out_c, 1, U);
        correlate(l.delta, (size_t)l.outputs, U, &t, l.batch, net.delta, (size_t)l.inputs, 1, U + (size_t)NF * l.out_c * l.c, T);
    }
    free(U);
    return 0;
}
