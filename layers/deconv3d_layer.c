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

static const c3_kind deconv_kind = {
    "deconv3d", &DECONV3D, 1, deconv3d_out_dims, forward_deconv3d_layer, backward_deconv3d_layer, update_deconv3d_layer,
#ifdef GPU
    forward_deconv3d_layer_gpu, backward_deconv3d_layer_gpu, update_deconv3d_layer_gpu,
#endif
};

layer make_deconv3d_layer(int batch, dims3d in, conv3d_options o) { return c3_make_layer(batch, in, o, &deconv_kind); }

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
int save_deconv3d_weights(layer l, FILE *fp) { return c3_save(l, fp); }
int load_deconv3d_weights(layer l, FILE *fp) { return c3_load(l, fp); }

int resize_deconv3d_layer(layer *l, int d, int h, int w) { return c3_resize_layer(l, d, h, w, &deconv_kind); }

int parse_deconv3d_section(list *options, size_params params, layer *l, char *err, size_t errlen)
{
    return c3_parse_section(options, params, l, &deconv_kind, err, errlen);
}
