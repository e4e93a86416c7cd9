/* [upsample3d]: trilinear upsampling of NCDHW volumes by integer factors (CPU reference and cfg parsing). */
#include <limits.h>
#include <stdlib.h>
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

void upsample3d_forward_cpu(int nc, int d, int h, int w, int od, int oh, int ow, int align_corners, const float *x, float *y)
{
    tap *t = make_taps(d, h, w, od, oh, ow, align_corners);
    if(!t){ fprintf(stderr, "upsample3d: out of memory\n"); return; }
    const tap *td = t, *th = t + od, *tw = t + od + oh;
    size_t in_vol = (size_t)d * h * w, out_vol = (size_t)od * oh * ow;
    int b;
    #pragma omp parallel for if((size_t)nc * out_vol > 65536)
    for(b = 0; b < nc; ++b){
        const float *xb = x + b * in_vol;
        float *yb = y + b * out_vol;
        int z, r, q;
        for(z = 0; z < od; ++z){
            const float *p0 = xb + (size_t)td[z].i0 * h * w, *p1 = xb + (size_t)td[z].i1 * h * w;
            for(r = 0; r < oh; ++r){
                int r0 = th[r].i0 * w, r1 = th[r].i1 * w;
                float *yr = yb + ((size_t)z * oh + r) * ow;
                for(q = 0; q < ow; ++q){
                    int c0 = tw[q].i0, c1 = tw[q].i1;
                    float a0 = tw[q].l0, a1 = tw[q].l1;
                    /* same association order as PyTorch's CPU kernel */
                    yr[q] = td[z].l0 * (th[r].l0 * (a0 * p0[r0 + c0] + a1 * p0[r0 + c1]) +
                                        th[r].l1 * (a0 * p0[r1 + c0] + a1 * p0[r1 + c1])) +
                            td[z].l1 * (th[r].l0 * (a0 * p1[r0 + c0] + a1 * p1[r0 + c1]) +
                                        th[r].l1 * (a0 * p1[r1 + c0] + a1 * p1[r1 + c1]));
                }
            }
        }
    }
    free(t);
}

void upsample3d_backward_cpu(int nc, int d, int h, int w, int od, int oh, int ow, int align_corners, const float *dy, float *dx)
{
    tap *t = make_taps(d, h, w, od, oh, ow, align_corners);
    if(!t){ fprintf(stderr, "upsample3d: out of memory\n"); return; }
    const tap *td = t, *th = t + od, *tw = t + od + oh;
    size_t in_vol = (size_t)d * h * w, out_vol = (size_t)od * oh * ow;
    int b;
    /* each (n, c) volume scatters only into its own input volume: parallel over volumes is race-free */
    #pragma omp parallel for if((size_t)nc * out_vol > 65536)
    for(b = 0; b < nc; ++b){
        float *xb = dx + b * in_vol;
        const float *yb = dy + b * out_vol;
        int z, r, q;
        for(z = 0; z < od; ++z){
            float *p0 = xb + (size_t)td[z].i0 * h * w, *p1 = xb + (size_t)td[z].i1 * h * w;
            for(r = 0; r < oh; ++r){
                int r0 = th[r].i0 * w, r1 = th[r].i1 * w;
                const float *yr = yb + ((size_t)z * oh + r) * ow;
                for(q = 0; q < ow; ++q){
                    int c0 = tw[q].i0, c1 = tw[q].i1;
                    float g = yr[q];
                    float g00 = td[z].l0 * th[r].l0 * g, g01 = td[z].l0 * th[r].l1 * g;
                    float g10 = td[z].l1 * th[r].l0 * g, g11 = td[z].l1 * th[r].l1 * g;
                    p0[r0 + c0] += g00 * tw[q].l0; p0[r0 + c1] += g00 * tw[q].l1;
                    p0[r1 + c0] += g01 * tw[q].l0; p0[r1 + c1] += g01 * tw[q].l1;
                    p1[r0 + c0] += g10 * tw[q].l0; p1[r0 + c1] += g10 * tw[q].l1;
                    p1[r1 + c0] += g11 * tw[q].l0; p1[r1 + c1] += g11 * tw[q].l1;
                }
            }
        }
    }
    free(t);
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
