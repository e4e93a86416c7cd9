/* Runs the CPU convolutions of [conv3d] and [deconv3d] (forward, backward-data, backward-weights) through oneDNN primitives cached per layer, in oneDNN's blocked layouts with the reorders from and to our buffers. */
#ifdef ONEDNN
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dnnl.h>
#include "conv3d_onednn.h"
#include "conv3d_common.h"
#include "conv3d_wgrad_avx2.h"

/* One engine and one stream for the process (oneDNN's CPU engine runs on OpenMP and so follows OMP_NUM_THREADS). */
static dnnl_engine_t engine;
static dnnl_stream_t stream;
static int engine_state;    /* 0: not tried, 1: ready, -1: failed */
static int noted;

static void note(const char *what, dnnl_status_t s, const layer *l)
{
    if(noted) return;
    noted = 1;
    fprintf(stderr, "conv3d: oneDNN %s failed (status %d) at %d -> %d channels; this layer uses the vol2col + sgemm path\n",
            what, (int)s, l->c, l->out_c);
}

static int engine_ready(const layer *l)
{
    if(engine_state == 0){
        dnnl_status_t s = dnnl_engine_create(&engine, dnnl_cpu, 0);
        if(s == dnnl_success){
            s = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags);
            if(s != dnnl_success){ dnnl_engine_destroy(engine); engine = 0; }
        }
        engine_state = s == dnnl_success ? 1 : -1;
        if(s != dnnl_success) note("engine creation", s, l);
    }
    return engine_state == 1;
}

/* One tensor argument of a primitive. user: our buffer in the plain layout. prim: the primitive's own layout, a
 * copy at off floats into the (64-byte aligned) workspace, NULL when the layouts are equal. reorder: user -> prim
 * for inputs, prim -> user for outputs (accumulating when the port was made with sum). shared: prim is filled by
 * another port (same layout, same offset), so this one runs no reorder. add: a sum port whose accumulation is our
 * own add of a plain copy (n floats at add_off) into user, because oneDNN's summing reorders of weights are slow;
 * the copy is prim itself when the layouts are equal (reorder NULL), else reorder fills it from prim. */
typedef struct {
    dnnl_memory_t user, prim, plain;
    dnnl_primitive_t reorder;
    size_t off, add_off, n;
    int shared, add;
} port;

typedef struct {
    int batch;
    dnnl_primitive_t fwd, bwd_w, bwd_d;
    port fx, fw, fy;        /* forward: src, weights, dst */
    port wx, wdy, wdw;      /* backward-weights: src, diff_dst, diff_weights (always a copy, summed into weight_updates) */
    port ddy, dw, ddx;      /* backward-data: diff_dst, weights, diff_src (always a copy, summed into net.delta) */
    size_t fwd_floats, bwd_floats;
    int forward_only;
    int wgrad_gemm;         /* oneDNN chose im2col + GEMM for bwd_w */
} c3dnn;

static void port_free(port *p)
{
    if(p->reorder) dnnl_primitive_destroy(p->reorder);
    if(p->prim) dnnl_memory_destroy(p->prim);
    if(p->plain) dnnl_memory_destroy(p->plain);
    if(p->user) dnnl_memory_destroy(p->user);
    memset(p, 0, sizeof(*p));
}

static void dnn_free(c3dnn *d)
{
    if(!d) return;
    if(d->fwd) dnnl_primitive_destroy(d->fwd);
    if(d->bwd_w) dnnl_primitive_destroy(d->bwd_w);
    if(d->bwd_d) dnnl_primitive_destroy(d->bwd_d);
    port *ps[9] = {&d->fx, &d->fw, &d->fy, &d->wx, &d->wdy, &d->wdw, &d->ddy, &d->dw, &d->ddx};
    int i;
    for(i = 0; i < 9; ++i) port_free(ps[i]);
    free(d);
}

/* floats of a layout, rounded up to 64 bytes so every copy starts aligned */
static size_t md_floats(const dnnl_memory_desc_t *md)
{
    size_t n = (dnnl_memory_desc_get_size(md) + sizeof(float) - 1) / sizeof(float);
    return (n + 15) & ~(size_t)15;
}

/* in: the reorder goes user -> prim, else prim -> user; sum: it adds into the user buffer (SUM_ADD: by our add of
 * a plain copy, for weights); copy: a prim copy even when the layouts are equal. *cursor: the next free float of
 * the workspace region. */
enum { SUM_REORDER = 1, SUM_ADD = 2 };
static dnnl_status_t port_init(port *p, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *want,
                               int in, int sum, int copy, size_t *cursor)
{
    dnnl_status_t s = dnnl_memory_create(&p->user, user_md, engine, DNNL_MEMORY_NONE);
    if(s != dnnl_success) return s;
    const int equal = dnnl_memory_desc_equal(user_md, want);
    if(!copy && equal) return dnnl_success;
    if((s = dnnl_memory_create(&p->prim, want, engine, DNNL_MEMORY_NONE)) != dnnl_success) return s;
    p->off = *cursor;
    *cursor += md_floats(want);
    if(sum == SUM_ADD){
        p->add = 1;
        p->n = dnnl_memory_desc_get_size(user_md) / sizeof(float);
        p->add_off = p->off;
        if(equal) return dnnl_success;
        if((s = dnnl_memory_create(&p->plain, user_md, engine, DNNL_MEMORY_NONE)) != dnnl_success) return s;
        p->add_off = *cursor;
        *cursor += md_floats(user_md);
        sum = 0;
    }
    dnnl_primitive_attr_t attr = 0;
    dnnl_post_ops_t po = 0;
    if(sum){
        if((s = dnnl_primitive_attr_create(&attr)) != dnnl_success) return s;
        if((s = dnnl_post_ops_create(&po)) == dnnl_success && (s = dnnl_post_ops_append_sum(po, 1.f)) == dnnl_success)
            s = dnnl_primitive_attr_set_post_ops(attr, po);
        if(po) dnnl_post_ops_destroy(po);
        if(s != dnnl_success){ dnnl_primitive_attr_destroy(attr); return s; }
    }
    dnnl_primitive_desc_t pd;
    s = in ? dnnl_reorder_primitive_desc_create(&pd, user_md, engine, want, engine, attr)
           : dnnl_reorder_primitive_desc_create(&pd, want, engine, user_md, engine, attr);
    if(attr) dnnl_primitive_attr_destroy(attr);
    if(s != dnnl_success) return s;
    s = dnnl_primitive_create(&p->reorder, pd);
    dnnl_primitive_desc_destroy(pd);
    return s;
}

/* p shares the copy that q (an input port made earlier in the same region) fills, when they want one layout */
static dnnl_status_t port_share(port *p, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *want, const port *q,
                                size_t *cursor)
{
    const dnnl_memory_desc_t *qmd;
    if(q->prim && dnnl_memory_get_memory_desc(q->prim, &qmd) == dnnl_success && dnnl_memory_desc_equal(qmd, want)){
        dnnl_status_t s = dnnl_memory_create(&p->user, user_md, engine, DNNL_MEMORY_NONE);
        if(s != dnnl_success) return s;
        if((s = dnnl_memory_create(&p->prim, want, engine, DNNL_MEMORY_NONE)) != dnnl_success) return s;
        p->off = q->off;
        p->shared = 1;
        return dnnl_success;
    }
    return port_init(p, user_md, want, 1, 0, 0, cursor);
}

static dnnl_status_t make_prim(dnnl_primitive_desc_t *pd, dnnl_primitive_t *prim, const_dnnl_op_desc_t desc,
                               const_dnnl_primitive_desc_t hint)
{
    dnnl_status_t s = dnnl_primitive_desc_create(pd, desc, NULL, engine, hint);
    if(s != dnnl_success){ *pd = 0; return s; }
    return dnnl_primitive_create(prim, *pd);
}

/* the name of the implementation oneDNN chose for pd ("" when it does not say) */
static const char *impl_of(const_dnnl_primitive_desc_t pd)
{
    const char *impl = 0;
    return dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl ? impl : "";
}

/* Thin layers (fewer than 16 channels on a side, as in LA-mini's and the demo's 8- and 4-filter networks) run their
 * data gradient, and their weight gradient where oneDNN chose im2col+gemm for it, in the channels-last layout when
 * oneDNN has a JIT kernel for it there. oneDNN's own choice pads the channels to its 16-channel blocks for the data
 * gradient and takes im2col+gemm in the plain layout for some weight gradients; at 8->8 channels, 48x48x32, batch
 * 4, one thread: data gradient 27 -> 12 ms, weight gradient 77 -> 13 ms per call, plus about 2 ms per reorder
 * (docs/performance.md, "Sixth CPU pass"). weights: 1 for the weight gradient, else the data gradient. *pd and
 * *prim are replaced only when the channels-last one is made. */
static void thin_channels_last(int weights, dnnl_primitive_desc_t *pd, dnnl_primitive_t *prim, const dnnl_dims_t xs,
                               const dnnl_dims_t ys, const dnnl_memory_desc_t *aw, const dnnl_dims_t strides,
                               const dnnl_dims_t pl, const dnnl_dims_t pr, const_dnnl_primitive_desc_t fpd)
{
    if(xs[1] >= 16 && ys[1] >= 16) return;
    if(weights && !strstr(impl_of(*pd), "gemm")) return;
    dnnl_memory_desc_t cx, cy;
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t cpd = 0;
    dnnl_primitive_t alt = 0;
    if(dnnl_memory_desc_init_by_tag(&cx, 5, xs, dnnl_f32, dnnl_ndhwc) != dnnl_success ||
       dnnl_memory_desc_init_by_tag(&cy, 5, ys, dnnl_f32, dnnl_ndhwc) != dnnl_success) return;
    dnnl_status_t s = weights
        ? dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, &cx, aw, NULL, &cy, strides, pl, pr)
        : dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, &cx, aw, &cy, strides, pl, pr);
    if(s != dnnl_success || dnnl_primitive_desc_create(&cpd, &cd, NULL, engine, fpd) != dnnl_success) return;
    if(strncmp(impl_of(cpd), "jit", 3) || dnnl_primitive_create(&alt, cpd) != dnnl_success){
        dnnl_primitive_desc_destroy(cpd);
        return;
    }
    dnnl_primitive_destroy(*prim);
    dnnl_primitive_desc_destroy(*pd);
    *prim = alt;
    *pd = cpd;
}

#define TRY(w, x) do { *what = (w); if((s = (x)) != dnnl_success) goto done; } while(0)

static dnnl_status_t build(c3dnn *d, const layer *l, const char **what)
{
    const conv3d_state *cs = c3_state(*l);
    const geom3d *g = &cs->g;
    /* the correlation g: image (g->c channels) -> positions (pc channels); [deconv3d] is its adjoint, with the
     * same weights [positions][image][k] (PyTorch's ConvTranspose3d layout) */
    const int tr = cs->transposed, pc = tr ? l->c : l->out_c;
    const int n[3] = {g->d, g->h, g->w}, o[3] = {g->od, g->oh, g->ow}, k[3] = {g->kd, g->kh, g->kw};
    const int st[3] = {g->sd, g->sh, g->sw}, pad[3] = {g->pd, g->ph, g->pw};
    dnnl_dims_t xs = {l->batch, g->c, g->d, g->h, g->w}, ys = {l->batch, pc, g->od, g->oh, g->ow};
    dnnl_dims_t wsz = {pc, g->c, g->kd, g->kh, g->kw}, strides, pl, pr;
    int i;
    for(i = 0; i < 3; ++i){
        /* PyTorch's floor: the right padding is only what the last output position reads */
        int r = (o[i] - 1) * st[i] + k[i] - n[i] - pad[i];
        strides[i] = st[i]; pl[i] = pad[i]; pr[i] = r > 0 ? r : 0;
    }
    dnnl_memory_desc_t ux, uy, uw, ax, ay, aw;
    dnnl_convolution_desc_t fd, bd, wd;
    dnnl_primitive_desc_t fpd = 0, bpd = 0, wpd = 0;
    dnnl_status_t s;
    d->batch = l->batch;
    TRY("memory descriptors", dnnl_memory_desc_init_by_tag(&ux, 5, xs, dnnl_f32, dnnl_ncdhw));
    TRY("memory descriptors", dnnl_memory_desc_init_by_tag(&uy, 5, ys, dnnl_f32, dnnl_ncdhw));
    TRY("memory descriptors", dnnl_memory_desc_init_by_tag(&uw, 5, wsz, dnnl_f32, dnnl_oidhw));
    TRY("memory descriptors", dnnl_memory_desc_init_by_tag(&ax, 5, xs, dnnl_f32, dnnl_format_tag_any));
    TRY("memory descriptors", dnnl_memory_desc_init_by_tag(&ay, 5, ys, dnnl_f32, dnnl_format_tag_any));
    TRY("memory descriptors", dnnl_memory_desc_init_by_tag(&aw, 5, wsz, dnnl_f32, dnnl_format_tag_any));
    TRY("forward descriptor",
        dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &ax, &aw, NULL, &ay, strides, pl, pr));
    TRY("forward primitive", make_prim(&fpd, &d->fwd, &fd, NULL));
    TRY("backward-data descriptor",
        dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &ax, &aw, &ay, strides, pl, pr));
    TRY("backward-data primitive", make_prim(&bpd, &d->bwd_d, &bd, fpd));
    thin_channels_last(0, &bpd, &d->bwd_d, xs, ys, &aw, strides, pl, pr, fpd);
    TRY("backward-weights descriptor",
        dnnl_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct, &ax, &aw, NULL, &ay, strides, pl, pr));
    TRY("backward-weights primitive", make_prim(&wpd, &d->bwd_w, &wd, fpd));
    thin_channels_last(1, &wpd, &d->bwd_w, xs, ys, &aw, strides, pl, pr, fpd);
    d->wgrad_gemm = strstr(impl_of(wpd), "gemm") != 0;

    size_t cur = 0;
    *what = "reorder";
    TRY("reorder", port_init(&d->fx, &ux, dnnl_primitive_desc_query_md(fpd, dnnl_query_src_md, 0), 1, 0, 0, &cur));
    TRY("reorder", port_init(&d->fw, &uw, dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0), 1, 0, 0, &cur));
    /* [deconv3d] adds the forward correlation into net.delta */
    TRY("reorder", port_init(&d->fy, &uy, dnnl_primitive_desc_query_md(fpd, dnnl_query_dst_md, 0), 0, tr ? SUM_REORDER : 0, tr, &cur));
    d->fwd_floats = cur;
    /* The backward region: first the copies that outlive the weight gradient (diff_dst, which the data gradient
     * shares, and the weight gradient's copy, summed after the data gradient), then src, which only the weight
     * gradient reads: the data gradient runs after it, so its copies start where src's did. */
    cur = 0;
    TRY("reorder", port_init(&d->wdy, &uy, dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_dst_md, 0), 1, 0, 0, &cur));
    TRY("reorder", port_init(&d->wdw, &uw, dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_weights_md, 0), 0, SUM_ADD, 1, &cur));
    const size_t kept = cur;
    TRY("reorder", port_init(&d->wx, &ux, dnnl_primitive_desc_query_md(wpd, dnnl_query_src_md, 0), 1, 0, 0, &cur));
    const size_t wgrad_end = cur;
    cur = kept;
    if(tr) TRY("reorder", port_init(&d->ddy, &uy, dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_dst_md, 0), 1, 0, 0, &cur));
    else TRY("reorder", port_share(&d->ddy, &uy, dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_dst_md, 0), &d->wdy, &cur));
    TRY("reorder", port_init(&d->dw, &uw, dnnl_primitive_desc_query_md(bpd, dnnl_query_weights_md, 0), 1, 0, 0, &cur));
    TRY("reorder", port_init(&d->ddx, &ux, dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_src_md, 0), 0, SUM_REORDER, 1, &cur));
    d->bwd_floats = cur > wgrad_end ? cur : wgrad_end;
    /* a [conv3d] of a network for forward passes only (no weight_updates) runs no backward region */
    d->forward_only = !tr && !l->weight_updates;
done:
    if(fpd) dnnl_primitive_desc_destroy(fpd);
    if(bpd) dnnl_primitive_desc_destroy(bpd);
    if(wpd) dnnl_primitive_desc_destroy(wpd);
    return s;
}

/* workspace floats: the larger of the two regions, plus the slack for aligning net.workspace to 64 bytes */
static size_t need_floats(const c3dnn *d)
{
    const size_t b = d->forward_only ? 0 : d->bwd_floats;
    return (d->fwd_floats > b ? d->fwd_floats : b) + 16;
}

static c3dnn *create(const layer *l)
{
    const char *what = "setup";
    c3dnn *d = calloc(1, sizeof(c3dnn));
    dnnl_status_t s = d ? build(d, l, &what) : dnnl_out_of_memory;
    if(s == dnnl_success) return d;
    note(what, s, l);
    dnn_free(d);
    return 0;
}

void conv3d_onednn_free(layer l)
{
    conv3d_state *st = c3_state(l);
    if(!st || !st->onednn) return;
    dnn_free((c3dnn *)st->onednn);
    st->onednn = 0;
}

void conv3d_onednn_setup(layer *l)
{
    conv3d_state *st = c3_state(*l);
    if(!st) return;
    conv3d_onednn_free(*l);
    st->onednn_floats = 0;
#ifdef GPU
    if(gpu_index >= 0) return;
#endif
    if(!engine_ready(l)) return;
    c3dnn *d = create(l);
    if(d){
        st->onednn = d;
        st->onednn_floats = need_floats(d);
    }
    l->workspace_size = c3_cpu_workspace_floats(*l) * sizeof(float);
}

/* The layer's primitives when they fit this call: same batch (else they are remade for it, e.g. after
 * set_batch_network) and a workspace that holds their copies. */
static c3dnn *ready(layer l)
{
    conv3d_state *st = c3_state(l);
    c3dnn *d = st ? (c3dnn *)st->onednn : 0;
    if(!d) return 0;
    if(d->batch != l.batch){
        c3dnn *e = create(&l);
        if(!e) return 0;
        dnn_free(d);
        st->onednn = d = e;
    }
    return need_floats(d) * sizeof(float) <= l.workspace_size ? d : 0;
}

/* A failure while executing: note it, drop the primitives, and the caller takes the vol2col path from now on. */
static int failed(layer l, const char *what, dnnl_status_t s)
{
    note(what, s, &l);
    conv3d_onednn_free(l);
    return -1;
}

static float *aligned(float *ws)
{
    return (float *)(((uintptr_t)ws + 63) & ~(uintptr_t)63);
}

static dnnl_status_t reorder(dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to)
{
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return dnnl_primitive_execute(r, stream, 2, a);
}

/* Points the port at its buffers; for an input port, fills the copy. Returns the memory the primitive takes. */
static dnnl_status_t bind(port *p, const float *user, float *ws, int in, dnnl_memory_t *m)
{
    dnnl_status_t s = dnnl_memory_set_data_handle(p->user, (void *)user);
    *m = p->user;
    if(s != dnnl_success || !p->prim) return s;
    if((s = dnnl_memory_set_data_handle(p->prim, ws + p->off)) != dnnl_success) return s;
    *m = p->prim;
    return in && !p->shared ? reorder(p->reorder, p->user, p->prim) : dnnl_success;
}

/* binds two input ports and one output port (their oneDNN argument kinds k0, k1, k2) and runs primitive prim */
static dnnl_status_t run3(dnnl_primitive_t prim, float *ws, port *p0, int k0, const float *b0, port *p1, int k1, const float *b1,
                          port *p2, int k2, float *b2)
{
    dnnl_memory_t m0, m1, m2;
    dnnl_status_t s;
    if((s = bind(p0, b0, ws, 1, &m0)) != dnnl_success || (s = bind(p1, b1, ws, 1, &m1)) != dnnl_success ||
       (s = bind(p2, b2, ws, 0, &m2)) != dnnl_success) return s;
    dnnl_exec_arg_t a[3] = {{k0, m0}, {k1, m1}, {k2, m2}};
    return dnnl_primitive_execute(prim, stream, 3, a);
}

/* dst = (or +=, for a port made with sum) the correlation of src with w */
static dnnl_status_t run_fwd(c3dnn *d, float *ws, const float *src, const float *w, float *dst)
{
    dnnl_status_t s = run3(d->fwd, ws, &d->fx, DNNL_ARG_SRC, src, &d->fw, DNNL_ARG_WEIGHTS, w, &d->fy, DNNL_ARG_DST, dst);
    if(s != dnnl_success) return s;
    if(d->fy.prim && (s = reorder(d->fy.reorder, d->fy.prim, d->fy.user)) != dnnl_success) return s;
    return dnnl_stream_wait(stream);
}

/* the weight gradient of the correlation (src -> diff_dst) into its copy; finished by sum_dw */
static dnnl_status_t run_bwd_w(c3dnn *d, float *ws, const float *src, const float *dy, float *dw)
{
    dnnl_status_t s = run3(d->bwd_w, ws, &d->wx, DNNL_ARG_SRC, src, &d->wdy, DNNL_ARG_DIFF_DST, dy, &d->wdw, DNNL_ARG_DIFF_WEIGHTS, dw);
    return s != dnnl_success ? s : dnnl_stream_wait(stream);
}

/* the adjoint of the correlation (diff_dst -> diff_src) into its copy; finished by sum_dx */
static dnnl_status_t run_bwd_d(c3dnn *d, float *ws, const float *dy, const float *w, float *dx)
{
    dnnl_status_t s = run3(d->bwd_d, ws, &d->ddy, DNNL_ARG_DIFF_DST, dy, &d->dw, DNNL_ARG_WEIGHTS, w, &d->ddx, DNNL_ARG_DIFF_SRC, dx);
    return s != dnnl_success ? s : dnnl_stream_wait(stream);
}

/* user += copy: a reorder with a sum post-op, or (an add port) the copy in the plain layout, then our add */
static dnnl_status_t sum_out(port *p, float *ws)
{
    dnnl_status_t s = dnnl_success;
    if(p->reorder){
        if(p->plain && (s = dnnl_memory_set_data_handle(p->plain, ws + p->add_off)) != dnnl_success) return s;
        if((s = reorder(p->reorder, p->prim, p->add ? p->plain : p->user)) != dnnl_success) return s;
        if((s = dnnl_stream_wait(stream)) != dnnl_success) return s;
    }
    if(p->add){
        float *u;
        if((s = dnnl_memory_get_data_handle(p->user, (void **)&u)) != dnnl_success) return s;
        const float *c = ws + p->add_off;
        const long n = (long)p->n;
        long i;
        #pragma omp parallel for simd schedule(static) if(n > 65536)
        for(i = 0; i < n; ++i) u[i] += c[i];
    }
    return s;
}

int conv3d_onednn_forward(layer l, network net)
{
    c3dnn *d = ready(l);
    if(!d) return -1;
    float *ws = aligned(net.workspace);
    dnnl_status_t s;
    if(!c3_state(l)->transposed){
        if((s = run_fwd(d, ws, net.input, l.weights, l.output)) != dnnl_success) return failed(l, "forward", s);
        return 0;
    }
    /* [deconv3d]: the output is the adjoint of the correlation of the input */
    if((s = run_bwd_d(d, ws, net.input, l.weights, l.output)) != dnnl_success) return failed(l, "forward", s);
    memset(l.output, 0, (size_t)l.batch * l.outputs * sizeof(float));
    if((s = sum_out(&d->ddx, ws)) != dnnl_success) return failed(l, "forward", s);
    return 0;
}

/* [conv3d] whose weight gradient runs in the AVX2 loops (own_wgrad): the data gradient into its copy and net.delta
 * first, so that a failure there leaves everything untouched; then the weight gradient, by oneDNN's primitive when
 * the loops are short of memory. */
static int backward_own_wgrad(c3dnn *d, layer l, network net, float *ws)
{
    dnnl_status_t s;
    dnnl_memory_t m;
    /* a dY copy the data gradient shares (port_share) is filled by the weight gradient's port */
    if(net.delta && d->ddy.shared && (s = bind(&d->wdy, l.delta, ws, 1, &m)) != dnnl_success) return failed(l, "backward-data", s);
    if(net.delta && (s = run_bwd_d(d, ws, l.delta, l.weights, net.delta)) != dnnl_success) return failed(l, "backward-data", s);
    if(net.delta && (s = sum_out(&d->ddx, ws)) != dnnl_success){ failed(l, "gradient accumulation", s); return 0; }
    if(conv3d_wgrad_avx2(l, net) == 0) return 0;
    if((s = run_bwd_w(d, ws, net.input, l.delta, l.weight_updates)) == dnnl_success) s = sum_out(&d->wdw, ws);
    /* cannot be undone: net.delta has its gradient */
    if(s != dnnl_success) failed(l, "backward-weights", s);
    return 0;
}

/* 1 when the layer's weight gradient runs in the AVX2 loops: where they apply, and by default only where oneDNN chose
 * im2col + GEMM for it (docs/performance.md, "AVX2 weight gradient") */
static int own_wgrad(const c3dnn *d, layer l)
{
    return conv3d_wgrad_avx2_applies(l) && (conv3d_wgrad_avx2_mode == 2 || d->wgrad_gemm);
}

int conv3d_onednn_backward(layer l, network net)
{
    c3dnn *d = ready(l);
    if(!d || d->forward_only) return -1;
    float *ws = aligned(net.workspace);
    dnnl_status_t s;
    const int tr = c3_state(l)->transposed;
    if(!tr && own_wgrad(d, l)) return backward_own_wgrad(d, l, net, ws);
    /* the weight gradient into its copy first: a failure up to there leaves weight_updates and net.delta untouched.
     * [conv3d]: image = net.input, positions = l.delta; [deconv3d]: the other way round. */
    if((s = run_bwd_w(d, ws, tr ? l.delta : net.input, tr ? net.input : l.delta, l.weight_updates)) != dnnl_success)
        return failed(l, "backward-weights", s);
    if(net.delta && !tr && (s = run_bwd_d(d, ws, l.delta, l.weights, net.delta)) != dnnl_success)
        return failed(l, "backward-data", s);
    if((s = sum_out(&d->wdw, ws)) == dnnl_success && net.delta)
        s = tr ? run_fwd(d, ws, l.delta, l.weights, net.delta) : sum_out(&d->ddx, ws);
    /* cannot be undone: the gradients of this call may be partial */
    if(s != dnnl_success) failed(l, "gradient accumulation", s);
    return 0;
}
#endif
