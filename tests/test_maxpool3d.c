/* Tests of [maxpool3d]: PyTorch 1.13 fixtures (forward and input gradient, ties), accumulation, cfg keys and GPU vs CPU. */
#include "testlib.h"
#include "darknet.h"
#include "darknet3d.h"
#include "layer3d.h"
#include "maxpool3d_layer.h"
#ifdef GPU
#include "cuda.h"
#endif

static int have_gpu = 0;

#ifdef GPU
static float urand(void) { return (float)rand() / RAND_MAX * 2.f - 1.f; }
static void fill_rand(float *x, size_t n) { size_t i; for(i = 0; i < n; ++i) x[i] = urand(); }
#endif

static maxpool3d_state P(int kd, int kh, int kw, int sd, int sh, int sw, int pd, int ph, int pw)
{
    maxpool3d_state p = {kd, kh, kw, sd, sh, sw, pd, ph, pw};
    return p;
}

static void fwd(layer l, float *x)
{
    network net = {0};
    net.input = x;
    forward_maxpool3d_layer(l, net);
}
static void bwd(layer l, const float *dy, float *dx)
{
    network net = {0};
    net.delta = dx;
    memcpy(l.delta, dy, sizeof(float) * l.batch * l.outputs);
    backward_maxpool3d_layer(l, net);
}

/* Must match MAXPOOL in scripts/fixtures_small_layers.py */
static const struct { const char *name; int n, c, d, h, w; int p[9]; } CASES[] = {
    {"mp_k2s2p0", 2, 3, 5, 6, 7, {2, 2, 2, 2, 2, 2, 0, 0, 0}},
    {"mp_k3s2p1", 2, 3, 5, 6, 7, {3, 3, 3, 2, 2, 2, 1, 1, 1}},
    {"mp_k132_s121_p011", 2, 2, 4, 5, 6, {1, 3, 2, 1, 2, 1, 0, 1, 1}},
    {"mp_k3s1p0_ties", 2, 2, 4, 5, 6, {3, 3, 3, 1, 1, 1, 0, 0, 0}},
    {"mp_k2s2p1_ties", 1, 3, 5, 6, 7, {2, 2, 2, 2, 2, 2, 1, 1, 1}},
};

static void test_pytorch_fixtures(void)
{
    size_t k;
    for(k = 0; k < sizeof(CASES) / sizeof(CASES[0]); ++k){
        char path[256];
        snprintf(path, sizeof(path), "tests/fixtures/small_layers/%s.bin", CASES[k].name);
        const int *q = CASES[k].p;
        layer l = make_maxpool3d_layer(CASES[k].n, CASES[k].c, CASES[k].d, CASES[k].h, CASES[k].w,
                                       P(q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8]));
        float *f = 0;
        long n = fixture_f32(path, 2L * l.batch * (l.inputs + l.outputs), &f);
        CHECK_MSG(n > 0, "cannot read %s", path);
        if(n <= 0){ free_layer(l); continue; }
        long ni = (long)l.batch * l.inputs, no = (long)l.batch * l.outputs;
        CHECK_MSG(n == 2 * ni + 2 * no, "%s: %ld floats, expected %ld", CASES[k].name, n, 2 * ni + 2 * no);
        if(n == 2 * ni + 2 * no){
            float *x = f, *g = f + ni, *y = f + ni + no, *dx = f + ni + 2 * no;
            float *mydx = calloc(ni, sizeof(float));
            fwd(l, x);
            double ey = max_rel_err(l.output, y, no, 1e-6);
            bwd(l, g, mydx);
            double ed = max_rel_err(mydx, dx, ni, 1e-6);
            printf("  %-18s forward rel err %.2e, input grad rel err %.2e\n", CASES[k].name, ey, ed);
            CHECK_MSG(ey <= 1e-4, "%s forward rel err %g", CASES[k].name, ey);
            CHECK_MSG(ed <= 1e-4, "%s grad rel err %g (tie rule?)", CASES[k].name, ed);
            free(mydx);
        }
        free_layer(l);
        free(f);
    }
}

static void test_indexes_and_accumulation(void)
{
    /* 1 x 1 x 2 x 2 x 2 with a tie: the first maximum (scan order d, h, w) wins */
    float x[8] = {1, 5, 2, 5, 0, 5, -1, 3};
    layer l = make_maxpool3d_layer(1, 1, 2, 2, 2, P(2, 2, 2, 2, 2, 2, 0, 0, 0));
    fwd(l, x);
    CHECK(l.output[0] == 5 && l.indexes[0] == 1);
    float dy = 2.f, dx[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    bwd(l, &dy, dx);
    int i;
    for(i = 0; i < 8; ++i) CHECK_NEAR(dx[i], i == 1 ? 3.f : 1.f, 0);
    network net = {0};
    backward_maxpool3d_layer(l, net); /* NULL net.delta: skipped */
    free_layer(l);
    /* batch offset in indexes, and padding never wins over negative values */
    float y[16];
    for(i = 0; i < 16; ++i) y[i] = -10.f - i;
    l = make_maxpool3d_layer(2, 1, 2, 2, 2, P(2, 2, 2, 2, 2, 2, 1, 1, 1));
    CHECK(l.out_d == 2 && l.out_w == 2 && l.out_h == 4);
    fwd(l, y);
    CHECK(l.output[0] == -10.f && l.indexes[0] == 0);
    CHECK(l.output[8 + 7] == -25.f && l.indexes[8 + 7] == 15);
    free_layer(l);
}

static network *parse_text(const char *text, char *err)
{
    if(write_text("tests/out/maxpool3d.cfg", text)) return 0;
    return parse_network_cfg_err("tests/out/maxpool3d.cfg", err, 1024);
}

static const char *NET = "[net]\nbatch=2\nheight=6\nwidth=7\ndepth=5\nchannels=2\n\n";

static void expect_error(const char *section, const char *needle)
{
    char cfg[1024], err[1024] = {0};
    snprintf(cfg, sizeof(cfg), "%s%s", NET, section);
    network *net = parse_text(cfg, err);
    CHECK_MSG(net == 0, "accepted: %s", section);
    if(net){ free_network(net); return; }
    CHECK_MSG(strstr(err, needle) != 0, "error '%s' lacks '%s'", err, needle);
}

static void test_cfg(void)
{
    char cfg[1024], err[1024] = {0};
    snprintf(cfg, sizeof(cfg), "%s[maxpool3d]\nsize=2\n\n[maxpool3d]\nsize=3\nsize_d=1\nstride=1\npad=1\npad_d=0\n\n"
             "[maxpool3d]\nsize_d=1\nsize_h=3\nsize_w=2\nstride_h=2\n", NET);
    network *net = parse_text(cfg, err);
    CHECK_MSG(net != 0, "%s", err);
    if(net){
        layer a = net->layers[0], b = net->layers[1], c = net->layers[2];
        CHECK(a.type == MAXPOOL3D && strcmp(get_layer_string(a.type), "maxpool3d") == 0);
        CHECK(a.out_c == 2 && a.out_d == 2 && a.out_h == 2 * 3 && a.out_w == 3);
        CHECK(b.out_d == 2 && b.out_h == 2 * 3 && b.out_w == 3);
        CHECK(c.out_d == 2 && c.out_h == 2 * 1 && c.out_w == 1);
        CHECK(network_param_count(net) == 0);
        free_network(net);
    }
    expect_error("[maxpool3d]\nstride=2\n", "missing required key 'size'");
    expect_error("[maxpool3d]\nsize_d=2\nsize_h=2\n", "missing required key 'size'");
    expect_error("[maxpool3d]\nsize=0\n", "key 'size'");
    expect_error("[maxpool3d]\nsize=two\n", "key 'size'");
    expect_error("[maxpool3d]\nsize=2\nsize_w=1.5\n", "key 'size_w'");
    expect_error("[maxpool3d]\nsize=2\nstride=0\n", "key 'stride'");
    expect_error("[maxpool3d]\nsize=2\nstride_h=x\n", "key 'stride_h'");
    expect_error("[maxpool3d]\nsize=3\npad=2\n", "key 'pad'");
    expect_error("[maxpool3d]\nsize=2\npad=-1\n", "key 'pad'");
    expect_error("[maxpool3d]\nsize=6\n", "key 'size'");      /* depth 5 < window 6 */
    expect_error("[maxpool3d]\nsize=2\nceil_mode=1\n", "'ceil_mode'");
}

static void test_gpu_vs_cpu(void)
{
    if(!have_gpu) SKIP("no usable GPU (CPU build, or no CUDA device)");
#ifdef GPU
    static const int S[][14] = {
        {2, 3, 5, 6, 7, 2, 2, 2, 2, 2, 2, 0, 0, 0}, {2, 3, 5, 6, 7, 3, 3, 3, 2, 2, 2, 1, 1, 1},
        {2, 3, 5, 6, 7, 3, 3, 3, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},
        {3, 5, 1, 9, 1, 1, 3, 1, 1, 2, 1, 0, 1, 0}, {1, 17, 4, 33, 6, 2, 2, 3, 2, 2, 3, 1, 1, 1},
        {2, 2, 9, 1, 10, 3, 1, 2, 2, 1, 2, 1, 0, 1},
    };
    size_t k;
    for(k = 0; k < sizeof(S) / sizeof(S[0]); ++k){
        const int *s = S[k];
        layer l = make_maxpool3d_layer(s[0], s[1], s[2], s[3], s[4], P(s[5], s[6], s[7], s[8], s[9], s[10], s[11], s[12], s[13]));
        int ni = l.batch * l.inputs, no = l.batch * l.outputs, i;
        float *x = malloc(ni * sizeof(float)), *r = malloc(no * sizeof(float));
        float *dxc = malloc(ni * sizeof(float)), *dxg = malloc(ni * sizeof(float)), *yg = malloc(no * sizeof(float));
        int *ig = malloc(no * sizeof(int));
        for(i = 0; i < ni; ++i) x[i] = (float)(rand() % 5); /* ties on purpose: both sides must pick the same */
        fill_rand(r, no);
        for(i = 0; i < ni; ++i) dxc[i] = dxg[i] = 0.5f;
        fwd(l, x);
        bwd(l, r, dxc);
        network net = {0};
        net.input_gpu = cuda_make_array(x, ni);
        net.delta_gpu = cuda_make_array(dxg, ni);
        forward_maxpool3d_layer_gpu(l, net);
        cuda_push_array(l.delta_gpu, r, no);
        backward_maxpool3d_layer_gpu(l, net);
        cuda_pull_array(l.output_gpu, yg, no);
        cuda_pull_array(net.delta_gpu, dxg, ni);
        check_error(cudaMemcpy(ig, l.indexes_gpu, no * sizeof(int), cudaMemcpyDeviceToHost));
        CHECK_MSG(memcmp(ig, l.indexes, no * sizeof(int)) == 0, "case %zu: argmax differs", k);
        double ey = max_rel_err(yg, l.output, no, 1e-6), ed = max_rel_err(dxg, dxc, ni, 1e-6);
        CHECK_MSG(ey == 0 && ed <= 1e-5, "case %zu: forward %g backward %g", k, ey, ed);
        cuda_free(net.input_gpu); cuda_free(net.delta_gpu);
        free(x); free(r); free(dxc); free(dxg); free(yg); free(ig);
        free_layer(l);
    }
#endif
}

int main(void)
{
    darknet3d_init();
    have_gpu = darknet3d_gpu_available(0);
    if(system("mkdir -p tests/out")) return 1;
    srand(11);
    RUN(test_pytorch_fixtures);
    RUN(test_indexes_and_accumulation);
    RUN(test_cfg);
    RUN(test_gpu_vs_cpu);
    TEST_MAIN_END();
}
