/* Gather forms of the [dtransform] backward's scatters, for -deterministic on the GPU: each element sums what reaches it in a fixed order, without atomics; shared by dtransform_kernels.cu and tests/test_dtransform.c. */
#ifndef DTRANSFORM_GATHER_H
#define DTRANSFORM_GATHER_H
#include <stddef.h>
#include <math.h>
#include <limits.h>
#include "trilinear.h"

#ifdef __CUDACC__
#define DT_HD static __host__ __device__ __forceinline__
#else
#define DT_HD static inline
#endif

/* one transformed volume: size, kernel radius, softmin/kornia h */
typedef struct { int d, h, w, r; float hh; } dt_grid;

/* the resize (in -> out per axis, align_corners=False) of the forward: trilinear.h; its transpose gathers with
 * tri_adjoint_at */
DT_HD void dt_axis_w(int in, int out, int o, int *a, int *b, float *l1) { tri_tap(o, in, tri_scale(in, out, 0), 0, a, b, l1); }

/* The voxels v of an axis of size n whose neighbour at offset o (clamped to the volume) is u: [*lo, *hi], empty
 * when *lo > *hi. */
DT_HD void dt_sources(int n, int u, int o, int *lo, int *hi)
{
    int tl = u == 0 ? INT_MIN / 2 : u, th = u == n - 1 ? INT_MAX / 2 : u;
    *lo = tl - o < 0 ? 0 : tl - o;
    *hi = th - o > n - 1 ? n - 1 : th - o;
}

/* Visits every (v, o) with neighbour o of voxel v equal to voxel u, in a fixed order (offsets as the forward
 * enumerates them, z then y then x), as BODY with size_t v and int o in scope. */
#define DT_FOR_SOURCES(G, U, BODY) do { \
    int ux_ = (int)((U) % (G).w), uy_ = (int)(((U) / (G).w) % (G).h), uz_ = (int)((U) / ((size_t)(G).w * (G).h)); \
    int k_ = 2 * (G).r + 1, a_, b_, c_, za_, zb_, ya_, yb_, xa_, xb_, vz_, vy_, vx_; \
    for(a_ = -(G).r; a_ <= (G).r; ++a_){ dt_sources((G).d, uz_, a_, &za_, &zb_); \
     for(vz_ = za_; vz_ <= zb_; ++vz_) for(b_ = -(G).r; b_ <= (G).r; ++b_){ dt_sources((G).h, uy_, b_, &ya_, &yb_); \
      for(vy_ = ya_; vy_ <= yb_; ++vy_) for(c_ = -(G).r; c_ <= (G).r; ++c_){ dt_sources((G).w, ux_, c_, &xa_, &xb_); \
       for(vx_ = xa_; vx_ <= xb_; ++vx_){ \
        size_t v = (size_t)vx_ + (size_t)(G).w * (vy_ + (size_t)(G).h * vz_); \
        int o = ((a_ + (G).r) * k_ + (b_ + (G).r)) * k_ + (c_ + (G).r); \
        BODY } } } } } while(0)

/* Softmin backward, pass it, at voxel u: what the voxels reached at iteration it send to u. Returns the amount and
 * sets *to_gS (1: it goes to gS[u], u reached before it; 0: to dM[u]); 0 when u receives nothing. Kd: the offsets'
 * lengths; mask value m(u) = B[u], or 1 - B[u] for inv. */
DT_HD float dt_softmin_gather_at(dt_grid g, const float *Kd, const float *B, const float *S, const int *reach, const float *gS,
                                 int inv, int it, size_t u, int *to_gS)
{
    float ih = 1.f / g.hh, acc = 0, Su = S[u];
    int before = reach[u] < it;
    *to_gS = before;
    if(!before && !((inv ? 1.f - B[u] : B[u]) > 0)) return 0;
    DT_FOR_SOURCES(g, u, {
        if(reach[v] == it){   /* gS[v] is read only for the sources of this iteration */
            float gv = gS[v];
            if(gv != 0) acc += before ? gv * expf((S[v] - Kd[o] - Su) * ih) : gv * (-g.hh) * expf((S[v] - Kd[o]) * ih);
        }
    });
    return acc;
}

/* Kornia backward at voxel u: sum of coef[v] K[o] over the voxels v that reached u's iteration or earlier
 * (reach[u] >= reach[v]); coef[v] = -h dS[v] / conv(v), 0 where v was never reached or dS[v] = 0. */
DT_HD float dt_kornia_gather_at(dt_grid g, const float *K, const int *reach, const float *coef, size_t u)
{
    float acc = 0;
    int ru = reach[u];
    DT_FOR_SOURCES(g, u, {
        float c = coef[v];
        if(c != 0 && reach[v] != INT_MAX && ru >= reach[v]) acc += c * K[o];
    });
    return acc;
}
#endif
