/* Index arithmetic of the GPU's direct kernels for thin [conv3d] layers (1x1x1 heads with few filters, layers with few input channels, 3x3x3 layers of at most 16 filters), written once for the CUDA kernels (layers/conv3d_thin_kernels.cu) and the host test that replays them. */
#ifndef CONV3D_THIN_H
#define CONV3D_THIN_H
#include "numerics3d.h"

#ifdef __CUDA_ARCH__
#define THIN3D_UNROLL _Pragma("unroll")
#else
#define THIN3D_UNROLL
#endif

/* The shape rule (thin3d_applies), in the convolution's terms (c channels of the image, oc of the positions: a
 * [conv3d]'s input and filters, a [deconv3d]'s filters and input): either stride 1, a cubic kernel of 1 or 3, padding
 * at most k - 1 on each axis, and one of at most THIN3D_THIN_OC filters over at most THIN3D_WIDE_C input channels (the
 * seg and sdf heads), at most THIN3D_THIN_C input channels into at most THIN3D_WIDE_OC filters (a network's first
 * layer), or a 3x3x3 kernel of at most THIN3D_NARROW_OC filters over at most THIN3D_NARROW_C channels (the 16-filter
 * layers at full resolution); or kernel 2, stride 2, no padding, at most THIN3D_NARROW_C channels on each side (the
 * V-Net's down- and up-sampling between the first two resolutions);
 * the weights, padded to blocks (thin3d_wf_at) at most 16 x 32 x 27 floats under these clauses, fit THIN3D_MAX_WEIGHTS floats
 * of shared memory. */
#define THIN3D_THIN_OC 4
#define THIN3D_WIDE_C 64
#define THIN3D_THIN_C 4
#define THIN3D_WIDE_OC 32
#define THIN3D_NARROW_OC 16
#define THIN3D_NARROW_C 32
#define THIN3D_MAX_WEIGHTS 16384

/* One thin convolution: image x [n][c][d][h][w], positions y [n][oc][od][oh][ow], cubic kernel k, stride s on every
 * axis, weights [oc][c][k][k][k] (PyTorch's Conv3d layout, and ConvTranspose3d's with its input as oc), padding pd,
 * ph, pw. A voxel index j runs over n * (voxels per sample). */
typedef struct { int n, c, oc, d, h, w, od, oh, ow, k, s, pd, ph, pw; } thin3d_geom;

/* The filters (forward) or channels (data gradient) one thread sums at once: 4 when there are at most 4, else 16 */
NUMERICS3D_FN int thin3d_block(int n) { return n <= 4 ? 4 : 16; }
NUMERICS3D_FN int thin3d_padded(int n) { int b = thin3d_block(n); return (n + b - 1) / b * b; }

/* 1 when the direct kernels take a convolution of this geometry (kernel kd x kh x kw, strides sd, sh, sw) */
NUMERICS3D_FN int thin3d_applies(const thin3d_geom *g, int kd, int kh, int kw, int sd, int sh, int sw)
{
    int k = g->k;
    if(kd != k || kh != k || kw != k || sd != g->s || sh != g->s || sw != g->s) return 0;
    if(g->c < 1 || g->oc < 1 || (long)thin3d_padded(g->oc) * thin3d_padded(g->c) * k * k * k > THIN3D_MAX_WEIGHTS) return 0;
    if(g->pd < 0 || g->ph < 0 || g->pw < 0 || g->pd > k - 1 || g->ph > k - 1 || g->pw > k - 1) return 0;
    if(k == 2 && g->s == 2) return g->pd == 0 && g->ph == 0 && g->pw == 0 && g->oc <= THIN3D_NARROW_C && g->c <= THIN3D_NARROW_C;
    if((k != 1 && k != 3) || g->s != 1) return 0;
    return (g->oc <= THIN3D_THIN_OC && g->c <= THIN3D_WIDE_C) || (g->c <= THIN3D_THIN_C && g->oc <= THIN3D_WIDE_OC) ||
           (k == 3 && g->oc <= THIN3D_NARROW_OC && g->c <= THIN3D_NARROW_C);
}

/* splits voxel j of a volume of sd x sh x sw voxels per sample into sample and coordinates; returns the voxel's
 * index within its sample */
NUMERICS3D_FN long thin3d_split(long j, int sd, int sh, int sw, int *n, int *z, int *y, int *x)
{
    long sp = (long)sd * sh * sw, b, s;
    int plane = sh * sw;
    if(j <= 0x7fffffffL && sp <= 0x7fffffffL){   /* 32-bit division where it suffices (64-bit is emulated on the GPU) */
        unsigned int q = (unsigned int)j / (unsigned int)sp;
        b = q; s = (long)((unsigned int)j - q * (unsigned int)sp);
    } else { b = j / sp; s = j - b * sp; }
    int zz = (int)(s / plane), r = (int)(s - (long)zz * plane);
    int yv = r / sw;
    *n = (int)b; *z = zz; *y = yv; *x = r - yv * sw;
    (void)sd;
    return s;
}

/* The weights as the kernels keep them in shared memory, zero-padded so that a thread reads a whole block of 4 or 16
 * consecutive values (vector loads on the device): the forward's layout [c][tap][filter, padded], the data gradient's
 * [filter][tap][channel, padded]. Floats of each layout, and where PyTorch's weight (o, c, t) goes in it. */
NUMERICS3D_FN long thin3d_wf_size(const thin3d_geom *g) { return (long)g->c * g->k * g->k * g->k * thin3d_padded(g->oc); }
NUMERICS3D_FN long thin3d_wd_size(const thin3d_geom *g) { return (long)g->oc * g->k * g->k * g->k * thin3d_padded(g->c); }
NUMERICS3D_FN long thin3d_wf_at(const thin3d_geom *g, int o, int c, int t)
{
    return ((long)c * g->k * g->k * g->k + t) * thin3d_padded(g->oc) + o;
}
NUMERICS3D_FN long thin3d_wd_at(const thin3d_geom *g, int o, int c, int t)
{
    return ((long)o * g->k * g->k * g->k + t) * thin3d_padded(g->c) + c;
}
/* element i of a layout (f: the forward's, else the data gradient's) from PyTorch's [o][c][tap] weights w; a layout
 * has at most THIN3D_MAX_WEIGHTS elements, so 32-bit division (the GPU's 64-bit one is emulated) */
NUMERICS3D_FN float thin3d_layout_value(const thin3d_geom *g, int f, const float *w, int i)
{
    int T = g->k * g->k * g->k, P = thin3d_padded(f ? g->oc : g->c);
    int inner = i % P, r = i / P;
    int t = r % T, outer = r / T;
    int o = f ? inner : outer, c = f ? outer : inner;
    if(o >= g->oc || c >= g->c) return 0.f;
    return w[((long)o * g->c + c) * T + t];
}

/* acc[0..nb) += row[0..nb) * v: nb is 4 or 16 (a compile-time constant in the kernels, which read the row as vectors) */
NUMERICS3D_FN void thin3d_axpy_row(float *acc, const float *row, float v, int nb)
{
#ifdef __CUDA_ARCH__
    const float4 *r4 = (const float4 *)row;
    THIN3D_UNROLL for(int q = 0; q < nb / 4; ++q){
        float4 u = r4[q];
        acc[4 * q] += u.x * v; acc[4 * q + 1] += u.y * v; acc[4 * q + 2] += u.z * v; acc[4 * q + 3] += u.w * v;
    }
#else
    for(int q = 0; q < nb; ++q) acc[q] += row[q] * v;
#endif
}

/* Forward at output voxel j for the ocb filters from o0 (thin3d_block(oc) of them; those below g->oc are written, or
 * added to with add): acc[o] = sum over channels, then taps in (kz, ky, kx) order, of w * x, with wf the forward's
 * weight layout. k, s (g->k, g->s) and ocb are compile-time constants in the kernels. */
NUMERICS3D_FN void thin3d_forward_at(const thin3d_geom *g, int k, int s1, int ocb, const float *x, const float *wf, float *y, long j,
                                     int o0, int add, float *acc)
{
    int n, z, yy, xx, c, o;
    long s = thin3d_split(j, g->od, g->oh, g->ow, &n, &z, &yy, &xx);
    long isp = (long)g->d * g->h * g->w, osp = (long)g->od * g->oh * g->ow;
    int taps = k * k * k, P = thin3d_padded(g->oc);
    THIN3D_UNROLL for(o = 0; o < ocb; ++o) acc[o] = 0.f;
    for(c = 0; c < g->c; ++c){
        const float *xc = x + ((long)n * g->c + c) * isp;
        THIN3D_UNROLL for(int kz = 0; kz < k; ++kz){
            int iz = z * s1 - g->pd + kz;
            if(iz < 0 || iz >= g->d) continue;
            THIN3D_UNROLL for(int ky = 0; ky < k; ++ky){
                int iy = yy * s1 - g->ph + ky;
                if(iy < 0 || iy >= g->h) continue;
                THIN3D_UNROLL for(int kx = 0; kx < k; ++kx){
                    int ix = xx * s1 - g->pw + kx;
                    if(ix < 0 || ix >= g->w) continue;
                    int t = (kz * k + ky) * k + kx;
                    thin3d_axpy_row(acc, wf + ((long)c * taps + t) * P + o0, xc[((long)iz * g->h + iy) * g->w + ix], ocb);
                }
            }
        }
    }
    THIN3D_UNROLL for(o = 0; o < ocb; ++o) if(o0 + o < g->oc){
        float *yo = y + ((long)n * g->oc + o0 + o) * osp + s;
        *yo = add ? *yo + acc[o] : acc[o];
    }
}

/* Data gradient at image voxel j for the icb channels from c0 (thin3d_block(c) of them; those below g->c are added to,
 * or written without add): the sum over filters, then taps, of w * dy at the output voxel whose tap reads j (output *
 * s = image + pad - tap), with wd the data gradient's weight layout. */
NUMERICS3D_FN void thin3d_dgrad_at(const thin3d_geom *g, int k, int s1, int icb, const float *dy, const float *wd, float *dx, long j,
                                   int c0, int add, float *acc)
{
    int n, z, yy, xx, c, o;
    long s = thin3d_split(j, g->d, g->h, g->w, &n, &z, &yy, &xx);
    long isp = (long)g->d * g->h * g->w, osp = (long)g->od * g->oh * g->ow;
    int taps = k * k * k, P = thin3d_padded(g->c);
    THIN3D_UNROLL for(c = 0; c < icb; ++c) acc[c] = 0.f;
    for(o = 0; o < g->oc; ++o){
        const float *dyo = dy + ((long)n * g->oc + o) * osp;
        THIN3D_UNROLL for(int kz = 0; kz < k; ++kz){
            int oz = z + g->pd - kz;
            if(oz < 0 || oz % s1) continue;
            oz /= s1;
            if(oz >= g->od) continue;
            THIN3D_UNROLL for(int ky = 0; ky < k; ++ky){
                int oy = yy + g->ph - ky;
                if(oy < 0 || oy % s1) continue;
                oy /= s1;
                if(oy >= g->oh) continue;
                THIN3D_UNROLL for(int kx = 0; kx < k; ++kx){
                    int ox = xx + g->pw - kx;
                    if(ox < 0 || ox % s1) continue;
                    ox /= s1;
                    if(ox >= g->ow) continue;
                    int t = (kz * k + ky) * k + kx;
                    thin3d_axpy_row(acc, wd + ((long)o * taps + t) * P + c0, dyo[((long)oz * g->oh + oy) * g->ow + ox], icb);
                }
            }
        }
    }
    THIN3D_UNROLL for(c = 0; c < icb; ++c) if(c0 + c < g->c){
        float *xv = dx + ((long)n * g->c + c0 + c) * isp + s;
        *xv = add ? *xv + acc[c] : acc[c];
    }
}

/* The weight gradient's filters per thread: each image value loaded serves THIN3D_WG_OB filters */
#define THIN3D_WG_OB 4

/* Weight gradient of filters o0.. o0 + THIN3D_WG_OB - 1 (those below g->oc) and channel c at output voxel j:
 * acc[b * k^3 + t] += dy(o0 + b) * x at the image voxel tap t reads. */
NUMERICS3D_FN void thin3d_wgrad_at(const thin3d_geom *g, int k, int s1, const float *x, const float *dy, int o0, int c, long j, float *acc)
{
    int n, z, yy, xx, b;
    long s = thin3d_split(j, g->od, g->oh, g->ow, &n, &z, &yy, &xx);
    long isp = (long)g->d * g->h * g->w, osp = (long)g->od * g->oh * g->ow;
    int taps = k * k * k;
    float gv[THIN3D_WG_OB];
    THIN3D_UNROLL for(b = 0; b < THIN3D_WG_OB; ++b) gv[b] = o0 + b < g->oc ? dy[((long)n * g->oc + o0 + b) * osp + s] : 0.f;
    const float *xc = x + ((long)n * g->c + c) * isp;
    THIN3D_UNROLL for(int kz = 0; kz < k; ++kz){
        int iz = z * s1 - g->pd + kz;
        if(iz < 0 || iz >= g->d) continue;
        THIN3D_UNROLL for(int ky = 0; ky < k; ++ky){
            int iy = yy * s1 - g->ph + ky;
            if(iy < 0 || iy >= g->h) continue;
            THIN3D_UNROLL for(int kx = 0; kx < k; ++kx){
                int ix = xx * s1 - g->pw + kx;
                if(ix < 0 || ix >= g->w) continue;
                float v = xc[((long)iz * g->h + iy) * g->w + ix];
                int t = (kz * k + ky) * k + kx;
                THIN3D_UNROLL for(b = 0; b < THIN3D_WG_OB; ++b) acc[b * taps + t] += gv[b] * v;
            }
        }
    }
}

/* Blocks along the voxels of one weight-gradient pair: enough for every SM with the pairs of a head, and a fixed
 * function of the shape, so the block sums are added in the same order in every run. */
#define THIN3D_THREADS 256
NUMERICS3D_FN int thin3d_wgrad_chunks(long voxels)
{
    long ch = (voxels + 16L * THIN3D_THREADS - 1) / (16L * THIN3D_THREADS);
    return ch < 1 ? 1 : ch > 64 ? 64 : (int)ch;
}
#endif
