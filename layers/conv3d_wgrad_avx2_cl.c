/* The AVX2 weight gradient of stride-1 [conv3d] layers with short rows as an outer-product kernel: output channels in the vector lanes, (input channel, tap) columns broadcast, over channels-last copies of the input and the output gradient. */
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>
#include <omp.h>
#include "conv3d_wgrad_avx2.h"
#include "conv3d_common.h"

#define VL 8                      /* floats per vector */
/* voxels per chunk of rows: a task's output-gradient vectors of a chunk (64 bytes a voxel) stay in L1 while it runs
 * its columns, and the per-chunk cost (12 accumulators loaded and stored) is about 1 % */
#define CHUNK_VOXELS 384

size_t conv3d_wgrad_avx2_group_floats = (size_t)8 << 20;

/* The shapes of one call. A task is a tile of mr vectors of output channels by nc columns, a column being one
 * (input channel, tap) of the weights, taken tap by tap (column q = tap * c + ic), so that a task's broadcasts read
 * neighbouring floats of X; l.weight_updates holds it at dW[oc][ic * k3 + tap].
 * X: the input of nb samples, channels last and zero-padded: nb x Dp x Hp x Wp x c, image voxel (z, y, x) at
 * (z + pd, y + ph, x + pw). DY: the output gradient of nb samples, channels last: nb x od x oh x ow x ocp, zeros
 * past out_c. A row is one (sample, z, y) of the output. */
typedef struct {
    int mr, nc;           /* vectors of output channels and columns per task */
    int ocp, ncol, ncb;   /* output channels rounded up to mr * VL; columns; column blocks */
    int Dp, Hp, Wp;
    int nb;               /* samples per copy */
    int rows_per_chunk;
    size_t xs, ys;        /* floats of one sample's X and DY */
    size_t *xrow;         /* X's offset of each row of nb samples */
} plan;

static plan plan_of(const layer *l, const geom3d *g)
{
    plan p;
    p.mr = l->out_c > VL ? 2 : 1;
    p.nc = p.mr == 2 ? 6 : 12;    /* mr * nc = 12 accumulators, with the dY vectors and a broadcast in 16 registers */
    p.ocp = (l->out_c + p.mr * VL - 1) / (p.mr * VL) * (p.mr * VL);
    p.ncol = l->c * g->kd * g->kh * g->kw;
    p.ncb = (p.ncol + p.nc - 1) / p.nc;
    p.Dp = g->od + g->kd - 1;
    p.Hp = g->oh + g->kh - 1;
    p.Wp = g->ow + g->kw - 1;
    p.xs = (size_t)p.Dp * p.Hp * p.Wp * l->c;
    p.ys = (size_t)g->od * g->oh * g->ow * p.ocp;
    p.nb = (int)(conv3d_wgrad_avx2_group_floats / (p.xs + p.ys));
    if(p.nb < 1) p.nb = 1;
    if(p.nb > l->batch) p.nb = l->batch;
    p.rows_per_chunk = CHUNK_VOXELS / g->ow > 1 ? CHUNK_VOXELS / g->ow : 1;
    return p;
}

/* samples s0 .. s0 + n - 1 into X and DY (inside a parallel region) */
static void copy_in(const layer *l, const network *net, const geom3d *g, const plan *p, int s0, int n, float *X, float *DY)
{
    const int C = l->c;
    long r;
    #pragma omp for schedule(static)
    for(r = 0; r < (long)n * p->Dp * p->Hp; ++r){
        const int s = (int)(r / ((long)p->Dp * p->Hp)), z = (int)(r / p->Hp % p->Dp) - g->pd, y = (int)(r % p->Hp) - g->ph;
        float *row = X + (size_t)r * p->Wp * C;
        memset(row, 0, (size_t)p->Wp * C * sizeof(float));
        if(z < 0 || z >= g->d || y < 0 || y >= g->h) continue;
        const float *in = net->input + (size_t)(s0 + s) * l->inputs + ((size_t)z * g->h + y) * g->w;
        const size_t cs = (size_t)g->d * g->h * g->w;
        int c, x;
        for(c = 0; c < C; ++c)
            for(x = 0; x < g->w; ++x) row[(size_t)(x + g->pw) * C + c] = in[c * cs + x];
    }
    const size_t os = (size_t)g->od * g->oh * g->ow;
    #pragma omp for schedule(static)
    for(r = 0; r < (long)n * g->od * g->oh; ++r){
        const int s = (int)(r / ((long)g->od * g->oh));
        const size_t at = (size_t)(r % ((long)g->od * g->oh)) * g->ow;
        const float *dy = l->delta + (size_t)(s0 + s) * l->outputs + at;
        float *row = DY + (size_t)r * g->ow * p->ocp;
        int c, x;
        if(p->ocp > l->out_c) memset(row, 0, (size_t)g->ow * p->ocp * sizeof(float));
        for(c = 0; c < l->out_c; ++c)
            for(x = 0; x < g->ow; ++x) row[(size_t)x * p->ocp + c] = dy[c * os + x];
    }
}

/* The row loop of a task: for each row of the chunk, X's row start xp and DY's vectors dp of the task's output
 * channels, then ROW over the row's voxels */
#define FOR_ROWS(...)                                                                                          \
    do {                                                                                                       \
        const int C = g->c, ocp = p->ocp, ow = g->ow;                                                          \
        long r;                                                                                                \
        for(r = r0; r < r1; ++r){                                                                              \
            const float *xp = X + p->xrow[r];                                                                  \
            const float *dp = DY + (size_t)r * ow * ocp + (size_t)ob * p->mr * VL;                             \
            int x;                                                                                             \
            for(x = 0; x < ow; ++x, xp += C, dp += ocp){ __VA_ARGS__ }                                               \
        }                                                                                                      \
    } while(0)

/* the accumulators are named locals, not an array: a __m256 may alias any float, so an array would be stored back
 * after every FMA */
#define LD(a, i) __m256 a = _mm256_load_ps(acc + (i) * VL)
#define ST(a, i) _mm256_store_ps(acc + (i) * VL, a)
#define BC(j) const __m256 b##j = _mm256_broadcast_ss(xp + o##j)

/* 2 vectors of output channels x 6 columns: acc's tile (vector m, column j at (m * 6 + j) * VL) += over the rows
 * r0 .. r1 - 1 */
__attribute__((target("avx2,fma")))
static void tile_2x6(const float *X, const float *DY, const geom3d *g, const plan *p, const int *off, int ob, long r0,
                     long r1, float *acc)
{
    const long o0 = off[0], o1 = off[1], o2 = off[2], o3 = off[3], o4 = off[4], o5 = off[5];
    LD(a0, 0); LD(a1, 1); LD(a2, 2); LD(a3, 3); LD(a4, 4); LD(a5, 5);
    LD(c0, 6); LD(c1, 7); LD(c2, 8); LD(c3, 9); LD(c4, 10); LD(c5, 11);
    FOR_ROWS({
        const __m256 d0 = _mm256_load_ps(dp), d1 = _mm256_load_ps(dp + VL);
        BC(0); a0 = _mm256_fmadd_ps(d0, b0, a0); c0 = _mm256_fmadd_ps(d1, b0, c0);
        BC(1); a1 = _mm256_fmadd_ps(d0, b1, a1); c1 = _mm256_fmadd_ps(d1, b1, c1);
        BC(2); a2 = _mm256_fmadd_ps(d0, b2, a2); c2 = _mm256_fmadd_ps(d1, b2, c2);
        BC(3); a3 = _mm256_fmadd_ps(d0, b3, a3); c3 = _mm256_fmadd_ps(d1, b3, c3);
        BC(4); a4 = _mm256_fmadd_ps(d0, b4, a4); c4 = _mm256_fmadd_ps(d1, b4, c4);
        BC(5); a5 = _mm256_fmadd_ps(d0, b5, a5); c5 = _mm256_fmadd_ps(d1, b5, c5);
    });
    ST(a0, 0); ST(a1, 1); ST(a2, 2); ST(a3, 3); ST(a4, 4); ST(a5, 5);
    ST(c0, 6); ST(c1, 7); ST(c2, 8); ST(c3, 9); ST(c4, 10); ST(c5, 11);
}

/* 1 vector of output channels x 12 columns, for layers of at most 8 filters (column j at j * VL) */
__attribute__((target("avx2,fma")))
static void tile_1x12(const float *X, const float *DY, const geom3d *g, const plan *p, const int *off, int ob, long r0,
                      long r1, float *acc)
{
    const long o0 = off[0], o1 = off[1], o2 = off[2], o3 = off[3], o4 = off[4], o5 = off[5];
    const long o6 = off[6], o7 = off[7], o8 = off[8], o9 = off[9], o10 = off[10], o11 = off[11];
    LD(a0, 0); LD(a1, 1); LD(a2, 2); LD(a3, 3); LD(a4, 4); LD(a5, 5);
    LD(a6, 6); LD(a7, 7); LD(a8, 8); LD(a9, 9); LD(a10, 10); LD(a11, 11);
    FOR_ROWS({
        const __m256 d0 = _mm256_load_ps(dp);
        BC(0); a0 = _mm256_fmadd_ps(d0, b0, a0); BC(1); a1 = _mm256_fmadd_ps(d0, b1, a1);
        BC(2); a2 = _mm256_fmadd_ps(d0, b2, a2); BC(3); a3 = _mm256_fmadd_ps(d0, b3, a3);
        BC(4); a4 = _mm256_fmadd_ps(d0, b4, a4); BC(5); a5 = _mm256_fmadd_ps(d0, b5, a5);
        BC(6); a6 = _mm256_fmadd_ps(d0, b6, a6); BC(7); a7 = _mm256_fmadd_ps(d0, b7, a7);
        BC(8); a8 = _mm256_fmadd_ps(d0, b8, a8); BC(9); a9 = _mm256_fmadd_ps(d0, b9, a9);
        BC(10); a10 = _mm256_fmadd_ps(d0, b10, a10); BC(11); a11 = _mm256_fmadd_ps(d0, b11, a11);
    });
    ST(a0, 0); ST(a1, 1); ST(a2, 2); ST(a3, 3); ST(a4, 4); ST(a5, 5);
    ST(a6, 6); ST(a7, 7); ST(a8, 8); ST(a9, 9); ST(a10, 10); ST(a11, 11);
}

/* one task (output block ob, column block cb) over rows r0 .. r1 - 1, accumulated in accmem */
static void task(const float *X, const float *DY, const geom3d *g, const plan *p, const int *off, int ob, int cb,
                 long r0, long r1, float *accmem)
{
    const int *o = off + (size_t)cb * p->nc;
    if(p->mr == 2) tile_2x6(X, DY, g, p, o, ob, r0, r1, accmem);
    else tile_1x12(X, DY, g, p, o, ob, r0, r1, accmem);
}

int conv3d_wgrad_avx2_cl(layer l, network net)
{
    const geom3d *g = &c3_state(l)->g;
    plan p = plan_of(&l, g);
    const int k3 = g->kd * g->kh * g->kw, nob = p.ocp / (p.mr * VL);
    const long ntask = (long)nob * p.ncb;
    const size_t tile = (size_t)p.mr * p.nc * VL;
    /* X's offset of each column from its row's start; the last block's missing columns repeat column 0 and are
     * dropped at the end */
    int *off = malloc((size_t)p.ncb * p.nc * sizeof(int));
    float *X = aligned_alloc(64, ((size_t)p.nb * p.xs * sizeof(float) + 63) / 64 * 64);
    float *DY = aligned_alloc(64, ((size_t)p.nb * p.ys * sizeof(float) + 63) / 64 * 64);
    float *acc = aligned_alloc(64, (size_t)ntask * tile * sizeof(float));
    const long nrows = (long)p.nb * g->od * g->oh;
    size_t *xrow = malloc((size_t)nrows * sizeof(size_t));
    long r;
    int n;
    if(!off || !X || !DY || !acc || !xrow){ free(off); free(X); free(DY); free(acc); free(xrow); return -1; }
    for(r = 0; r < nrows; ++r){
        const long sz = r / g->oh;   /* sample * od + z */
        xrow[r] = ((size_t)sz / g->od * p.Dp + sz % g->od) * p.Hp * p.Wp * l.c + (size_t)(r % g->oh) * p.Wp * l.c;
    }
    p.xrow = xrow;
    memset(acc, 0, (size_t)ntask * tile * sizeof(float));
    for(n = 0; n < p.ncb * p.nc; ++n){
        const int q = n < p.ncol ? n : 0, t = q / l.c, ic = q % l.c;
        const int a = t / (g->kh * g->kw), b = t / g->kw % g->kh, e = t % g->kw;
        off[n] = ((a * p.Hp + b) * p.Wp + e) * l.c + ic;
    }
    #pragma omp parallel
    {
        /* each thread owns a fixed range of tasks and runs it over every chunk, with no barrier between chunks */
        const int nt = omp_get_num_threads(), me = omp_get_thread_num();
        const long t0 = ntask * me / nt, t1 = ntask * (me + 1) / nt;
        int s0;
        for(s0 = 0; s0 < l.batch; s0 += p.nb){
            const int ns = l.batch - s0 < p.nb ? l.batch - s0 : p.nb;
            const long grows = (long)ns * g->od * g->oh;   /* rows of this group */
            long r0, t;
            copy_in(&l, &net, g, &p, s0, ns, X, DY);
            /* every task finishes a chunk of rows before the next, so that the chunk stays in cache; each output
             * lane sums over samples, rows and voxels in that order, whatever the thread count */
            for(r0 = 0; r0 < grows; r0 += p.rows_per_chunk){
                const long r1 = r0 + p.rows_per_chunk < grows ? r0 + p.rows_per_chunk : grows;
                for(t = t0; t < t1; ++t) task(X, DY, g, &p, off, (int)(t / p.ncb), (int)(t % p.ncb), r0, r1, acc + (size_t)t * tile);
            }
            #pragma omp barrier
        }
        /* the tiles into l.weight_updates, dW[oc][ic * k3 + tap] */
        int oc;
        #pragma omp for schedule(static)
        for(oc = 0; oc < l.out_c; ++oc){
            const int ob = oc / (p.mr * VL), m = oc / VL % p.mr, i = oc % VL;
            float *dw = l.weight_updates + (size_t)oc * p.ncol;
            int ic, tap;
            for(ic = 0; ic < l.c; ++ic)
                for(tap = 0; tap < k3; ++tap){
                    const int q = tap * l.c + ic;
                    dw[ic * k3 + tap] += acc[((size_t)ob * p.ncb + q / p.nc) * tile + (m * p.nc + q % p.nc) * VL + i];
                }
        }
    }
    free(off); free(X); free(DY); free(acc); free(xrow);
    return 0;
}
