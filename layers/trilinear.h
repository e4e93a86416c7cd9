/* Trilinear resampling taps (PyTorch's align_corners=False/True arithmetic) and the gather form of the resize's transpose, shared by host and device code ([upsample3d], [dtransform], tests). */
#ifndef TRILINEAR_H
#define TRILINEAR_H
#include <stddef.h>
#include <math.h>

#ifdef __CUDACC__
#define TRI_HD static __host__ __device__ __forceinline__
#else
#define TRI_HD static inline
#endif

/* the source step of an axis n -> m outputs */
TRI_HD float tri_scale(int n, int m, int align_corners)
{
    return align_corners ? (m > 1 ? (float)(n - 1) / (float)(m - 1) : 0.f) : (float)n / (float)m;
}

/* output o of an axis of n inputs reads i0 <= i1 with weights 1 - l1 and l1; on the device without fused
 * multiply-adds, so that host and device pick the same taps */
TRI_HD void tri_tap(int o, int n, float scale, int align_corners, int *i0, int *i1, float *l1)
{
#ifdef __CUDA_ARCH__
    float src = align_corners ? __fmul_rn(scale, (float)o) : __fsub_rn(__fmul_rn(scale, __fadd_rn((float)o, 0.5f)), 0.5f);
#else
    float src = align_corners ? scale * o : scale * (o + 0.5f) - 0.5f;
#endif
    if(src < 0) src = 0;
    int a = (int)src;
    if(a > n - 1) a = n - 1;
    *i0 = a; *i1 = a + (a < n - 1 ? 1 : 0);
#ifdef __CUDA_ARCH__
    *l1 = __fsub_rn(src, (float)a);
#else
    *l1 = src - a;
#endif
}

/* the outputs of an axis (n inputs, m outputs) that can read input i: a superset, [*lo, *hi] */
TRI_HD void tri_range(int i, int n, int m, float scale, int align_corners, int *lo, int *hi)
{
    float k = scale > 0 ? 1.f / scale : (float)m, off = align_corners ? 0.f : 0.5f;
    int l = (int)floorf((i - 1 + off) * k - off) - 1, h = (int)ceilf((i + 1 + off) * k - off) + 1;
    if(i == 0 || l < 0) l = 0;
    if(i == n - 1 || h > m - 1) h = m - 1;
    *lo = l; *hi = h;
}

/* the weight with which output o reads input i (0 when it does not) */
TRI_HD float tri_weight(int o, int n, float scale, int align_corners, int i)
{
    int a, b;
    float l1, wt = 0;
    tri_tap(o, n, scale, align_corners, &a, &b, &l1);
    if(a == i) wt += 1.f - l1;
    if(b == i) wt += l1;
    return wt;
}

/* (trilinear resize (d,h,w) -> (od,oh,ow))^T g at input voxel (z,y,x): the sum over the outputs that read it, in a
 * fixed order (the gather form of the scatter with atomics) */
TRI_HD float tri_adjoint_at(const float *g, int d, int h, int w, int od, int oh, int ow, int align_corners, int z, int y, int x)
{
    float sd = tri_scale(d, od, align_corners), sh = tri_scale(h, oh, align_corners), sw = tri_scale(w, ow, align_corners), acc = 0;
    int zl, zh, yl, yh, xl, xh, oz, oy, ox;
    tri_range(z, d, od, sd, align_corners, &zl, &zh);
    tri_range(y, h, oh, sh, align_corners, &yl, &yh);
    tri_range(x, w, ow, sw, align_corners, &xl, &xh);
    for(oz = zl; oz <= zh; ++oz){
        float wz = tri_weight(oz, d, sd, align_corners, z);
        if(wz == 0) continue;
        for(oy = yl; oy <= yh; ++oy){
            float wy = tri_weight(oy, h, sh, align_corners, y);
            if(wy == 0) continue;
            const float *row = g + (size_t)ow * (oy + (size_t)oh * oz);
            for(ox = xl; ox <= xh; ++ox){
                float wx = tri_weight(ox, w, sw, align_corners, x);
                if(wx != 0) acc += wz * wy * row[ox] * wx;
            }
        }
    }
    return acc;
}
#endif
