/* vol2col / col2vol: the 3D im2col used by [conv3d] and [deconv3d] on the CPU, over a range of output positions so the column buffer stays bounded. */
#include <string.h>
#include "vol2col.h"

/* [lo, hi): the entries of a stride-1 run of `run` taps starting at image column iw that fall inside [0, w).
 * A run may start left of the image (padding) or, when a chunk starts mid-row and the padding is >= 2, right of it. */
static inline void clip_run(long iw, long w, size_t run, size_t *lo, size_t *hi)
{
    long l = iw < 0 ? -iw : 0, h = w - iw;
    if(h > (long)run) h = (long)run;
    if(l > (long)run) l = (long)run;
    if(h < l) h = l;
    *lo = (size_t)l; *hi = (size_t)h;
}

/* One row of the column matrix = one (channel, kernel tap); walking positions in order
 * keeps the reads of a row nearly contiguous in w. */
void vol2col_cpu(const float *im, const geom3d *g, size_t p0, size_t np, float *col)
{
    const int K3 = g->kd * g->kh * g->kw;
    const long rows = (long)g->c * K3;
    const size_t vol = (size_t)g->d * g->h * g->w;
    long r;
    #pragma omp parallel for schedule(static) if(rows * (long)np > 32768)
    for(r = 0; r < rows; ++r){
        int c = (int)(r / K3), t = (int)(r % K3);
        int a = t / (g->kh * g->kw), b = (t / g->kw) % g->kh, e = t % g->kw;
        const float *src = im + c * vol;
        float *dst = col + (size_t)r * np;
        size_t p = p0, end = p0 + np;
        int ow = (int)(p % g->ow), oh = (int)((p / g->ow) % g->oh), od = (int)(p / ((size_t)g->ow * g->oh));
        while(p < end){
            int id = od * g->sd - g->pd + a, ih = oh * g->sh - g->ph + b;
            size_t run = (size_t)(g->ow - ow);
            if(run > end - p) run = end - p;
            if(id < 0 || id >= g->d || ih < 0 || ih >= g->h){
                size_t i;
                for(i = 0; i < run; ++i) dst[i] = 0;
            }else{
                const float *row = src + ((size_t)id * g->h + ih) * g->w;
                int iw = ow * g->sw - g->pw + e;
                size_t i;
                if(g->sw == 1){
                    /* stride 1: zero edges around one contiguous copy (the common 3x3x3 case) */
                    size_t lo, hi;
                    clip_run(iw, g->w, run, &lo, &hi);
                    for(i = 0; i < lo; ++i) dst[i] = 0;
                    memcpy(dst + lo, row + (iw + (long)lo), (hi - lo) * sizeof(float));
                    for(i = hi; i < run; ++i) dst[i] = 0;
                }else{
                    for(i = 0; i < run; ++i, iw += g->sw) dst[i] = (iw >= 0 && iw < g->w) ? row[iw] : 0;
                }
            }
            dst += run; p += run;
            ow = 0;
            if(++oh == g->oh){ oh = 0; ++od; }
        }
    }
}

/* Parallel over image channels: taps of one channel may hit the same voxel, taps of
 * different channels never do, so no two threads write one voxel. */
void col2vol_cpu(const float *col, const geom3d *g, size_t p0, size_t np, float *im)
{
    const int K3 = g->kd * g->kh * g->kw;
    const size_t vol = (size_t)g->d * g->h * g->w;
    int c;
    #pragma omp parallel for schedule(static) if((long)g->c * K3 * (long)np > 32768)
    for(c = 0; c < g->c; ++c){
        int t;
        float *dstim = im + c * vol;
        for(t = 0; t < K3; ++t){
            int a = t / (g->kh * g->kw), b = (t / g->kw) % g->kh, e = t % g->kw;
            const float *src = col + ((size_t)c * K3 + t) * np;
            size_t p = p0, end = p0 + np;
            int ow = (int)(p % g->ow), oh = (int)((p / g->ow) % g->oh), od = (int)(p / ((size_t)g->ow * g->oh));
            while(p < end){
                int id = od * g->sd - g->pd + a, ih = oh * g->sh - g->ph + b;
                size_t run = (size_t)(g->ow - ow);
                if(run > end - p) run = end - p;
                if(!(id < 0 || id >= g->d || ih < 0 || ih >= g->h)){
                    float *row = dstim + ((size_t)id * g->h + ih) * g->w;
                    int iw = ow * g->sw - g->pw + e;
                    size_t i;
                    if(g->sw == 1){
                        size_t lo, hi;
                        clip_run(iw, g->w, run, &lo, &hi);
                        for(i = lo; i < hi; ++i) row[iw + (long)i] += src[i];
                    }else{
                        for(i = 0; i < run; ++i, iw += g->sw) if(iw >= 0 && iw < g->w) row[iw] += src[i];
                    }
                }
                src += run; p += run;
                ow = 0;
                if(++oh == g->oh){ oh = 0; ++od; }
            }
        }
    }
}
