/* Tests of [conv3d] (and, compiled with C3_TRANSPOSED=1 from test_deconv3d.c, of [deconv3d]): PyTorch fixtures, weights round trip, cfg errors, chunking, SGD update and GPU vs CPU. */
#include <unistd.h>
#include <omp.h>
#include "testlib.h"
#include "darknet.h"
#include "darknet3d.h"
#include "conv3d_layer.h"
#include "deconv3d_layer.h"
#include "conv3d_common.h"
#ifdef GPU
#include "cuda.h"
#endif

#ifndef C3_TRANSPOSED
#define C3_TRANSPOSED 0
#endif
#define SECTION (C3_TRANSPOSED ? "deconv3d" : "conv3d")

/* A layer with its own network view: host input, input delta and workspace. */
typedef struct {
    layer l;
    network net;
    float *x, *dx, *ws;
    size_t nin;
} rig;

static conv3d_options opts(int filters, int kd, int kh, int kw, int sd, int sh, int sw, int pd, int ph, int pw,
                           int bn, int bias, ACTIVATION a)
{
    conv3d_options o;
    memset(&o, 0, sizeof(o));
    o.filters = filters;
    o.k[0] = kd; o.k[1] = kh; o.k[2] = kw;
    o.s[0] = sd; o.s[1] = sh; o.s[2] = sw;
    o.p[0] = pd; o.p[1] = ph; o.p[2] = pw;
    o.batch_normalize = bn; o.bias = bias; o.activation = a;
    return o;
}

static size_t cpu_ws_floats(layer l)
{
    return c3_cpu_workspace_floats(l) + 1;
}

static rig make_rig(int batch, dims3d in, conv3d_options o)
{
    rig r;
    memset(&r, 0, sizeof(r));
    r.l = C3_TRANSPOSED ? make_deconv3d_layer(batch, in, o) : make_conv3d_layer(batch, in, o);
    r.nin = (size_t)batch * in.c * dims_volume(in);
    r.x = calloc(r.nin, sizeof(float));
    r.dx = calloc(r.nin, sizeof(float));
    r.ws = calloc(cpu_ws_floats(r.l), sizeof(float));
    r.net.input = r.x;
    r.net.delta = r.dx;
    r.net.workspace = r.ws;
    r.net.batch = batch;
    return r;
}

static void free_rig(rig *r)
{
    free_layer(r->l);
    free(r->x); free(r->dx); free(r->ws);
}

static void rig_forward(rig *r, int train)
{
    r->net.train = train;
    r->l.forward(r->l, r->net);
}

static void zero_updates(layer l)
{
    conv3d_state *st = c3_state(l);
    memset(l.weight_updates, 0, l.nweights * sizeof(float));
    if(l.nbiases) memset(l.bias_updates, 0, l.nbiases * sizeof(float));
    if(l.scales) memset(l.scale_updates, 0, l.out_c * sizeof(float));
    if(st->pre_bias) memset(st->pre_b_updates, 0, l.out_c * sizeof(float));
}

/* forward, then backward of the loss sum(g * y): afterwards dx/updates hold its gradients */
static void rig_grad(rig *r, int train, const float *g)
{
    rig_forward(r, train);
    memcpy(r->l.delta, g, (size_t)r->l.batch * r->l.outputs * sizeof(float));
    memset(r->dx, 0, r->nin * sizeof(float));
    zero_updates(r->l);
    r->net.train = train;
    r->l.backward(r->l, r->net);
}

static void fill_rand(float *x, size_t n, float lo, float hi)
{
    size_t i;
    for(i = 0; i < n; ++i) x[i] = lo + (hi - lo) * rand() / (float)RAND_MAX;
}

/* the input shape the tests below share (their finite differences are rows of tests/test_layers.c) */
static dims3d fd_in(void)
{
    dims3d in = C3_TRANSPOSED ? (dims3d){3, 3, 4, 5} : (dims3d){3, 5, 6, 7};
    return in;
}

/* ---- PyTorch fixtures (scripts/fixtures_conv3d.py) ---- */
typedef struct { const char *name; int N, C, D, H, W, OC, k[3], s[3], p[3], bn, bias, relu; } fixcase;
static const fixcase FIX[] = {
#if C3_TRANSPOSED
    {"d1", 2, 3, 3, 4, 5, 4, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, 1, 1, 1},
    {"d2", 2, 3, 3, 4, 5, 4, {3, 2, 3}, {2, 1, 2}, {1, 0, 1}, 0, 1, 0},
    {"d3", 2, 3, 3, 4, 5, 2, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, 1, 0, 1},
#else
    {"c1", 2, 3, 5, 6, 7, 4, {3, 2, 3}, {1, 1, 1}, {1, 0, 1}, 0, 1, 0},
    {"c2", 2, 3, 5, 6, 7, 4, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, 1, 1, 1},
    {"c3", 2, 3, 5, 6, 7, 5, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, 1, 0, 0},
    {"c4", 2, 3, 5, 6, 7, 4, {2, 3, 2}, {2, 1, 2}, {0, 1, 1}, 0, 0, 0},
#endif
};

static float *fix(const char *c, const char *t, size_t want)
{
    char path[256];
    float *x = 0;
    snprintf(path, sizeof(path), "tests/fixtures/conv3d/%s_%s.bin", c, t);
    if(fixture_f32(path, (long)want, &x) != (long)want) return 0;
    return x;
}

static void cmp(const char *c, const char *what, const float *a, const char *t, size_t n)
{
    float *ref = fix(c, t, n);
    CHECK_MSG(ref != 0, "%s: missing fixture %s", c, t);
    if(!ref) return;
    double e = max_rel_err(a, ref, n, 1e-6);
    CHECK_MSG(e <= 1e-4, "%s %s: rel err %g", c, what, e);
    free(ref);
}

static void copy_fix(float *dst, const char *c, const char *t, size_t n)
{
    float *v = fix(c, t, n);
    if(v){ memcpy(dst, v, n * sizeof(float)); free(v); }
}

static void test_pytorch_fixtures(void)
{
    size_t i;
    if(access("tests/fixtures/conv3d/c1_x.bin", R_OK) && access("tests/fixtures/conv3d/d1_x.bin", R_OK))
        SKIP("fixtures missing (run /usr/bin/python3 scripts/fixtures_conv3d.py)");
    for(i = 0; i < sizeof(FIX) / sizeof(FIX[0]); ++i){
        const fixcase *f = &FIX[i];
        dims3d in = {f->C, f->D, f->H, f->W};
        rig r = make_rig(f->N, in, opts(f->OC, f->k[0], f->k[1], f->k[2], f->s[0], f->s[1], f->s[2],
                                         f->p[0], f->p[1], f->p[2], f->bn, f->bias, f->relu ? RELU : LINEAR));
        conv3d_state *st = c3_state(r.l);
        layer l = r.l;
        size_t no = (size_t)l.batch * l.outputs, oc = l.out_c;
        copy_fix(r.x, f->name, "x", r.nin);
        copy_fix(l.weights, f->name, "w", l.nweights);
        float *g = fix(f->name, "g", no);
        CHECK(g != 0);
        if(!g){ free_rig(&r); continue; }
        if(f->bn){
            if(f->bias) copy_fix(st->pre_b, f->name, "b", oc);
            copy_fix(l.scales, f->name, "gamma", oc);
            copy_fix(l.biases, f->name, "beta", oc);
            copy_fix(l.rolling_mean, f->name, "rm0", oc);
            copy_fix(l.rolling_variance, f->name, "rv0", oc);
        }else if(f->bias){
            copy_fix(l.biases, f->name, "b", oc);
        }
        rig_grad(&r, 1, g);
        cmp(f->name, "output", l.output, "y", no);
        cmp(f->name, "input grad", r.dx, "dx", r.nin);
        cmp(f->name, "weight grad", l.weight_updates, "dw", l.nweights);
        if(f->bn){
            cmp(f->name, "gamma grad", l.scale_updates, "dgamma", oc);
            cmp(f->name, "beta grad", l.bias_updates, "dbeta", oc);
            cmp(f->name, "rolling mean", l.rolling_mean, "rm", oc);
            cmp(f->name, "rolling variance", l.rolling_variance, "rv", oc);
            if(f->bias){
                /* training-mode BN cancels the pre-BN bias: its gradient is rounding noise */
                size_t k;
                for(k = 0; k < oc; ++k) CHECK_MSG(fabsf(st->pre_b_updates[k]) < 1e-3f, "%s pre-BN bias grad %g", f->name, st->pre_b_updates[k]);
            }
            rig_grad(&r, 0, g);
            cmp(f->name, "eval output", l.output, "ey", no);
            cmp(f->name, "eval input grad", r.dx, "edx", r.nin);
            cmp(f->name, "eval weight grad", l.weight_updates, "edw", l.nweights);
            cmp(f->name, "eval gamma grad", l.scale_updates, "edgamma", oc);
            cmp(f->name, "eval beta grad", l.bias_updates, "edbeta", oc);
            if(f->bias) cmp(f->name, "eval pre-BN bias grad", st->pre_b_updates, "edb", oc);
        }else if(f->bias){
            cmp(f->name, "bias grad", l.bias_updates, "db", oc);
        }
        free(g);
        free_rig(&r);
    }
}

/* Column chunks smaller than the volume (odd, and 1) give the same results as one chunk, also when conv3d
 * runs its chunks on 2 or 3 OpenMP threads (per-thread workspace slots and weight-gradient sums). */
static void chunk_case(conv3d_options o)
{
    dims3d in = fd_in();
    int chunks[5] = {0, 7, 1, 7, 1}, threads[5] = {1, 1, 1, 2, 3}, t, omp0 = omp_get_max_threads();
    rig r = make_rig(2, in, o);
    conv3d_state *st = c3_state(r.l);
    size_t no = (size_t)r.l.batch * r.l.outputs, full = st->chunk, full_dx = st->chunk_dx;
    float *g = malloc(no * sizeof(float)), *ref = malloc((no + r.nin + r.l.nweights) * sizeof(float));
    fill_rand(g, no, -1, 1);
    fill_rand(r.x, r.nin, -1, 1);
    for(t = 0; t < 5; ++t){
        if(threads[t] > 1 && (C3_TRANSPOSED || geom3d_is_identity(&st->g))) break;   /* conv3d's threaded path only */
        st->chunk = chunks[t] ? (size_t)chunks[t] : full;
        if(full_dx) st->chunk_dx = chunks[t] ? (size_t)chunks[t] : full_dx;
        st->nthreads = threads[t];
        omp_set_num_threads(threads[t] > 1 ? threads[t] : omp0);
        free(r.ws);
        r.ws = calloc(cpu_ws_floats(r.l), sizeof(float));
        r.net.workspace = r.ws;
        rig_grad(&r, 1, g);
        if(t == 0){
            memcpy(ref, r.l.output, no * sizeof(float));
            memcpy(ref + no, r.dx, r.nin * sizeof(float));
            memcpy(ref + no + r.nin, r.l.weight_updates, r.l.nweights * sizeof(float));
            continue;
        }
        CHECK_MSG(max_rel_err(r.l.output, ref, no, 1e-6) < 1e-5, "chunk %d threads %d output", chunks[t], threads[t]);
        CHECK_MSG(max_rel_err(r.dx, ref + no, r.nin, 1e-6) < 1e-5, "chunk %d threads %d input grad", chunks[t], threads[t]);
        CHECK_MSG(max_rel_err(r.l.weight_updates, ref + no + r.nin, r.l.nweights, 1e-6) < 1e-5, "chunk %d threads %d weight grad", chunks[t], threads[t]);
    }
    omp_set_num_threads(omp0);
    free(g); free(ref);
    free_rig(&r);
}

static void test_chunking(void)
{
    chunk_case(C3_TRANSPOSED ? opts(4, 3, 2, 3, 2, 1, 2, 1, 0, 1, 1, 1, LEAKY) : opts(4, 3, 3, 2, 2, 1, 1, 1, 1, 0, 1, 1, LEAKY));
    /* stride 1: the flipped data-gradient path has its own chunks */
    chunk_case(opts(4, 3, 2, 3, 1, 1, 1, 1, 0, 2, 1, 1, LEAKY));
}

/* Darknet SGD: params += lr/batch * updates; updates *= momentum; weights also decay. */
static void test_update(void)
{
    rig r = make_rig(2, fd_in(), opts(3, 2, 2, 2, 1, 1, 1, 0, 0, 0, 1, 1, LINEAR));
    layer l = r.l;
    conv3d_state *st = c3_state(l);
    int n = l.out_c, i;
    fill_rand(l.weight_updates, l.nweights, -1, 1);
    fill_rand(l.bias_updates, n, -1, 1);
    fill_rand(l.scale_updates, n, -1, 1);
    fill_rand(st->pre_b_updates, n, -1, 1);
    float *w0 = malloc(l.nweights * sizeof(float)), *wu0 = malloc(l.nweights * sizeof(float));
    memcpy(w0, l.weights, l.nweights * sizeof(float));
    memcpy(wu0, l.weight_updates, l.nweights * sizeof(float));
    float b0 = l.biases[1], bu0 = l.bias_updates[1], s0 = l.scales[2], su0 = l.scale_updates[2];
    float p0 = st->pre_b[0], pu0 = st->pre_b_updates[0];
    update_args a = {0};
    a.batch = 4; a.learning_rate = 0.1f; a.momentum = 0.9f; a.decay = 0.01f;
    l.learning_rate_scale = 1;
    l.update(l, a);
    for(i = 0; i < l.nweights; ++i){
        float u = wu0[i] - a.decay * a.batch * w0[i];
        CHECK_NEAR(l.weights[i], w0[i] + a.learning_rate / a.batch * u, 1e-6);
        CHECK_NEAR(l.weight_updates[i], a.momentum * u, 1e-6);
    }
    CHECK_NEAR(l.biases[1], b0 + 0.025f * bu0, 1e-6);
    CHECK_NEAR(l.bias_updates[1], 0.9f * bu0, 1e-6);
    CHECK_NEAR(l.scales[2], s0 + 0.025f * su0, 1e-6);
    CHECK_NEAR(l.scale_updates[2], 0.9f * su0, 1e-6);
    CHECK_NEAR(st->pre_b[0], p0 + 0.025f * pu0, 1e-6);
    CHECK_NEAR(st->pre_b_updates[0], 0.9f * pu0, 1e-6);
    free(w0); free(wu0);
    free_rig(&r);
}

/* ---- through the registry: cfg parsing, parameter count, weights round trip, errors ---- */
static network *parse_text(const char *text, char *err)
{
    if(write_text("tests/out/c3.cfg", text)) return 0;
    return parse_network_cfg_err("tests/out/c3.cfg", err, 1024);
}

static const char *NETHDR = "[net]\nbatch=2\nchannels=2\ndepth=5\nheight=6\nwidth=7\n";

static void test_weights_roundtrip(void)
{
    char err[1024] = {0}, cfg[2048];
    snprintf(cfg, sizeof(cfg), "%s\n[conv3d]\nfilters=4\nsize=3\npad=1\nbatch_normalize=1\nactivation=relu\n"
             "\n[%s]\nfilters=3\nsize=2\nstride=2\nbatch_normalize=1\n\n[%s]\nfilters=2\nsize_d=1\nsize_h=2\nsize_w=3\nbias=1\n"
             "\n[conv3d]\nfilters=2\nsize=1\nbias=0\nbatch_normalize=1\n", NETHDR, SECTION, SECTION);
    network *a = parse_text(cfg, err);
    CHECK_MSG(a != 0, "%s", err);
    if(!a) return;
    int i;
    size_t expect = 0;
    for(i = 0; i < a->n; ++i){
        layer l = a->layers[i];
        conv3d_state *st = c3_state(l);
        CHECK(l.type == (i == 0 || i == 3 || !C3_TRANSPOSED ? CONV3D : DECONV3D));
        CHECK(st->first == (i == 0));   /* the parser marks the network's first layer (the GPU search's input gradient) */
        fill_rand(l.weights, l.nweights, -1, 1);
        if(l.nbiases) fill_rand(l.biases, l.nbiases, -1, 1);
        if(l.scales){
            fill_rand(l.scales, l.out_c, -1, 1);
            fill_rand(l.rolling_mean, l.out_c, -1, 1);
            fill_rand(l.rolling_variance, l.out_c, 0, 1);
        }
        if(st->pre_bias) fill_rand(st->pre_b, l.out_c, -1, 1);
        expect += (size_t)l.nweights + l.nbiases + (l.batch_normalize ? 3 * l.out_c : 0) + (st->pre_bias ? l.out_c : 0);
    }
    /* parameters as PyTorch counts them: conv weight + conv bias + BN weight and bias */
    size_t k0 = 4 * 2 * 27, k1 = 4 * 3 * 8, k2 = 3 * 2 * 6, k3 = 2 * 2;
    CHECK(network_param_count(a) == k0 + 3 * 4 + k1 + 3 * 3 + k2 + 2 + k3 + 2 * 2);
    save_weights(a, "tests/out/c3.weights");
    FILE *f = fopen("tests/out/c3.weights", "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    CHECK_MSG(size == (long)(3 * sizeof(int) + sizeof(size_t) + expect * sizeof(float)), "size %ld", size);
    network *b = parse_text(cfg, err);
    CHECK(b && load_weights_upto_err(b, "tests/out/c3.weights", 0, b->n, err, sizeof(err)) == 0);
    for(i = 0; b && i < a->n; ++i){
        layer x = a->layers[i], y = b->layers[i];
        CHECK(memcmp(x.weights, y.weights, x.nweights * sizeof(float)) == 0);
        if(x.nbiases) CHECK(memcmp(x.biases, y.biases, x.nbiases * sizeof(float)) == 0);
        if(x.scales){
            CHECK(memcmp(x.scales, y.scales, x.out_c * sizeof(float)) == 0);
            CHECK(memcmp(x.rolling_mean, y.rolling_mean, x.out_c * sizeof(float)) == 0);
            CHECK(memcmp(x.rolling_variance, y.rolling_variance, x.out_c * sizeof(float)) == 0);
        }
        if(c3_state(x)->pre_bias) CHECK(memcmp(c3_state(x)->pre_b, c3_state(y)->pre_b, x.out_c * sizeof(float)) == 0);
    }
    if(b) free_network(b);
    /* a truncated file is an error naming the layer */
    CHECK(truncate("tests/out/c3.weights", size - 4) == 0);
    b = parse_text(cfg, err);
    CHECK(b && load_weights_upto_err(b, "tests/out/c3.weights", 0, b->n, err, sizeof(err)) != 0);
    CHECK_MSG(strstr(err, "layer 3"), "%s", err);
    if(b) free_network(b);
    free_network(a);
}

static void expect_error(const char *body, const char *needle)
{
    char err[1024] = {0}, cfg[2048];
    snprintf(cfg, sizeof(cfg), "%s\n[%s]\n%s", NETHDR, SECTION, body);
    network *n = parse_text(cfg, err);
    CHECK_MSG(n == 0, "accepted: %s", body);
    if(n){ free_network(n); return; }
    CHECK_MSG(strstr(err, needle) != 0, "error for '%s' lacks '%s': %s", body, needle, err);
}

static void test_cfg_errors(void)
{
    expect_error("size=3\n", "missing required key 'filters'");
    expect_error("filters=4\n", "missing required key 'size'");
    expect_error("filters=4\nsize_d=3\nsize_h=3\n", "missing required key 'size'");
    expect_error("filters=0\nsize=3\n", "'filters'");
    expect_error("filters=4\nsize=0\n", "'size'");
    expect_error("filters=4\nsize=3x\n", "expected an integer");
    expect_error("filters=4\nsize=3\nstride=0\n", "'stride'");
    expect_error("filters=4\nsize=3\nstride_w=-2\n", "'stride_w'");
    expect_error("filters=4\nsize=3\npad=-1\n", "'pad'");
    expect_error("filters=4\nsize=3\nbatch_normalize=2\n", "'batch_normalize'");
    expect_error("filters=4\nsize=3\nbias=yes\n", "'bias'");
    expect_error("filters=4\nsize=3\nactivation=swish\n", "'activation'");
    expect_error("filters=4\nsize=3\nsizes=2\n", "unknown key 'sizes'");
    expect_error("filters=4\nsize=3\nsize=3\n", "given twice");
    if(C3_TRANSPOSED) expect_error("filters=4\nsize=2\npad=3\n", "'pad'");
    else expect_error("filters=4\nsize=9\n", "'size'");
    /* a valid per-axis section parses: size_d/h/w override the missing cubic key */
    char err[1024] = {0}, cfg[2048];
    snprintf(cfg, sizeof(cfg), "%s\n[%s]\nfilters=4\nsize_d=1\nsize_h=3\nsize_w=2\nstride_h=2\npad_w=1\n", NETHDR, SECTION);
    network *n = parse_text(cfg, err);
    CHECK_MSG(n != 0, "%s", err);
    if(n){
        layer l = n->layers[0];
        conv3d_state *st = c3_state(l);
        CHECK(st->g.kd == 1 && st->g.kh == 3 && st->g.kw == 2 && st->g.sh == 2 && st->g.sd == 1 && st->g.pw == 1 && st->g.pd == 0);
        if(C3_TRANSPOSED) CHECK(l.out_d == 5 && l.out_h == 5 * 13 && l.out_w == 6);
        else CHECK(l.out_d == 5 && l.out_h == 5 * 2 && l.out_w == 8);
        free_network(n);
    }
}

static void test_resize_layer(void)
{
    dims3d in = fd_in();
    rig r = make_rig(2, in, C3_TRANSPOSED ? opts(3, 2, 2, 2, 2, 2, 2, 0, 0, 0, 1, 1, RELU) : opts(3, 3, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1, RELU));
    CHECK(C3_TRANSPOSED ? resize_deconv3d_layer(&r.l, 4, 3, 6) == 0 : resize_conv3d_layer(&r.l, 7, 9, 4) == 0);
    dims3d o = out_dims(r.l);
    if(C3_TRANSPOSED) CHECK(o.d == 8 && o.h == 6 && o.w == 12);
    else CHECK(o.d == 4 && o.h == 5 && o.w == 2);
    CHECK(r.l.inputs == (C3_TRANSPOSED ? 3 * 4 * 3 * 6 : 3 * 7 * 9 * 4));
    CHECK(r.l.outputs == 3 * o.d * o.h * o.w);
    /* runs at the new size */
    free(r.x); free(r.dx); free(r.ws);
    r.nin = (size_t)2 * r.l.inputs;
    r.x = calloc(r.nin, sizeof(float)); r.dx = calloc(r.nin, sizeof(float)); r.ws = calloc(cpu_ws_floats(r.l), sizeof(float));
    r.net.input = r.x; r.net.delta = r.dx; r.net.workspace = r.ws;
    fill_rand(r.x, r.nin, -1, 1);
    float *g = calloc((size_t)2 * r.l.outputs, sizeof(float));
    fill_rand(g, (size_t)2 * r.l.outputs, -1, 1);
    rig_grad(&r, 1, g);
    free(g);
    free_rig(&r);
    /* a size the kernel no longer fits is refused, the layer unchanged */
    if(!C3_TRANSPOSED){
        r = make_rig(1, in, opts(2, 3, 3, 3, 1, 1, 1, 0, 0, 0, 0, 1, LINEAR));
        CHECK(resize_conv3d_layer(&r.l, 2, 5, 5) == -1);
        CHECK(r.l.out_d == 3 && r.l.out_w == 5);
        free_rig(&r);
    }
}

/* ---- GPU against CPU on odd shapes (needs a CUDA device) ---- */
static void test_gpu_vs_cpu(void)
{
#ifndef GPU
    SKIP("CPU build");
#else
    if(!darknet3d_gpu_available(0)) SKIP("no CUDA device");
    gpu_index = 0;
    cuda_set_device(0);
    int ncase, train;
    for(ncase = 0; ncase < 3; ++ncase){
        dims3d in = C3_TRANSPOSED ? (dims3d){5, 3, 7, 9} : (dims3d){5, 7, 9, 11};
        conv3d_options o = ncase == 0 ? opts(6, 3, 2, 3, 2, 1, 2, 1, 0, 1, 1, 1, LEAKY)
                         : ncase == 1 ? opts(3, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 1, LOGISTIC)
                                      : opts(7, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, RELU);
        for(train = 1; train >= 0; --train){
            rig r = make_rig(3, in, o);
            layer l = r.l;
            conv3d_state *st = c3_state(l);
            size_t no = (size_t)l.batch * l.outputs, oc = l.out_c;
            float *g = malloc(no * sizeof(float));
            fill_rand(g, no, -1, 1);
            fill_rand(r.x, r.nin, -1, 1);
            if(l.nbiases) fill_rand(l.biases, oc, -0.5f, 0.5f);
            if(l.scales){ fill_rand(l.scales, oc, 0.5f, 1.5f); fill_rand(l.rolling_mean, oc, -0.5f, 0.5f); fill_rand(l.rolling_variance, oc, 0.5f, 1.5f); }
            if(st->pre_bias) fill_rand(st->pre_b, oc, -0.5f, 0.5f);
            zero_updates(l);
            c3_push(l);
            float *rm0 = calloc(oc, sizeof(float)), *rv0 = calloc(oc, sizeof(float));
            if(l.scales){ memcpy(rm0, l.rolling_mean, oc * sizeof(float)); memcpy(rv0, l.rolling_variance, oc * sizeof(float)); }
            /* CPU reference */
            rig_grad(&r, train, g);
            size_t nres = no + r.nin + l.nweights + 5 * oc;
            float *cpu = calloc(nres, sizeof(float)), *gpu = calloc(nres, sizeof(float));
#define GATHER(dst) do { float *q = dst; memcpy(q, l.output, no * 4); q += no; memcpy(q, r.dx, r.nin * 4); q += r.nin; \
            memcpy(q, l.weight_updates, l.nweights * 4); q += l.nweights; if(l.nbiases) memcpy(q, l.bias_updates, oc * 4); q += oc; \
            if(l.scales){ memcpy(q, l.scale_updates, oc * 4); memcpy(q + oc, l.rolling_mean, oc * 4); memcpy(q + 2 * oc, l.rolling_variance, oc * 4); } q += 3 * oc; \
            if(st->pre_bias) memcpy(q, st->pre_b_updates, oc * 4); } while(0)
            GATHER(cpu);
            /* GPU run from the same state */
            network net = r.net;
            net.train = train;
            net.input_gpu = cuda_make_array(r.x, r.nin);
            memset(r.dx, 0, r.nin * sizeof(float));
            net.delta_gpu = cuda_make_array(r.dx, r.nin);
            net.workspace = l.workspace_size ? cuda_make_array(0, l.workspace_size / sizeof(float) + 1) : 0;
            layer3d_push(l.rolling_mean_gpu, rm0, l.scales ? oc : 0);
            layer3d_push(l.rolling_variance_gpu, rv0, l.scales ? oc : 0);
            l.forward_gpu(l, net);
            cuda_push_array(l.delta_gpu, g, no);
            l.backward_gpu(l, net);
            cuda_pull_array(l.output_gpu, l.output, no);
            cuda_pull_array(net.delta_gpu, r.dx, r.nin);
            c3_pull(l);
            GATHER(gpu);
            CHECK_MSG(max_rel_err(gpu, cpu, no, 1e-6) < 1e-4, "case %d train %d output %g", ncase, train, max_rel_err(gpu, cpu, no, 1e-6));
            CHECK_MSG(max_rel_err(gpu + no, cpu + no, r.nin, 1e-6) < 1e-4, "case %d train %d input grad", ncase, train);
            CHECK_MSG(max_rel_err(gpu + no + r.nin, cpu + no + r.nin, nres - no - r.nin, 1e-6) < 1e-4, "case %d train %d parameter grads / rolling stats", ncase, train);
            cuda_free(net.input_gpu); cuda_free(net.delta_gpu); if(net.workspace) cuda_free(net.workspace);
            free(cpu); free(gpu); free(g); free(rm0); free(rv0);
            free_rig(&r);
        }
    }
    gpu_index = -1;
#endif
}

int main(void)
{
    darknet3d_init();
    darknet3d_gpu_available(0);
    srand(12345);
    if(system("mkdir -p tests/out")) return 1;
    RUN(test_pytorch_fixtures);
    RUN(test_chunking);
    RUN(test_update);
    RUN(test_weights_roundtrip);
    RUN(test_cfg_errors);
    RUN(test_resize_layer);
    RUN(test_gpu_vs_cpu);
    TEST_MAIN_END();
}
