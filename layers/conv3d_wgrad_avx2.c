/* The AVX2 weight gradient of stride-1 [conv3d] layers: which layers take it, and for rows of at least 32 voxels direct loops with 4 output channels x 3 taps of 8 lanes in registers over zero-padded copies of the input and the output gradient (shorter rows: conv3d_wgrad_avx2_cl.c). */
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>
#include "conv3d_wgrad_avx2.h"
#include "conv3d_common.h"
#include "cpu_isa.h"

int conv3d_wgrad_avx2_mode = 1;
int conv3d_wgrad_avx2_kernel = 0;

#define OB 4      /* output channels per task */
#define VL 8      /* floats per vector */

int conv3d_wgrad_avx2_applies(layer l)
{
    if(!l.plugin_state || !cpu_isa_avx2_mode(conv3d_wgrad_avx2_mode)) return 0;
    const conv3d_state *st = c3_state(l);
    const geom3d *g = &st->g;
    if(st->transposed || g->sd != 1 || g->sh != 1 || g->sw != 1) return 0;
    if(g->kd > 3 || g->kh > 3 || g->kw > 3) return 0;
    return g->pd <= g->kd - 1 && g->ph <= g->kh - 1 && g->pw <= g->kw - 1;
}

/* 1: the row loops below, 0: the outer-product kernel. The loops ran faster from rows of 32 voxels, the kernel below
 * them (docs/performance.md, "AVX2 weight gradient"); the loops need rows of at least one vector. */
static int row_loops(const geom3d *g)
{
    if(g->ow < VL) return 0;
    return conv3d_wgrad_avx2_kernel ? conv3d_wgrad_avx2_kernel == 1 : g->ow >= 4 * VL;
}

/* The copies one call works on. X: the input, c x Dp x Hp x Wp, image voxel (z, y, x) at (z + pd, y + ph, x + pw),
 * zeros elsewhere; Wp covers the reads of whole vectors at x0 + e. DY: the output gradient, OC x od x oh x Wd with
 * OC rounded up to OB and rows rounded up to VL, zeros past the layer's channels and row ends. */
typedef struct { int Dp, Hp, Wp, Wd, oc_pad; } copies;

static copies copies_of(const layer *l, const geom3d *g)
{
    copies c;
    c.Wd = (g->ow + VL - 1) / VL * VL;
    c.Dp = g->od + g->kd - 1;
    c.Hp = g->oh + g->kh - 1;
    c.Wp = c.Wd + g->kw - 1;
    c.oc_pad = (l->out_c + OB - 1) / OB * OB;
    return c;
}

static void pad_input(const float *x, const geom3d *g, const copies *c, float *X)
{
    long r;
    #pragma omp parallel for schedule(static)
    for(r = 0; r < (long)g->c * c->Dp; ++r){
        const int ch = (int)(r / c->Dp), z = (int)(r % c->Dp) - g->pd;
        float *plane = X + (size_t)r * c->Hp * c->Wp;
        int y;
        memset(plane, 0, (size_t)c->Hp * c->Wp * sizeof(float));
        if(z < 0 || z >= g->d) continue;
        for(y = 0; y < g->h; ++y)
            memcpy(plane + (size_t)(y + g->ph) * c->Wp + g->pw, x + (((size_t)ch * g->d + z) * g->h + y) * g->w, (size_t)g->w * sizeof(float));
    }
}

static void pad_gradient(const float *dy, int out_c, const geom3d *g, const copies *c, float *DY)
{
    long r;
    #pragma omp parallel for schedule(static)
    for(r = 0; r < (long)c->oc_pad * g->od; ++r){
        const int ch = (int)(r / g->od);
        float *plane = DY + (size_t)r * g->oh * c->Wd;
        int y;
        memset(plane, 0, (size_t)g->oh * c->Wd * sizeof(float));
        if(ch >= out_c) continue;
        for(y = 0; y < g->oh; ++y) memcpy(plane + (size_t)y * c->Wd, dy + ((size_t)r * g->oh + y) * g->ow, (size_t)g->ow * sizeof(float));
    }
}

/* acc[o][e] (o < OB, e < KW) += over the rows of output slice z: DY[blk * OB + o] times X[ci] shifted by (a, b, e).
 * KW is a compile-time constant at each call, so the 12 accumulators, the KW shifted x vectors and one dY vector
 * stay in the 16 registers. */
static inline __attribute__((always_inline, target("avx2,fma")))
void wgrad_rows(const float *X, const float *DY, const geom3d *g, const copies *c, int blk, int ci, int a, int b,
                const int KW, int z, __m256 acc[OB][3])
{
    const size_t cs = (size_t)g->od * g->oh * c->Wd;
    int o, e, y, x0;
    for(y = 0; y < g->oh; ++y){
        const float *xr = X + (((size_t)ci * c->Dp + z + a) * c->Hp + y + b) * c->Wp;
        const float *dr = DY + (((size_t)blk * OB * g->od + z) * g->oh + y) * c->Wd;
        for(x0 = 0; x0 < c->Wd; x0 += VL){
            __m256 xv[3];
            for(e = 0; e < KW; ++e) xv[e] = _mm256_loadu_ps(xr + x0 + e);
            for(o = 0; o < OB; ++o){
                __m256 dv = _mm256_loadu_ps(dr + o * cs + x0);
                __asm__("" : "+x"(dv));   /* one load of dY[o], not one per FMA */
                for(e = 0; e < KW; ++e) acc[o][e] = _mm256_fmadd_ps(dv, xv[e], acc[o][e]);
            }
        }
    }
}

/* one task (output block blk, input channel ci, kernel row (a, b)) over output slice z, accumulated in accmem */
__attribute__((target("avx2,fma")))
static void wgrad_task(const float *X, const float *DY, const geom3d *g, const copies *c, int blk, int ci, int a, int b,
                       int z, float *accmem)
{
    __m256 acc[OB][3];
    int o, e;
    for(o = 0; o < OB; ++o) for(e = 0; e < 3; ++e) acc[o][e] = _mm256_loadu_ps(accmem + (o * 3 + e) * VL);
    if(g->kw == 3) wgrad_rows(X, DY, g, c, blk, ci, a, b, 3, z, acc);
    else if(g->kw == 2) wgrad_rows(X, DY, g, c, blk, ci, a, b, 2, z, acc);
    else wgrad_rows(X, DY, g, c, blk, ci, a, b, 1, z, acc);
    for(o = 0; o < OB; ++o) for(e = 0; e < 3; ++e) _mm256_storeu_ps(accmem + (o * 3 + e) * VL, acc[o][e]);
}

int conv3d_wgrad_avx2(layer l, network net)
{
    const geom3d *g = &c3_state(l)->g;
    if(!row_loops(g)) return conv3d_wgrad_avx2_cl(l, net);
    const copies c = copies_of(&l, g);
    const int k3 = g->kd * g->kh * g->kw, rows = g->kd * g->kh, nblk = c.oc_pad / OB;
    const long ntask = (long)nblk * l.c * rows;
    float *X = malloc((size_t)g->c * c.Dp * c.Hp * c.Wp * sizeof(float));
    float *DY = malloc((size_t)c.oc_pad * g->od * g->oh * c.Wd * sizeof(float));
    float *acc = calloc((size_t)ntask * OB * 3 * VL, sizeof(float));
    long t;
    int s, z;
    if(!X || !DY || !acc){ free(X); free(DY); free(acc); return -1; }
    for(s = 0; s < l.batch; ++s){
        pad_input(net.input + (size_t)s * l.inputs, g, &c, X);
        pad_gradient(l.delta + (size_t)s * l.outputs, l.out_c, g, &c, DY);
        /* every task finishes a slice before the next, so the slice's dY stays in cache */
        for(z = 0; z < g->od; ++z){
            #pragma omp parallel for schedule(static)
            for(t = 0; t < ntask; ++t){
                const int blk = (int)(t / ((long)rows * l.c)), ci = (int)(t / rows % l.c), ab = (int)(t % rows);
                wgrad_task(X, DY, g, &c, blk, ci, ab / g->kh, ab % g->kh, z, acc + (size_t)t * OB * 3 * VL);
            }
        }
    }
    for(t = 0; t < ntask; ++t){
        const int blk = (int)(t / ((long)rows * l.c)), ci = (int)(t / rows % l.c), ab = (int)(t % rows);
        int o, e, i;
        for(o = 0; o < OB && blk * OB + o < l.out_c; ++o)
            for(e = 0; e < g->kw; ++e){
                const float *v = acc + ((size_t)t * OB * 3 + o * 3 + e) * VL;
                float sum = 0;
                for(i = 0; i < VL; ++i) sum += v[i];
                l.weight_updates[((size_t)(blk * OB + o) * l.c + ci) * k3 + ab * g->kw + e] += sum;
            }
    }
    free(X); free(DY); free(acc);
    return 0;
}
