/* Exact 3D Euclidean distance transform: a binary scan along w, then the Felzenszwalb-Huttenlocher parabola envelope along h and d. */
#include <math.h>
#include <stdlib.h>
#include "edt.h"

/* One line of the squared distance transform: d[q] = min_p f[p] + (s*(q-p))^2 over finite f[p].
   f and d may not alias. v, z are scratch of n and n+1 entries. A line with no finite f stays INFINITY. */
static void dt1d(const float *f, int n, double s, float *d, int *v, double *z)
{
    int q, k = -1;
    for(q = 0; q < n; ++q){
        if(!isfinite(f[q])) continue;
        double fq = (double)f[q] + (s*q)*(s*q);
        while(k >= 0){
            int p = v[k];
            /* abscissa where the parabola of q starts to undercut that of p */
            double x = (fq - ((double)f[p] + (s*p)*(s*p))) / (2.0*s*(q - p));
            if(x <= z[k]){ --k; continue; }
            ++k; v[k] = q; z[k] = x;
            break;
        }
        if(k < 0){ k = 0; v[0] = q; z[0] = -INFINITY; }
        z[k+1] = INFINITY;
    }
    if(k < 0){
        for(q = 0; q < n; ++q) d[q] = INFINITY;
        return;
    }
    int j = 0;
    for(q = 0; q < n; ++q){
        double x = s*q;
        while(z[j+1] < x) ++j;
        double dx = s*(q - v[j]);
        d[q] = (float)(dx*dx + (double)f[v[j]]);
    }
}

/* Squared distances along one strided axis, in place on `a`: `nlines` lines of length n, line l starts at
   base(l) and steps by `stride`. Lines are enumerated so that consecutive l are adjacent in memory (cache reuse). */
static int pass_axis(float *a, int nouter, int ninner, long outer_step, int n, long stride, double s)
{
    int fail = 0;
    #pragma omp parallel
    {
        float *f = malloc(sizeof(float)*n), *d = malloc(sizeof(float)*n);
        int *v = malloc(sizeof(int)*n);
        double *z = malloc(sizeof(double)*(n + 1));
        if(!f || !d || !v || !z){
            #pragma omp atomic write
            fail = 1;
        } else {
            long l, nl = (long)nouter*ninner;
            #pragma omp for schedule(static)
            for(l = 0; l < nl; ++l){
                float *base = a + (l / ninner)*outer_step + (l % ninner);
                int q;
                for(q = 0; q < n; ++q) f[q] = base[q*stride];
                dt1d(f, n, s, d, v, z);
                for(q = 0; q < n; ++q) base[q*stride] = d[q];
            }
        }
        free(f); free(d); free(v); free(z);
    }
    return fail ? -1 : 0;
}

int edt3d_sq(const unsigned char *mask, int D, int H, int W, const float spacing[3], float *out)
{
    if(!mask || !out || !spacing || D < 1 || H < 1 || W < 1) return -1;
    if(!(spacing[0] > 0) || !(spacing[1] > 0) || !(spacing[2] > 0)) return -1;
    long nlines = (long)D*H, l;
    long count = 0;
    double sw = spacing[2];
    /* pass 1 (w, contiguous): two scans give the distance to the nearest site on the line */
    #pragma omp parallel for schedule(static) reduction(+:count)
    for(l = 0; l < nlines; ++l){
        const unsigned char *m = mask + l*W;
        float *o = out + l*W;
        int w, last = -1;
        for(w = 0; w < W; ++w){
            if(m[w]){ last = w; ++count; o[w] = 0; }
            else o[w] = last < 0 ? INFINITY : (float)((w - last)*sw*(w - last)*sw);
        }
        last = -1;
        for(w = W - 1; w >= 0; --w){
            if(m[w]){ last = w; continue; }
            if(last >= 0){
                float dd = (float)((last - w)*sw*(last - w)*sw);
                if(dd < o[w]) o[w] = dd;
            }
        }
    }
    if(count == 0){
        long i, n = (long)D*H*W;
        for(i = 0; i < n; ++i) out[i] = INFINITY;
        return 0;
    }
    /* pass 2 (h): lines indexed by (d, w), stride W */
    if(H > 1 && pass_axis(out, D, W, (long)H*W, H, W, spacing[1]) < 0) return -1;
    /* pass 3 (d): lines indexed by (h, w) = one plane, stride H*W */
    if(D > 1 && pass_axis(out, 1, H*W, 0, D, (long)H*W, spacing[0]) < 0) return -1;
    return count > 0x7fffffffL ? 0x7fffffff : (int)count;
}

int edt3d(const unsigned char *mask, int D, int H, int W, const float spacing[3], float *out)
{
    int r = edt3d_sq(mask, D, H, W, spacing, out);
    if(r <= 0) return r;
    long i, n = (long)D*H*W;
    #pragma omp parallel for schedule(static)
    for(i = 0; i < n; ++i) out[i] = sqrtf(out[i]);
    return r;
}
