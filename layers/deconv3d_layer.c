/* [deconv3d]: transposed 3D convolution (PyTorch ConvTranspose3d semantics) with optional batch-norm inside the layer and a Darknet activation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "deconv3d_layer.h"
#include "conv3d_onednn.h"
#include "layers3d.h"

dims3d deconv3d_out_dims(dims3d in, const conv3d_options *o)
{
    int n[3] = {in.d, in.h, in.w}, r[3], i;
    for(i = 0; i < 3; ++i){
        r[i] = (n[i] - 1) * o->s[i] - 2 * o->p[i] + o->k[i];
        if(r[i] < 0) r[i] = 0;
    }
    dims3d out = {o->filters, r[0], r[1], r[2]};
    return out;
}

/* The transposed convolution is the adjoint of a convolution from the OUTPUT volume (the
 * "image") to the input positions, so vol2col/col2vol and cuDNN see that convolution. */
static geom3d deconv_geom(dims3d in, dims3d out, const int k[3], const int s[3], const int p[3])
{
    geom3d g = {out.c, out.d, out.h, out.w, in.d, in.h, in.w, k[0], k[1], k[2], s[0], s[1], s[2], p[0], p[1], p[2]};
    return g;
}

layer make_deconv3d_layer(int batch, dims3d in, conv3d_options o)
{
    layer l = {0};
    l.type = DECONV3D;
    dims3d out = deconv3d_out_dims(in, &o);
    geom3d g = deconv_geom(in, out, o.k, o.s, o.p);
    /* PyTorch's fan-in of a ConvTranspose3d weight is out_c * k^3 */
    int fan_in = o.filters * o.k[0] * o.k[1] * o.k[2];
    if(c3_init(&l, batch, in, out, g, 1, o.batch_normalize, o.bias, o.activation, fan_in)){
        free_layer(l);
        layer empty = {0};
        return empty;
    }
    l.forward = forward_deconv3d_layer;
    l.backward = backward_deconv3d_layer;
    l.update = update_deconv3d_layer;
#ifdef ONEDNN
    conv3d_onednn_setup(&l);
#endif
#ifdef GPU
    l.forward_gpu = forward_deconv3d_layer_gpu;
    l.backward_gpu = backward_deconv3d_layer_gpu;
    l.update_gpu = update_deconv3d_layer_gpu;
    if(gpu_index >= 0) c3_cudnn_setup(&l);
#endif
    double gflop = 2.0 * l.nweights * dims_volume(in) / 1e9;
    fprintf(stderr, "deconv3d %4d %dx%dx%d/%dx%dx%d p%dx%dx%d%s %4d x%4d x%4d x%4d -> %4d x%4d x%4d x%4d %6.3f BFLOPs\n",
            o.filters, o.k[0], o.k[1], o.k[2], o.s[0], o.s[1], o.s[2], o.p[0], o.p[1], o.p[2], o.batch_normalize ? " bn" : "",
            in.c, in.d, in.h, in.w, out.c, out.d, out.h, out.w, gflop);
    return l;
}

void forward_deconv3d_layer(layer l, network net)
{
    conv3d_state *st = c3_state(l);
    const geom3d *g = &st->g;
    const int K = (int)geom3d_rows(g), C = l.c;
    const size_t P = geom3d_positions(g);
    const int ident = geom3d_is_identity(g);
    int b;
#ifdef ONEDNN
    if(conv3d_onednn_forward(l, net) == 0){ c3_post_forward(l, net); return; }
#endif
    for(b = 0; b < l.batch; ++b){
        const float *x = net.input + (size_t)b * l.inputs;
        float *y = l.output + (size_t)b * l.outputs;
        if(ident){
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l.out_c, (int)P, C, 1.f, l.weights, l.out_c, x, (int)P, 0.f, y, (int)P);
            continue;
        }
        memset(y, 0, (size_t)l.outputs * sizeof(float));
        size_t p0;
        for(p0 = 0; p0 < P; p0 += st->chunk){
            size_t np = P - p0 < st->chunk ? P - p0 : st->chunk;
            /* col = W^T * X, scattered into the output volume */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, (int)np, C, 1.f, l.weights, K, x + p0, (int)P, 0.f, net.workspace, (int)np);
            col2vol_cpu(net.workspace, g, p0, np, y);
        }
    }
    c3_post_forward(l, net);
}

void backward_deconv3d_layer(layer l, network net)
{
    conv3d_state *st = c3_state(l);
    const geom3d *g = &st->g;
    const int K = (int)geom3d_rows(g), C = l.c;
    const size_t P = geom3d_positions(g);
    const int ident = geom3d_is_identity(g);
    int b;
    c3_post_backward(l, net);
#ifdef ONEDNN
    if(conv3d_onednn_backward(l, net) == 0) return;
#endif
    for(b = 0; b < l.batch; ++b){
        const float *x = net.input + (size_t)b * l.inputs;
        const float *dy = l.delta + (size_t)b * l.outputs;
        float *dx = net.delta ? net.delta + (size_t)b * l.inputs : 0;
        size_t p0;
        for(p0 = 0; p0 < P; p0 += st->chunk){
            size_t np = P - p0 < st->chunk ? P - p0 : st->chunk;
            const float *B = dy + p0;
            int ldb = (int)P;
            if(!ident){ vol2col_cpu(dy, g, p0, np, net.workspace); B = net.workspace; ldb = (int)np; }
            /* dW += X * col(dY)^T ; dX += W * col(dY) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, C, K, (int)np, 1.f, x + p0, (int)P, B, ldb, 1.f, l.weight_updates, K);
            if(dx) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, C, (int)np, K, 1.f, l.weights, K, B, ldb, 1.f, dx + p0, (int)P);
        }
    }
}

void update_deconv3d_layer(layer l, update_args a) { c3_update(l, a); }
void save_deconv3d_weights(layer l, FILE *fp) { c3_save(l, fp); }
int load_deconv3d_weights(layer l, FILE *fp) { return c3_load(l, fp); }

int resize_deconv3d_layer(layer *l, int d, int h, int w)
{
    conv3d_state *st = c3_state(*l);
    conv3d_options o = {0};
    o.filters = l->out_c;
    o.k[0] = st->g.kd; o.k[1] = st->g.kh; o.k[2] = st->g.kw;
    o.s[0] = st->g.sd; o.s[1] = st->g.sh; o.s[2] = st->g.sw;
    o.p[0] = st->g.pd; o.p[1] = st->g.ph; o.p[2] = st->g.pw;
    dims3d in = {l->c, d, h, w};
    dims3d out = deconv3d_out_dims(in, &o);
    if(out.d < 1 || out.h < 1 || out.w < 1) return -1;
    st->g = deconv_geom(in, out, o.k, o.s, o.p);
    l->d = d; l->h = d * h; l->w = w;
    l->out_d = out.d; l->out_h = out.d * out.h; l->out_w = out.w;
    c3_alloc_buffers(l);
#ifdef ONEDNN
    conv3d_onednn_setup(l);
#endif
#ifdef GPU
    if(gpu_index >= 0) c3_cudnn_setup(l);
#endif
    return 0;
}

int parse_deconv3d_section(list *options, size_params params, layer *l, char *err, size_t errlen)
{
    dims3d in;
    conv3d_options o;
    if(params_dims(params, &in, err, errlen)) return -1;
    if(conv3d_read_options(options, "[deconv3d]", &o, err, errlen)) return -1;
    if(c3_check_run(params, err, errlen)) return -1;
    dims3d out = deconv3d_out_dims(in, &o);
    if(out.d < 1 || out.h < 1 || out.w < 1){
        snprintf(err, errlen, "key 'pad': output (in-1)*stride - 2*pad + size is empty for input %dx%dx%d", in.d, in.h, in.w);
        return -1;
    }
    *l = make_deconv3d_layer(params.batch, in, o);
    if(!l->weights){ snprintf(err, errlen, "out of memory"); return -1; }
    return 0;
}
