/* Tests of [upsample3d]: PyTorch 1.13 fixtures (forward and input gradient), accumulation, the separable threaded path against the direct formulas, the gather form of the backward (-deterministic on the GPU), cfg keys and GPU vs CPU. */
#include <omp.h>
#include "testlib.h"
#include "darknet.h"
#include "darknet3d.h"
#include "layer3d.h"
#include "upsample3d_layer.h"
#include "trilinear.h"
#ifdef GPU
#include "cuda.h"
#endif

static int have_gpu = 0;

static float urand(void) { return (float)rand() / RAND_MAX * 2.f - 1.f; }

static void fill_rand(float *x, size_t n) { size_t i; for(i = 0; i < n; ++i) x[i] = urand(); }

/* Forward/backward on the CPU path whatever the build */
static void fwd(layer l, float *x)
{
    network net = {0};
    net.input = x;
    forward_upsample3d_layer(l, net);
}
static void bwd(layer l, const float *dy, float *dx)
{
    network net = {0};
    net.delta = dx;
    memcpy(l.delta, dy, sizeof(float) * l.batch * l.outputs);
    backward_upsample3d_layer(l, net);
}

/* Must match UPSAMPLE in scripts/fixtures_small_layers.py */
static const struct { const char *name; int n, c, d, h, w, sd, sh, sw, ac; } CASES[] = {
    {"up_s222_ac1", 2, 2, 3, 4, 5, 2, 2, 2, 1},
    {"up_s222_ac0", 2, 2, 3, 4, 5, 2, 2, 2, 0},
    {"up_s123_ac0", 2, 3, 5, 6, 7, 1, 2, 3, 0},
    {"up_s312_ac1", 1, 3, 2, 3, 1, 3, 1, 2, 1},
    {"up_s313_ac0", 1, 2, 1, 3, 4, 3, 1, 3, 0},
};

static void test_pytorch_fixtures(void)
{
    size_t k;
    for(k = 0; k < sizeof(CASES) / sizeof(CASES[0]); ++k){
        char path[256];
        snprintf(path, sizeof(path), "tests/fixtures/small_layers/%s.bin", CASES[k].name);
        layer l = make_upsample3d_layer(CASES[k].n, CASES[k].c, CASES[k].d, CASES[k].h, CASES[k].w,
                                        CASES[k].sd, CASES[k].sh, CASES[k].sw, CASES[k].ac);
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
            printf("  %-12s forward rel err %.2e, input grad rel err %.2e\n", CASES[k].name, ey, ed);
            CHECK_MSG(ey <= 1e-4, "%s forward rel err %g", CASES[k].name, ey);
            CHECK_MSG(ed <= 1e-4, "%s grad rel err %g", CASES[k].name, ed);
            free(mydx);
        }
        free_layer(l);
        free(f);
    }
}

/* backward adds into net.delta, it does not overwrite it */
static void test_backward_accumulates(void)
{
    layer l = make_upsample3d_layer(2, 3, 3, 2, 5, 2, 3, 2, 0);
    int ni = l.batch * l.inputs, no = l.batch * l.outputs, i;
    float *r = malloc(no * sizeof(float)), *a = calloc(ni, sizeof(float)), *b = malloc(ni * sizeof(float));
    fill_rand(r, no);
    bwd(l, r, a);
    for(i = 0; i < ni; ++i) b[i] = 1.5f;
    bwd(l, r, b);
    double worst = 0;
    for(i = 0; i < ni; ++i) worst = fmax(worst, fabs(b[i] - (a[i] + 1.5f)));
    CHECK_MSG(worst < 1e-5, "worst %g", worst);
    /* a NULL net.delta (first layer) is skipped */
    network net = {0};
    backward_upsample3d_layer(l, net);
    free(r); free(a); free(b);
    free_layer(l);
}

/* A constant volume stays constant; stride 1 is the identity (both align_corners) */
static void test_constant_and_identity(void)
{
    int ac;
    for(ac = 0; ac <= 1; ++ac){
        layer l = make_upsample3d_layer(1, 2, 3, 4, 5, 2, 3, 2, ac);
        float *x = malloc(l.inputs * sizeof(float));
        int i;
        for(i = 0; i < l.inputs; ++i) x[i] = i < l.inputs / 2 ? 0.75f : -2.f;
        fwd(l, x);
        for(i = 0; i < l.outputs; ++i) CHECK_NEAR(l.output[i], i < l.outputs / 2 ? 0.75f : -2.f, 1e-6);
        free_layer(l);
        l = make_upsample3d_layer(1, 2, 3, 4, 5, 1, 1, 1, ac);
        fill_rand(x, l.inputs);
        fwd(l, x);
        CHECK(memcmp(x, l.output, l.inputs * sizeof(float)) == 0);
        free_layer(l);
        free(x);
    }
}

static network *parse_text(const char *text, char *err)
{
    FILE *f = fopen("tests/out/upsample3d.cfg", "w");
    if(!f) return 0;
    fputs(text, f);
    fclose(f);
    return parse_network_cfg_err("tests/out/upsample3d.cfg", err, 1024);
}

static const char *NET = "[net]\nbatch=2\nheight=4\nwidth=5\ndepth=3\nchannels=2\n\n";

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
    snprintf(cfg, sizeof(cfg), "%s[upsample3d]\nstride_h=3\nalign_corners=0\n\n[upsample3d]\nstride=1\nstride_w=2\n", NET);
    network *net = parse_text(cfg, err);
    CHECK_MSG(net != 0, "%s", err);
    if(net){
        layer a = net->layers[0], b = net->layers[1];
        CHECK(a.type == UPSAMPLE3D && strcmp(get_layer_string(a.type), "upsample3d") == 0);
        CHECK(a.out_c == 2 && a.out_d == 6 && a.out_h == 6 * 12 && a.out_w == 10);
        CHECK(((upsample3d_state *)a.plugin_state)->align_corners == 0);
        CHECK(((upsample3d_state *)b.plugin_state)->align_corners == 1);
        CHECK(b.out_d == 6 && b.out_h == 6 * 12 && b.out_w == 20);
        CHECK(network_param_count(net) == 0);
        free_network(net);
    }
    expect_error("[upsample3d]\nalign_corners=2\n", "key 'align_corners'");
    expect_error("[upsample3d]\nalign_corners=yes\n", "key 'align_corners'");
    expect_error("[upsample3d]\nstride=0\n", "key 'stride'");
    expect_error("[upsample3d]\nstride=2.5\n", "key 'stride'");
    expect_error("[upsample3d]\nstride_d=-1\n", "key 'stride_d'");
    expect_error("[upsample3d]\nstride_w=\n", "stride_w");
    expect_error("[upsample3d]\nscale=2\n", "'scale'");
    /* an output too large for Darknet's int sizes is refused before anything is allocated */
    network *big = parse_text("[net]\nbatch=1\nheight=1024\nwidth=1024\ndepth=1024\nchannels=1\n\n[upsample3d]\nstride=16\n", err);
    CHECK(big == 0);
    CHECK_MSG(strstr(err, "key 'stride'") && strstr(err, "too large"), "%s", err);
    if(big) free_network(big);
}

/* odd shapes including size-1 axes: batch, c, d, h, w, factors d h w, align_corners */
static const int ODD[][9] = {
    {2, 3, 5, 6, 7, 2, 2, 2, 1}, {2, 3, 5, 6, 7, 2, 2, 2, 0}, {1, 1, 1, 1, 1, 2, 2, 2, 1}, {1, 1, 1, 1, 1, 3, 1, 2, 0},
    {3, 5, 1, 7, 1, 2, 3, 4, 1}, {2, 1, 9, 1, 33, 1, 2, 3, 0}, {1, 17, 4, 5, 6, 2, 2, 2, 0}, {1, 2, 7, 5, 3, 3, 3, 3, 1},
};

/* GPU twin against the CPU reference, odd shapes including size-1 axes */
static void test_gpu_vs_cpu(void)
{
    if(!have_gpu) SKIP("no usable GPU (CPU build, or no CUDA device)");
#ifdef GPU
    size_t k;
    for(k = 0; k < sizeof(ODD) / sizeof(ODD[0]); ++k){
        const int *s = ODD[k];
        layer l = make_upsample3d_layer(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8]);
        int ni = l.batch * l.inputs, no = l.batch * l.outputs;
        float *x = malloc(ni * sizeof(float)), *r = malloc(no * sizeof(float));
        float *dxc = malloc(ni * sizeof(float)), *dxg = malloc(ni * sizeof(float)), *yg = malloc(no * sizeof(float));
        fill_rand(x, ni); fill_rand(r, no);
        int i;
        for(i = 0; i < ni; ++i) dxc[i] = 0.5f;
        fwd(l, x);
        bwd(l, r, dxc);
        network net = {0};
        net.input_gpu = cuda_make_array(x, ni);
        for(i = 0; i < ni; ++i) dxg[i] = 0.5f;
        net.delta_gpu = cuda_make_array(dxg, ni);
        forward_upsample3d_layer_gpu(l, net);
        cuda_push_array(l.delta_gpu, r, no);
        backward_upsample3d_layer_gpu(l, net);
        cuda_pull_array(l.output_gpu, yg, no);
        cuda_pull_array(net.delta_gpu, dxg, ni);
        double ey = max_rel_err(yg, l.output, no, 1e-6), ed = max_rel_err(dxg, dxc, ni, 1e-6);
        CHECK_MSG(ey <= 1e-5 && ed <= 1e-5, "case %zu: forward %g backward %g", k, ey, ed);
        /* -deterministic: the gather, twice bit for bit, and against the CPU */
        float *d1 = malloc(ni * sizeof(float)), *d2 = malloc(ni * sizeof(float));
        int det0 = darknet3d_deterministic;
        darknet3d_deterministic = 1;
        for(i = 0; i < ni; ++i) d1[i] = 0.5f;
        cuda_push_array(net.delta_gpu, d1, ni); backward_upsample3d_layer_gpu(l, net); cuda_pull_array(net.delta_gpu, d1, ni);
        for(i = 0; i < ni; ++i) d2[i] = 0.5f;
        cuda_push_array(net.delta_gpu, d2, ni); backward_upsample3d_layer_gpu(l, net); cuda_pull_array(net.delta_gpu, d2, ni);
        darknet3d_deterministic = det0;
        double e1 = max_rel_err(d1, dxc, ni, 1e-6);
        CHECK_MSG(!memcmp(d1, d2, ni * sizeof(float)) && e1 <= 1e-5, "case %zu deterministic: runs %s, backward %g", k,
                  memcmp(d1, d2, ni * sizeof(float)) ? "differ" : "identical", e1);
        free(d1); free(d2);
        cuda_free(net.input_gpu); cuda_free(net.delta_gpu);
        free(x); free(r); free(dxc); free(dxg); free(yg);
        free_layer(l);
    }
#endif
}

/* The gather form of the backward (trilinear.h, what -deterministic runs on the GPU) equals the CPU's adjoint, for
 * both align_corners, factors 1-4 and size-1 axes */
static void test_gather_equals_adjoint(void)
{
    size_t k;
    for(k = 0; k < sizeof(ODD) / sizeof(ODD[0]); ++k){
        const int *s = ODD[k];
        layer l = make_upsample3d_layer(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8]);
        int d = s[2], h = s[3], w = s[4], od = d * s[5], oh = h * s[6], ow = w * s[7], ni = l.batch * l.inputs, no = l.batch * l.outputs, i;
        float *r = malloc(no * sizeof(float)), *dxc = calloc(ni, sizeof(float)), *dxg = calloc(ni, sizeof(float));
        fill_rand(r, no);
        bwd(l, r, dxc);
        for(i = 0; i < ni; ++i){
            int x = i % w, y = (i / w) % h, z = (i / (w * h)) % d, v = i / (w * h * d);
            dxg[i] = tri_adjoint_at(r + (size_t)v * od * oh * ow, d, h, w, od, oh, ow, s[8], z, y, x);
        }
        double e = max_rel_err(dxg, dxc, ni, 1e-6);
        CHECK_MSG(e <= 1e-5, "case %zu: rel err %g", k, e);
        free(r); free(dxc); free(dxg);
        free_layer(l);
    }
}

/* PyTorch's source index rule (area_pixel_compute_source_index, in float) for the references below */
static void ref_taps(int n, int m, int ac, int *i0, int *i1, float *l1)
{
    float scale = ac ? (m > 1 ? (float)(n - 1) / (float)(m - 1) : 0.f) : (float)n / (float)m;
    int o;
    for(o = 0; o < m; ++o){
        float src = ac ? scale * o : scale * (o + 0.5f) - 0.5f;
        if(src < 0) src = 0;
        int a = (int)src;
        if(a > n - 1) a = n - 1;
        i0[o] = a; i1[o] = a + (a < n - 1); l1[o] = src - a;
    }
}

/* The separable, threaded CPU path against the direct per-voxel formulas: the forward bit for bit (same association
 * as PyTorch's kernel), the backward against the scatter of every output voxel's 8 weights in double (1e-6), and both
 * the same bits at 1 and 3 threads; factors 1, 2, 3, odd sizes, axes of size 1, both align_corners. */
static void test_separable_vs_direct(void)
{
    static const int shp[][7] = {{3, 4, 5, 6, 2, 2, 2}, {2, 1, 7, 3, 2, 3, 1}, {5, 3, 1, 4, 1, 2, 3}, {70, 4, 6, 5, 2, 2, 2}};
    int si, ac, t, nt0 = omp_get_max_threads();
    for(si = 0; si < 4; ++si) for(ac = 0; ac < 2; ++ac){
        int nc = shp[si][0], d = shp[si][1], h = shp[si][2], w = shp[si][3];
        int od = d * shp[si][4], oh = h * shp[si][5], ow = w * shp[si][6], z, r, q, k;
        size_t ni = (size_t)nc * d * h * w, no = (size_t)nc * od * oh * ow, i;
        float *x = malloc(ni * 4), *dy = malloc(no * 4), *y = malloc(no * 4), *yr = malloc(no * 4);
        float *dx = malloc(ni * 4), *dx1 = malloc(ni * 4);
        double *dxr = calloc(ni, sizeof(double));
        int zi[2][64], ri[2][64], qi[2][64];
        float zl[64], rl[64], ql[64];
        fill_rand(x, ni); fill_rand(dy, no);
        ref_taps(d, od, ac, zi[0], zi[1], zl); ref_taps(h, oh, ac, ri[0], ri[1], rl); ref_taps(w, ow, ac, qi[0], qi[1], ql);
        for(k = 0; k < nc; ++k) for(z = 0; z < od; ++z) for(r = 0; r < oh; ++r) for(q = 0; q < ow; ++q){
            const float *xb = x + (size_t)k * d * h * w;
            float lz[2] = {1.f - zl[z], zl[z]}, lr[2] = {1.f - rl[r], rl[r]}, lq[2] = {1.f - ql[q], ql[q]}, e[2][2];
            int a, b;
            for(a = 0; a < 2; ++a) for(b = 0; b < 2; ++b){
                const float *row = xb + ((size_t)zi[a][z] * h + ri[b][r]) * w;
                e[a][b] = lq[0] * row[qi[0][q]] + lq[1] * row[qi[1][q]];
            }
            size_t o = (((size_t)k * od + z) * oh + r) * ow + q;
            yr[o] = lz[0] * (lr[0] * e[0][0] + lr[1] * e[0][1]) + lz[1] * (lr[0] * e[1][0] + lr[1] * e[1][1]);
            int c;
            for(a = 0; a < 2; ++a) for(b = 0; b < 2; ++b) for(c = 0; c < 2; ++c)
                dxr[(size_t)k * d * h * w + ((size_t)zi[a][z] * h + ri[b][r]) * w + qi[c][q]] += (double)lz[a] * lr[b] * lq[c] * dy[o];
        }
        for(t = 1; t <= 3; t += 2){
            omp_set_num_threads(t);
            upsample3d_forward_cpu(nc, d, h, w, od, oh, ow, ac, x, y);
            for(i = 0; i < ni; ++i) dx[i] = 0.25f;
            upsample3d_backward_cpu(nc, d, h, w, od, oh, ow, ac, dy, dx);
            CHECK_MSG(!memcmp(y, yr, no * 4), "shape %d ac %d threads %d: forward is not the direct formula's bits", si, ac, t);
            double e = 0, m = 1e-6;
            for(i = 0; i < ni; ++i){ double v = fabs(dx[i] - 0.25 - dxr[i]); if(v > e) e = v; if(fabs(dxr[i]) > m) m = fabs(dxr[i]); }
            CHECK_MSG(e / m <= 1e-6, "shape %d ac %d threads %d: backward rel err %g", si, ac, t, e / m);
            if(t == 1) memcpy(dx1, dx, ni * 4);
            else CHECK_MSG(!memcmp(dx, dx1, ni * 4), "shape %d ac %d: backward differs between 1 and 3 threads", si, ac);
        }
        omp_set_num_threads(nt0);
        free(x); free(dy); free(y); free(yr); free(dx); free(dx1); free(dxr);
    }
}

int main(void)
{
    darknet3d_init();
    have_gpu = darknet3d_gpu_available(0);
    if(system("mkdir -p tests/out")) return 1;
    srand(7);
    RUN(test_pytorch_fixtures);
    RUN(test_backward_accumulates);
    RUN(test_constant_and_identity);
    RUN(test_cfg);
    RUN(test_separable_vs_direct);
    RUN(test_gather_equals_adjoint);
    RUN(test_gpu_vs_cpu);
    TEST_MAIN_END();
}
