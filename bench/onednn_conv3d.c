/* Feasibility probe for a oneDNN CPU path of [conv3d]: times oneDNN's conv3d forward, backward-data and backward-weights (what PyTorch's CPU conv3d runs) at the V-Net's 64x64x32 training shapes, in our NCDHW layout and in oneDNN's own blocked layout with the reorders counted.
 * Build (Debian: apt-get install libdnnl-dev): cc -O2 bench/onednn_conv3d.c -o tests/out/onednn_conv3d -ldnnl -fopenmp
 * Run: OMP_NUM_THREADS=2 tests/out/onednn_conv3d [reps]; prints one line per shape and layout with ms and GFLOP/s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dnnl.h>

#define OK(x) do { dnnl_status_t s_ = (x); if(s_ != dnnl_success){ fprintf(stderr, "%s:%d: %s failed (%d)\n", __FILE__, __LINE__, #x, (int)s_); exit(1); } } while(0)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static dnnl_engine_t eng;
static dnnl_stream_t strm;

/* a user memory (plain layout) and, when the primitive wants another layout, its own copy with the reorder */
typedef struct {
    dnnl_memory_t user, prim;
    dnnl_primitive_t to_prim, to_user;
} tensor;

static dnnl_memory_t mem(const dnnl_memory_desc_t *md)
{
    dnnl_memory_t m;
    OK(dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE));
    return m;
}

static void fill(dnnl_memory_t m)
{
    float *p;
    const dnnl_memory_desc_t *md;
    OK(dnnl_memory_get_memory_desc(m, &md));
    size_t n = dnnl_memory_desc_get_size(md) / sizeof(float), i;
    OK(dnnl_memory_get_data_handle(m, (void **)&p));
    for(i = 0; i < n; ++i) p[i] = (float)rand() / RAND_MAX - 0.5f;
}

static dnnl_primitive_t reorder(dnnl_memory_t a, dnnl_memory_t b)
{
    const dnnl_memory_desc_t *ma, *mb;
    OK(dnnl_memory_get_memory_desc(a, &ma));
    OK(dnnl_memory_get_memory_desc(b, &mb));
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p;
    OK(dnnl_reorder_primitive_desc_create(&pd, ma, eng, mb, eng, NULL));
    OK(dnnl_primitive_create(&p, pd));
    dnnl_primitive_desc_destroy(pd);
    return p;
}

static tensor bind(dnnl_memory_t user, const dnnl_memory_desc_t *want)
{
    tensor t = {user, user, 0, 0};
    const dnnl_memory_desc_t *have;
    OK(dnnl_memory_get_memory_desc(user, &have));
    if(!dnnl_memory_desc_equal(have, want)){
        t.prim = mem(want);
        t.to_prim = reorder(user, t.prim);
        t.to_user = reorder(t.prim, user);
    }
    return t;
}

static void run_reorder(dnnl_primitive_t p, dnnl_memory_t from, dnnl_memory_t to)
{
    if(!p) return;
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    OK(dnnl_primitive_execute(p, strm, 2, a));
}

static void run(dnnl_primitive_t p, int n, dnnl_exec_arg_t *a)
{
    OK(dnnl_primitive_execute(p, strm, n, a));
}

static const char *impl(const_dnnl_primitive_desc_t pd)
{
    const char *s = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s);
    return s;
}

/* one shape: N, C -> OC, k3 p1 s1 over D x H x W; blocked = 0: NCDHW everywhere, 1: format any + reorders */
static void shape(int N, int C, int OC, int D, int H, int W, int blocked, int reps)
{
    dnnl_dims_t xs = {N, C, D, H, W}, ys = {N, OC, D, H, W}, ws = {OC, C, 3, 3, 3};
    dnnl_dims_t st = {1, 1, 1}, pl = {1, 1, 1}, pr = {1, 1, 1};
    dnnl_memory_desc_t ux, uy, uw, ax, ay, aw;
    OK(dnnl_memory_desc_init_by_tag(&ux, 5, xs, dnnl_f32, dnnl_ncdhw));
    OK(dnnl_memory_desc_init_by_tag(&uy, 5, ys, dnnl_f32, dnnl_ncdhw));
    OK(dnnl_memory_desc_init_by_tag(&uw, 5, ws, dnnl_f32, dnnl_oidhw));
    if(blocked){
        OK(dnnl_memory_desc_init_by_tag(&ax, 5, xs, dnnl_f32, dnnl_format_tag_any));
        OK(dnnl_memory_desc_init_by_tag(&ay, 5, ys, dnnl_f32, dnnl_format_tag_any));
        OK(dnnl_memory_desc_init_by_tag(&aw, 5, ws, dnnl_f32, dnnl_format_tag_any));
    }else{ ax = ux; ay = uy; aw = uw; }
    dnnl_convolution_desc_t fd, bd, wd;
    dnnl_primitive_desc_t fpd, bpd, wpd;
    OK(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &ax, &aw, NULL, &ay, st, pl, pr));
    OK(dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL));
    OK(dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &ax, &aw, &ay, st, pl, pr));
    OK(dnnl_primitive_desc_create(&bpd, &bd, NULL, eng, fpd));
    OK(dnnl_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct, &ax, &aw, NULL, &ay, st, pl, pr));
    OK(dnnl_primitive_desc_create(&wpd, &wd, NULL, eng, fpd));
    dnnl_primitive_t fwd, bwd, bww;
    OK(dnnl_primitive_create(&fwd, fpd));
    OK(dnnl_primitive_create(&bwd, bpd));
    OK(dnnl_primitive_create(&bww, wpd));

    dnnl_memory_t x = mem(&ux), y = mem(&uy), w = mem(&uw), dy = mem(&uy), dx = mem(&ux), dw = mem(&uw);
    fill(x); fill(w); fill(dy);
    tensor tx = bind(x, dnnl_primitive_desc_query_md(fpd, dnnl_query_src_md, 0));
    tensor tw = bind(w, dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0));
    tensor ty = bind(y, dnnl_primitive_desc_query_md(fpd, dnnl_query_dst_md, 0));
    tensor tdy = bind(dy, dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_dst_md, 0));
    tensor tdx = bind(dx, dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_src_md, 0));
    tensor twb = bind(w, dnnl_primitive_desc_query_md(bpd, dnnl_query_weights_md, 0));
    tensor tx2 = bind(x, dnnl_primitive_desc_query_md(wpd, dnnl_query_src_md, 0));
    tensor tdy2 = bind(dy, dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_dst_md, 0));
    tensor tdw = bind(dw, dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_weights_md, 0));

    double bf = 1e30, bb = 1e30, bw = 1e30;
    int r;
    for(r = 0; r <= reps; ++r){
        double t0 = now();
        /* forward: as a layer would run it, from and back to NCDHW */
        run_reorder(tx.to_prim, x, tx.prim);
        run_reorder(tw.to_prim, w, tw.prim);
        dnnl_exec_arg_t fa[3] = {{DNNL_ARG_SRC, tx.prim}, {DNNL_ARG_WEIGHTS, tw.prim}, {DNNL_ARG_DST, ty.prim}};
        run(fwd, 3, fa);
        run_reorder(ty.to_user, ty.prim, y);
        OK(dnnl_stream_wait(strm));
        double t1 = now();
        run_reorder(tdy.to_prim, dy, tdy.prim);
        run_reorder(twb.to_prim, w, twb.prim);
        dnnl_exec_arg_t ba[3] = {{DNNL_ARG_DIFF_DST, tdy.prim}, {DNNL_ARG_WEIGHTS, twb.prim}, {DNNL_ARG_DIFF_SRC, tdx.prim}};
        run(bwd, 3, ba);
        run_reorder(tdx.to_user, tdx.prim, dx);
        OK(dnnl_stream_wait(strm));
        double t2 = now();
        run_reorder(tx2.to_prim, x, tx2.prim);
        run_reorder(tdy2.to_prim, dy, tdy2.prim);
        dnnl_exec_arg_t wa[3] = {{DNNL_ARG_SRC, tx2.prim}, {DNNL_ARG_DIFF_DST, tdy2.prim}, {DNNL_ARG_DIFF_WEIGHTS, tdw.prim}};
        run(bww, 3, wa);
        run_reorder(tdw.to_user, tdw.prim, dw);
        OK(dnnl_stream_wait(strm));
        double t3 = now();
        if(r > 0){
            if(t1 - t0 < bf) bf = t1 - t0;
            if(t2 - t1 < bb) bb = t2 - t1;
            if(t3 - t2 < bw) bw = t3 - t2;
        }
    }
    double gf = 2.0 * OC * C * 27.0 * N * D * H * W / 1e9;
    printf("onednn %s c%d-%d_k3_%dx%dx%d b%d: fwd %.1f ms (%.1f GF/s) bwd_data %.1f ms bwd_weights %.1f ms (bwd %.1f GF/s) | %s / %s / %s\n",
           blocked ? "blocked" : "ncdhw  ", C, OC, D, H, W, N, bf * 1e3, gf / bf, bb * 1e3, bw * 1e3, 2 * gf / (bb + bw),
           impl(fpd), impl(bpd), impl(wpd));
    fflush(stdout);
    /* process exit frees the rest: this is a probe */
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 2, blocked;
    OK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    OK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
    for(blocked = 0; blocked < 2; ++blocked){
        shape(2, 16, 16, 32, 64, 64, blocked, reps);
        shape(2, 32, 32, 16, 32, 32, blocked, reps);
        shape(2, 64, 64, 8, 16, 16, blocked, reps);
    }
    return 0;
}
