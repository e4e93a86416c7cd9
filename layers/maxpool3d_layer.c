/* [maxpool3d]: 3D max pooling of NCDHW volumes with argmax routing of the gradient (CPU reference and cfg parsing). */
#include <math.h>
#include <stdlib.h>
#include "maxpool3d_layer.h"
#include "layer3d.h"
#include "cfg_options.h"
#include "layers3d.h"
#include "cuda3d.h"

int maxpool3d_out_size(int n, int k, int s, int p)
{
    int span = n + 2 * p - k;
    return span < 0 ? 0 : span / s + 1;
}

layer make_maxpool3d_layer(int batch, int c, int d, int h, int w, maxpool3d_state p)
{
    layer l = {0};
    l.type = MAXPOOL3D;
    dims3d in = {c, d, h, w};
    dims3d out = {c, maxpool3d_out_size(d, p.kd, p.sd, p.pd), maxpool3d_out_size(h, p.kh, p.sh, p.ph),
                  maxpool3d_out_size(w, p.kw, p.sw, p.pw)};
    maxpool3d_state *st = malloc(sizeof(*st));
    if(st) *st = p;
    l.plugin_state = st;
    l.size = p.kw; l.stride = p.sw; l.pad = p.pw; /* Darknet's 2D fields, for code that prints them */
    layer3d_set_shapes(&l, batch, in, out);
    size_t n = (size_t)batch * l.outputs;
    l.indexes = calloc(n ? n : 1, sizeof(int));
    l.forward = forward_maxpool3d_layer;
    l.backward = backward_maxpool3d_layer;
#ifdef GPU
    l.forward_gpu = forward_maxpool3d_layer_gpu;
    l.backward_gpu = backward_maxpool3d_layer_gpu;
    if(gpu_index >= 0 && cuda3d_malloc((void **)&l.indexes_gpu, (n ? n : 1) * sizeof(int)) == 0 &&
       CUDA3D_TRY(cudaMemset(l.indexes_gpu, 0, (n ? n : 1) * sizeof(int)))) cuda3d_free((void **)&l.indexes_gpu);
#endif
    fprintf(stderr, "maxpool3d  %dx%dx%d/%dx%dx%d p%d,%d,%d   %4d x%4d x%4d x%4d -> %4d x%4d x%4d x%4d\n",
            p.kd, p.kh, p.kw, p.sd, p.sh, p.sw, p.pd, p.ph, p.pw, c, d, h, w, out.c, out.d, out.h, out.w);
    return l;
}

void forward_maxpool3d_layer(const layer l, network net)
{
    const maxpool3d_state *p = l.plugin_state;
    dims3d i = in_dims(l), o = out_dims(l);
    size_t in_vol = dims_volume(i), out_vol = dims_volume(o);
    int nc = l.batch * l.c, b;
    #pragma omp parallel for if((size_t)nc * out_vol > 16384)
    for(b = 0; b < nc; ++b){
        const float *x = net.input + b * in_vol;
        int z, r, q;
        for(z = 0; z < o.d; ++z){
            int z0 = z * p->sd - p->pd, z1 = z0 + p->kd;
            if(z0 < 0) z0 = 0;
            if(z1 > i.d) z1 = i.d;
            for(r = 0; r < o.h; ++r){
                int r0 = r * p->sh - p->ph, r1 = r0 + p->kh;
                if(r0 < 0) r0 = 0;
                if(r1 > i.h) r1 = i.h;
                for(q = 0; q < o.w; ++q){
                    int q0 = q * p->sw - p->pw, q1 = q0 + p->kw;
                    if(q0 < 0) q0 = 0;
                    if(q1 > i.w) q1 = i.w;
                    /* PyTorch: the first in-range element is the argmax until something beats -inf */
                    size_t best = ((size_t)z0 * i.h + r0) * i.w + q0;
                    float m = -INFINITY;
                    int zz, rr, qq;
                    for(zz = z0; zz < z1; ++zz) for(rr = r0; rr < r1; ++rr) for(qq = q0; qq < q1; ++qq){
                        size_t k = ((size_t)zz * i.h + rr) * i.w + qq;
                        float v = x[k];
                        if(v > m || isnan(v)){ m = v; best = k; }
                    }
                    size_t out = b * out_vol + ((size_t)z * o.h + r) * o.w + q;
                    l.output[out] = m;
                    l.indexes[out] = (int)(b * in_vol + best);
                }
            }
        }
    }
}

void backward_maxpool3d_layer(const layer l, network net)
{
    if(!net.delta) return;
    size_t out_vol = dims_volume(out_dims(l));
    int nc = l.batch * l.c, b;
    /* an output's argmax lies in its own (n, c) volume: parallel over volumes is race-free */
    #pragma omp parallel for if((size_t)nc * out_vol > 65536)
    for(b = 0; b < nc; ++b){
        size_t k;
        for(k = b * out_vol; k < (b + 1) * out_vol; ++k) net.delta[l.indexes[k]] += l.delta[k];
    }
}

/* Reads key and key_d/_h/_w: the per-axis keys default to the common one, which defaults to def;
 * with required, def must lie outside [lo, hi] and marks an axis left unset. */
static int axis_keys(list *options, const char *key, int def, int required, int v[3], char *err, size_t errlen)
{
    static const char *suffix[3] = {"_d", "_h", "_w"};
    int common, a;
    if(cfg_int(options, "[maxpool3d]", key, def, 0, &common, err, errlen)) return -1;
    for(a = 0; a < 3; ++a){
        char name[32];
        snprintf(name, sizeof(name), "%s%s", key, suffix[a]);
        if(cfg_int(options, "[maxpool3d]", name, common, 0, &v[a], err, errlen)) return -1;
        if(required && v[a] == def){
            snprintf(err, errlen, "missing required key '%s' (or all of %s_d, %s_h, %s_w)", key, key, key, key);
            return -1;
        }
    }
    return 0;
}

int parse_maxpool3d_section(list *options, size_params params, layer *l, char *err, size_t errlen)
{
    static const char *axis[3] = {"d", "h", "w"};
    dims3d in;
    int k[3], s[3], p[3], n[3], a;
    if(params_dims(params, &in, err, errlen)) return -1;
    n[0] = in.d; n[1] = in.h; n[2] = in.w;
    if(axis_keys(options, "size", 0, 1, k, err, errlen)) return -1;
    /* stride defaults to the window, axis by axis */
    int sc;
    if(cfg_int(options, "[maxpool3d]", "stride", 0, 0, &sc, err, errlen)) return -1;
    for(a = 0; a < 3; ++a){
        char name[32];
        snprintf(name, sizeof(name), "stride_%s", axis[a]);
        if(cfg_int(options, "[maxpool3d]", name, sc ? sc : k[a], 0, &s[a], err, errlen)) return -1;
    }
    if(axis_keys(options, "pad", 0, 0, p, err, errlen)) return -1;
    for(a = 0; a < 3; ++a){
        if(2 * p[a] > k[a]){
            snprintf(err, errlen, "key 'pad': padding %d on axis %s is more than half the window %d (PyTorch's rule)", p[a], axis[a], k[a]);
            return -1;
        }
        if(maxpool3d_out_size(n[a], k[a], s[a], p[a]) < 1){
            snprintf(err, errlen, "key 'size': window %d on axis %s does not fit the input of size %d (pad %d)", k[a], axis[a], n[a], p[a]);
            return -1;
        }
    }
    maxpool3d_state st = {k[0], k[1], k[2], s[0], s[1], s[2], p[0], p[1], p[2]};
    *l = make_maxpool3d_layer(params.batch, in.c, in.d, in.h, in.w, st);
    int gpu_ok = 1;
#ifdef GPU
    gpu_ok = gpu_index < 0 || l->indexes_gpu;
#endif
    if(!l->plugin_state || !layer3d_buffers_ok(l) || !l->indexes || !gpu_ok) return layer3d_alloc_error(err, errlen);
    return 0;
}
