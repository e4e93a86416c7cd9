/* CUDA exact 3D Euclidean distance transform (the GPU twin of core/edt.c): one thread per line, three separable passes. */
#include "cuda3d.h"
#include <math_constants.h>
extern "C" {
#include "edt_gpu.h"
}

/* pass along w: distance to the nearest site on the line, squared; counts sites */
__global__ void edt_pass_w(const unsigned char *m, int nlines, int W, float sw, float *out, unsigned long long *count)
{
    long l = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if(l >= nlines) return;
    const unsigned char *ml = m + l * W;
    float *o = out + l * W;
    int w, last = -1;
    long c = 0;
    for(w = 0; w < W; ++w){
        if(ml[w]){ last = w; ++c; o[w] = 0; }
        else o[w] = last < 0 ? CUDART_INF_F : (float)((w - last) * (double)sw * (w - last) * (double)sw);
    }
    last = -1;
    for(w = W - 1; w >= 0; --w){
        if(ml[w]){ last = w; continue; }
        if(last >= 0){
            float dd = (float)((last - w) * (double)sw * (last - w) * (double)sw);
            if(dd < o[w]) o[w] = dd;
        }
    }
    if(c) atomicAdd(count, (unsigned long long)c);
}

/* parabola lower envelope along a strided axis; line l starts at (l / ninner) * outer_step + l % ninner */
__global__ void edt_pass_env(float *a, long nlines, int ninner, long outer_step, int n, long stride, double s,
                             float *fbuf, int *vbuf, double *zbuf)
{
    long l = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if(l >= nlines) return;
    float *base = a + (l / ninner) * outer_step + (l % ninner);
    float *f = fbuf + l * n;
    int *v = vbuf + l * n;
    double *z = zbuf + l * (n + 1);
    int q, k = -1;
    for(q = 0; q < n; ++q) f[q] = base[q * stride];
    for(q = 0; q < n; ++q){
        if(!isfinite(f[q])) continue;
        double fq = (double)f[q] + (s * q) * (s * q);
        while(k >= 0){
            int p = v[k];
            double x = (fq - ((double)f[p] + (s * p) * (s * p))) / (2.0 * s * (q - p));
            if(x <= z[k]){ --k; continue; }
            ++k; v[k] = q; z[k] = x;
            break;
        }
        if(k < 0){ k = 0; v[0] = q; z[0] = -CUDART_INF; }
        z[k + 1] = CUDART_INF;
    }
    if(k < 0){ for(q = 0; q < n; ++q) base[q * stride] = CUDART_INF_F; return; }
    int j = 0;
    for(q = 0; q < n; ++q){
        double x = s * q;
        while(z[j + 1] < x) ++j;
        double dx = s * (q - v[j]);
        base[q * stride] = (float)(dx * dx + (double)f[v[j]]);
    }
}

__global__ void edt_fill(float *x, long n, float v) { long i = (long)blockIdx.x * blockDim.x + threadIdx.x; if(i < n) x[i] = v; }
__global__ void edt_sqrt(float *x, long n) { long i = (long)blockIdx.x * blockDim.x + threadIdx.x; if(i < n) x[i] = sqrtf(x[i]); }

static int grid(long n) { return (int)((n + BLOCK - 1) / BLOCK); }

/* The envelope buffers and the site counter: process-wide scratch that only grows, so a training run allocates on its
 * first call (at the largest volume) and never again (a running network does not allocate, docs/design.md). */
static struct { float *f; int *v; double *z; unsigned long long *cnt; size_t cap; } edt_scr;
static int edt_scratch(size_t lines_m)   /* lines * m; z takes lines * (m + 1) <= 2 * lines * m */
{
    if(!edt_scr.cnt && cuda3d_malloc((void **)&edt_scr.cnt, sizeof(*edt_scr.cnt))) return -1;
    if(lines_m <= edt_scr.cap) return 0;
    cuda3d_free((void **)&edt_scr.f); cuda3d_free((void **)&edt_scr.v); cuda3d_free((void **)&edt_scr.z);
    edt_scr.cap = 0;
    if(cuda3d_malloc((void **)&edt_scr.f, sizeof(float) * lines_m) || cuda3d_malloc((void **)&edt_scr.v, sizeof(int) * lines_m) ||
       cuda3d_malloc((void **)&edt_scr.z, sizeof(double) * 2 * lines_m)){
        cuda3d_free((void **)&edt_scr.f); cuda3d_free((void **)&edt_scr.v); cuda3d_free((void **)&edt_scr.z);
        return -1;
    }
    edt_scr.cap = lines_m;
    return 0;
}

extern "C" int edt3d_sq_gpu(const unsigned char *mask_gpu, int D, int H, int W, const float spacing[3], float *out_gpu)
{
    if(!mask_gpu || !out_gpu || !spacing || D < 1 || H < 1 || W < 1) return -1;
    if(!(spacing[0] > 0) || !(spacing[1] > 0) || !(spacing[2] > 0)) return -1;
    long n = (long)D * H * W;
    int m = H > D ? H : D;
    long lines = (long)D * W > (long)H * W ? (long)D * W : (long)H * W;
    /* a failed allocation is recoverable (core/cuda3d.h) */
    if(edt_scratch((size_t)lines * m)) return -1;
    unsigned long long cnt = 0;
    CUDA3D_CHECK(cudaMemset(edt_scr.cnt, 0, sizeof(cnt)));
    edt_pass_w<<<grid((long)D * H), BLOCK>>>(mask_gpu, D * H, W, spacing[2], out_gpu, edt_scr.cnt);
    CUDA3D_CHECK_LAUNCH();
    CUDA3D_CHECK(cudaMemcpy(&cnt, edt_scr.cnt, sizeof(cnt), cudaMemcpyDeviceToHost));
    if(cnt == 0){
        edt_fill<<<grid(n), BLOCK>>>(out_gpu, n, INFINITY);
        CUDA3D_CHECK_LAUNCH();
        return 0;
    }
    if(H > 1) edt_pass_env<<<grid((long)D * W), BLOCK>>>(out_gpu, (long)D * W, W, (long)H * W, H, W, spacing[1], edt_scr.f, edt_scr.v, edt_scr.z);
    if(D > 1) edt_pass_env<<<grid((long)H * W), BLOCK>>>(out_gpu, (long)H * W, H * W, 0, D, (long)H * W, spacing[0], edt_scr.f, edt_scr.v, edt_scr.z);
    CUDA3D_CHECK_LAUNCH();
    return cnt > 0x7fffffffULL ? 0x7fffffff : (int)cnt;
}

extern "C" int edt3d_gpu(const unsigned char *mask_gpu, int D, int H, int W, const float spacing[3], float *out_gpu)
{
    int r = edt3d_sq_gpu(mask_gpu, D, H, W, spacing, out_gpu);
    if(r > 0){
        long n = (long)D * H * W;
        edt_sqrt<<<grid(n), BLOCK>>>(out_gpu, n);
        CUDA3D_CHECK_LAUNCH();
    }
    return r;
}
