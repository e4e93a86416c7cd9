/* [upsample3d]: trilinear upsampling of NCDHW volumes by integer factors (CPU reference and cfg parsing). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "upsample3d_layer.h"
#include "layer3d.h"
#include "cfg_options.h"
#include "layers3d.h"

/* Interpolation taps of one output index along one axis, computed exactly as PyTorch does
 * (area_pixel_compute_scale / area_pixel_compute_source_index, in float). */
typedef struct { int i0, i1; float l0, l1; } tap;

static void axis_taps(int n, int m, int align_corners, tap *t)
{
    float scale = align_corners ? (m > 1 ? (float)(n - 1) / (float)(m - 1) : 0.f) : (float)n / (float)m;
    int o;
    for(o = 0; o < m; ++o){
        float src = align_corners ? scale * o : scale * (o + 0.5f) - 0.5f;
        if(src < 0) src = 0;
        int i0 = (int)src;
        if(i0 > n - 1) i0 = n - 1; /* float rounding at the last index must not step outside */
        t[o].i0 = i0;
        t[o].i1 = i0 + (i0 < n - 1 ? 1 : 0);
        t[o].l1 = src - i0;
        t[o].l0 = 1.f - t[o].l1;
    }
}

/* One allocation for the three axes' taps; NULL when out of memory. */
static tap *make_taps(int d, int h, int w, int od, int oh, int ow, int align_corners)
{
    tap *t = malloc(sizeof(tap) * (size_t)(od + oh + ow));
    if(!t) return 0;
    axis_taps(d, od, align_corners, t);
    axis_taps(h, oh, align_corners, t + od);
    axis_taps(w, ow, align_corners, t + od + oh);
    return t;
}

/* Both directions run separably, one axis per pass over contiguous rows (w, then h, then d forward; the adjoint in
 * the reverse order), threaded over the (n, c) volumes, each volume's work in a fixed order: the result does not depend
 * on the thread count. The forward's passes keep the association of PyTorch's CPU kernel,
 * l_d0 (l_h0 (a0 x + a1 x) + l_h1 (...)) + l_d1 (...), so it is bit for bit the direct formula. */

/* per-thread scratch of one volume's two intermediate passes: d*h*ow and d*oh*ow floats */
static size_t ups_scratch(int d, int h, int oh, int ow) { return (size_t)d * h * ow + (size_t)d * oh * ow; }

/* y (od x oh x ow) = trilinear(x (d x h x w)); t, u: scratch */
static void ups_forward_one(const tap *td, const tap *th, const tap *tw, int d, int h, int w, int od, int oh, int ow,
                            const float *x, float *y, float *t, float *u)
{
    int z, r, q;
    for(r = 0; r < d * h; ++r){           /* along w: t[zi][ri][q] */
        const float *xr = x + (size_t)r * w;
        float *tr = t + (size_t)r * ow;
        for(q = 0; q < ow; ++q) tr[q] = tw[q].l0 * xr[tw[q].i0] + tw[q].l1 * xr[tw[q].i1];
    }
    for(z = 0; z < d; ++z) for(r = 0; r < oh; ++r){   /* along h: u[zi][r][q] */
        const float *a = t + ((size_t)z * h + th[r].i0) * ow, *b = t + ((size_t)z * h + th[r].i1) * ow;
        float *ur = u + ((size_t)z * oh + r) * ow, l0 = th[r].l0, l1 = th[r].l1;
        for(q = 0; q < ow; ++q) ur[q] = l0 * a[q] + l1 * b[q];
    }
    size_t plane = (size_t)oh * ow, i;
    for(z = 0; z < od; ++z){              /* along d */
        const float *a = u + td[z].i0 * plane, *b = u + td[z].i1 * plane;
        float *yz = y + z * plane, l0 = td[z].l0, l1 = td[z].l1;
        for(i = 0; i < plane; ++i) yz[i] = l0 * a[i] + l1 * b[i];
    }
}

/* dx (d x h x w) += the transpose of the forward applied to dy (od x oh x ow); v, t: scratch */
static void ups_backward_one(const tap *td, const tap *th, const tap *tw, int d, int h, int w, int od, int oh, int ow,
                             const float *dy, float *dx, float *t, float *v)
{
    size_t plane = (size_t)oh * ow, i;
    int z, r, q;
    memset(v, 0, (size_t)d * plane * sizeof(float));
    for(z = 0; z < od; ++z){              /* along d: v[zi][r][q] */
        const float *g = dy + z * plane;
        float *a = v + td[z].i0 * plane, *b = v + td[z].i1 * plane, l0 = td[z].l0, l1 = td[z].l1;
        for(i = 0; i < plane; ++i) a[i] += l0 * g[i];
        for(i = 0; i < plane; ++i) b[i] += l1 * g[i];
    }
    memset(t, 0, (size_t)d * h * ow * sizeof(float));
    for(z = 0; z < d; ++z) for(r = 0; r < oh; ++r){   /* along h: t[zi][ri][q] */
        const float *g = v + ((size_t)z * oh + r) * ow;
        float *a = t + ((size_t)z * h + th[r].i0) * ow, *b = t + ((size_t)z * h + th[r].i1) * ow, l0 = th[r].l0, l1 = th[r].l1;
        for(q = 0; q < ow; ++q) a[q] += l0 * g[q];
        for(q = 0; q < ow; ++q) b[q] += l1 * g[q];
    }
    for(r = 0; r < d * h; ++r){           /* along w, into dx */
        const float *g = t + (size_t)r * ow;
        float *xr = dx + (size_t)r * w;
        for(q = 0; q < ow; ++q){ xr[tw[q].i0] += tw[q].l0 * g[q]; xr[tw[q].i1] += tw[q].l1 * g[q]; }
    }
}

/* Runs one direction over nc volumes; returns -1 when out of memory (nothing written). */
static int ups_run(int backward, int nc, int d, int h, int w, int od, int oh, int ow, int align_corners, const float *in, float *out)
{
    tap *t = make_taps(d, h, w, od, oh, ow, align_corners);
    if(!t) return -1;
    const tap *td = t, *th = t + od, *tw = t + od + oh;
    size_t in_vol = (size_t)d * h * w, out_vol = (size_t)od * oh * ow, s1 = (size_t)d * h * ow, ns = ups_scratch(d, h, oh, ow);
    int nt = omp_get_max_threads();
    if(nt > nc) nt = nc;
    if((size_t)nc * out_vol <= 65536) nt = 1;
    float *scr = malloc(sizeof(float) * ns * (size_t)(nt > 0 ? nt : 1));
    if(!scr){ free(t); return -1; }
    #pragma omp parallel num_threads(nt)
    {
        float *a = scr + ns * (size_t)omp_get_thread_num(), *b = a + s1;
        int k;
        #pragma omp for schedule(static)
        for(k = 0; k < nc; ++k){
            if(backward) ups_backward_one(td, th, tw, d, h, w, od, oh, ow, in + k * out_vol, out + k * in_vol, a, b);
            else ups_forward_one(td, th, tw, d, h, w, od, oh, ow, in + k * in_vol, out + k * out_vol, a, b);
        }
    }
    free(scr);
    free(t);
    return 0;
}

void upsample3d_forward_cpu(int nc, int d, int h, int w, int od, int oh, int ow, int align_corners, const float *x, float *y)
{
    if(ups_run(0, nc, d, h, w, od, oh, ow, align_corners, x, y)) fprintf(stderr, "upsample3d: out of memory\n");
}

void upsample3d_backward_cpu(int nc, int d, int h, int w, int od, int oh, int ow, int align_corners, const float *dy, float *dx)
{
    if(ups_run(1, nc, d, h, w, od, oh, ow, align_corners, dy, dx)) fprintf(stderr, "upsample3d: out of memory\n");
}

layer make_upsample3d_layer(int batch, int c, int d, int h, int w, int sd, int sh, int sw, int align_corners)
{
    layer l = {0};
    l.type = UPSAMPLE3D;
    dims3d in = {c, d, h, w}, out = {c, d * sd, h * sh, w * sw};
    upsample3d_state *st = malloc(sizeof(*st));
    if(st){ st->sd = sd; st->sh = sh; st->sw = sw; st->align_corners = align_corners; }
    l.plugin_state = st;
    l.stride = sd; /* for Darknet code that looks at l.stride; the per-axis factors live in plugin_state */
    layer3d_set_shapes(&l, batch, in, out);
    l.forward = forward_upsample3d_layer;
    l.backward = backward_upsample3d_layer;
#ifdef GPU
    l.forward_gpu = forward_upsample3d_layer_gpu;
    l.backward_gpu = backward_upsample3d_layer_gpu;
#endif
    fprintf(stderr, "upsample3d x%dx%dx%d ac=%d       %4d x%4d x%4d x%4d -> %4d x%4d x%4d x%4d\n",
            sd, sh, sw, align_corners, c, d, h, w, out.c, out.d, out.h, out.w);
    return l;
}

void forward_upsample3d_layer(const layer l, network net)
{
    const upsample3d_state *st = l.plugin_state;
    dims3d i = in_dims(l), o = out_dims(l);
    upsample3d_forward_cpu(l.batch * l.c, i.d, i.h, i.w, o.d, o.h, o.w, st->align_corners, net.input, l.output);
}

void backward_upsample3d_layer(const layer l, network net)
{
    if(!net.delta) return;
    const upsample3d_state *st = l.plugin_state;
    dims3d i = in_dims(l), o = out_dims(l);
    upsample3d_backward_cpu(l.batch * l.c, i.d, i.h, i.w, o.d, o.h, o.w, st->align_corners, l.delta, net.delta);
}

int parse_upsample3d_section(list *options, size_params params, layer *l, char *err, size_t errlen)
{
    dims3d in;
    int s, sd, sh, sw, ac;
    if(params_dims(params, &in, err, errlen)) return -1;
    if(cfg_int(options, "[upsample3d]", "stride", 2, 0, &s, err, errlen)) return -1;
    if(cfg_int(options, "[upsample3d]", "stride_d", s, 0, &sd, err, errlen)) return -1;
    if(cfg_int(options, "[upsample3d]", "stride_h", s, 0, &sh, err, errlen)) return -1;
    if(cfg_int(options, "[upsample3d]", "stride_w", s, 0, &sw, err, errlen)) return -1;
    if(cfg_int(options, "[upsample3d]", "align_corners", 1, 0, &ac, err, errlen)) return -1;
    double outputs = (double)params.batch * in.c * in.d * sd * in.h * sh * in.w * sw;
    if(outputs > INT_MAX){
        snprintf(err, errlen, "key 'stride': output of %.0f values is too large for one layer", outputs);
        return -1;
    }
    *l = make_upsample3d_layer(params.batch, in.c, in.d, in.h, in.w, sd, sh, sw, ac);
    if(!l->plugin_state || !layer3d_buffers_ok(l)) return layer3d_alloc_error(err, errlen);
    return 0;
}
