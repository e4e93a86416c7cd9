/* medpy-compatible Dice, Jaccard, HD95 and ASD of binary 3D masks, with exact EDT surface distances. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "metrics.h"
#include "edt.h"

void seg_overlap(const unsigned char *pred, const unsigned char *ref, size_t n, seg_metrics *m)
{
    long a = 0, b = 0, ab = 0;
    size_t i;
    #pragma omp parallel for reduction(+:a,b,ab) schedule(static)
    for(i = 0; i < n; ++i){
        int x = pred[i] != 0, y = ref[i] != 0;
        a += x; b += y; ab += x & y;
    }
    m->npred = a; m->nref = b; m->ninter = ab;
    if(a + b == 0){ m->dice = m->jaccard = 1; }
    else {
        m->dice = 2.0*ab / (double)(a + b);
        m->jaccard = (double)ab / (double)(a + b - ab);
    }
    m->hd95 = m->asd = m->hd95_mm = m->asd_mm = NAN;
}

double dice_prob(const float *prob, const float *truth, size_t n, float thresh)
{
    long a = 0, b = 0, ab = 0;
    size_t i;
    for(i = 0; i < n; ++i){
        int x = prob[i] > thresh, y = truth[i] != 0;
        a += x; b += y; ab += x & y;
    }
    return a + b == 0 ? 1.0 : 2.0*ab / (double)(a + b);
}

void mask_surface(const unsigned char *mask, int D, int H, int W, unsigned char *out)
{
    long HW = (long)H*W, n = (long)D*HW, i;
    #pragma omp parallel for schedule(static)
    for(i = 0; i < n; ++i){
        if(!mask[i]){ out[i] = 0; continue; }
        int w = (int)(i % W), h = (int)((i / W) % H), d = (int)(i / HW);
        /* eroded (interior) iff all 6 neighbours exist and are set; outside the array counts as 0 */
        int interior = w > 0 && w < W - 1 && h > 0 && h < H - 1 && d > 0 && d < D - 1 &&
            mask[i-1] && mask[i+1] && mask[i-W] && mask[i+W] && mask[i-HW] && mask[i+HW];
        out[i] = !interior;
    }
}

/* k-th smallest (0-based) of x[0..n-1] (Wirth's selection; ties stop both scans, so repeated values,
   common among voxel distances, stay linear on average); reorders x */
static float select_kth(float *x, size_t n, size_t k)
{
    long l = 0, r = (long)n - 1, kk = (long)k;
    while(l < r){
        float p = x[kk];
        long i = l, j = r;
        do {
            while(x[i] < p) ++i;
            while(p < x[j]) --j;
            if(i <= j){ float t = x[i]; x[i] = x[j]; x[j] = t; ++i; --j; }
        } while(i <= j);
        if(j < kk) l = i;
        if(kk < i) r = j;
    }
    return x[kk];
}

double percentile_linear(float *x, size_t n, double q)
{
    if(n == 0) return NAN;
    double pos = q/100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(pos);
    if(lo >= n - 1) return select_kth(x, n, n - 1);
    double frac = pos - (double)lo;
    double a = select_kth(x, n, lo);
    /* after selection every element above lo is >= x[lo]: the next order statistic is their minimum */
    float b = x[lo + 1];
    size_t i;
    for(i = lo + 2; i < n; ++i) if(x[i] < b) b = x[i];
    /* numpy's _lerp: a + (b-a)*t, evaluated from the other end when t >= 0.5 */
    return frac >= 0.5 ? b - (b - a)*(1.0 - frac) : a + (b - a)*frac;
}

/* distances from the surface voxels of `from` to the surface `to` (dist_to = EDT of `to`'s surface);
   writes them to out, returns the count */
static size_t gather(const unsigned char *from_surf, const float *dist_to, long n, float *out)
{
    size_t k = 0;
    long i;
    for(i = 0; i < n; ++i) if(from_surf[i]) out[k++] = dist_to[i];
    return k;
}

int seg_metrics_compute(const unsigned char *pred, const unsigned char *ref, int D, int H, int W,
                        const float spacing[3], seg_metrics *m)
{
    if(!m) return -1;
    m->dice = m->jaccard = m->hd95 = m->asd = m->hd95_mm = m->asd_mm = NAN;
    m->npred = m->nref = m->ninter = 0;
    if(!pred || !ref || !spacing || D < 1 || H < 1 || W < 1) return -1;
    if(!(spacing[0] > 0) || !(spacing[1] > 0) || !(spacing[2] > 0)) return -1;
    long HW = (long)H*W, n = (long)D*HW;
    seg_overlap(pred, ref, (size_t)n, m);
    if(m->npred == 0 && m->nref == 0){ m->hd95 = m->asd = m->hd95_mm = m->asd_mm = 0; return 0; }
    if(m->npred == 0 || m->nref == 0) return 0;

    /* bounding box of A|B grown by one voxel: surfaces and distances inside it equal the full array's */
    int lo[3] = { D, H, W }, hi[3] = { -1, -1, -1 };
    long i;
    for(i = 0; i < n; ++i){
        if(!pred[i] && !ref[i]) continue;
        int c[3] = { (int)(i / HW), (int)((i / W) % H), (int)(i % W) }, a;
        for(a = 0; a < 3; ++a){ if(c[a] < lo[a]) lo[a] = c[a]; if(c[a] > hi[a]) hi[a] = c[a]; }
    }
    int dim[3] = { D, H, W }, sz[3], a;
    for(a = 0; a < 3; ++a){
        if(lo[a] > 0) --lo[a];
        if(hi[a] < dim[a] - 1) ++hi[a];
        sz[a] = hi[a] - lo[a] + 1;
    }
    long cn = (long)sz[0]*sz[1]*sz[2];
    unsigned char *ca = malloc(cn), *cb = malloc(cn), *sa = malloc(cn), *sb = malloc(cn);
    float *dist = malloc(sizeof(float)*cn);
    float *da = malloc(sizeof(float)*(size_t)m->npred), *db = malloc(sizeof(float)*(size_t)m->nref);
    float *pool = malloc(sizeof(float)*(size_t)(m->npred + m->nref));
    int rc = -1;
    if(!ca || !cb || !sa || !sb || !dist || !da || !db || !pool) goto done;
    {
        int d, h;
        for(d = 0; d < sz[0]; ++d) for(h = 0; h < sz[1]; ++h){
            long src = lo[2] + W*((long)(lo[1] + h) + H*(long)(lo[0] + d));
            long dst = (long)sz[2]*(h + (long)sz[1]*d);
            memcpy(ca + dst, pred + src, sz[2]);
            memcpy(cb + dst, ref + src, sz[2]);
        }
        for(i = 0; i < cn; ++i){ ca[i] = ca[i] != 0; cb[i] = cb[i] != 0; }
        /* the crop's faces that are not array faces hold zeros, so erosion there matches the full array's;
           faces that are array faces erode with border 0 as medpy does */
        mask_surface(ca, sz[0], sz[1], sz[2], sa);
        mask_surface(cb, sz[0], sz[1], sz[2], sb);
        int pass;
        for(pass = 0; pass < 2; ++pass){
            float unit[3] = { 1, 1, 1 };
            const float *sp = pass ? spacing : unit;
            if(edt3d(sb, sz[0], sz[1], sz[2], sp, dist) < 0) goto done;
            size_t na = gather(sa, dist, cn, da);
            if(edt3d(sa, sz[0], sz[1], sz[2], sp, dist) < 0) goto done;
            size_t nb = gather(sb, dist, cn, db);
            double s = 0;
            size_t k;
            for(k = 0; k < na; ++k) s += da[k];
            double asd = s / (double)na;
            memcpy(pool, da, na*sizeof(float));
            memcpy(pool + na, db, nb*sizeof(float));
            double hd = percentile_linear(pool, na + nb, 95.0);
            if(pass){ m->asd_mm = asd; m->hd95_mm = hd; }
            else { m->asd = asd; m->hd95 = hd; }
        }
        rc = 0;
    }
done:
    free(ca); free(cb); free(sa); free(sb); free(dist); free(da); free(db); free(pool);
    return rc;
}
