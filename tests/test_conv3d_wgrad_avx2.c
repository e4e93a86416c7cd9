/* Tests of [conv3d]'s AVX2 weight-gradient kernel (layers/conv3d_wgrad_avx2.c): the same weight gradient as the general path on shapes with channel, column and row tails, padding up to k-1 and uneven kernels, the same bits at 1, 2 and 3 threads and with samples copied one by one, the layer's backward through it in a oneDNN build, and the shape rule. */
#include <omp.h>
#include "testlib.h"
#include "darknet.h"
#include "darknet3d.h"
#include "conv3d_direct.h"
#include "conv3d_wgrad_avx2.h"
#include "conv3d_winograd.h"
#include "cpu_isa.h"
#include "conv3d_test.h"

typedef c3t_shape shape;   /* sd last: 0 or 1 for stride 1 */

/* the kernel alone: dW from x and the same output gradient as c3t_run's */
static int kernel_dw(network *net, const float *x, float *dw)
{
    layer l = net->layers[1];
    network nn = *net;
    nn.input = (float *)x;
    c3t_fill(l.delta, (size_t)l.batch * l.outputs, 0.029);
    memset(l.weight_updates, 0, (size_t)l.nweights * sizeof(float));
    int r = conv3d_wgrad_avx2(l, nn);
    memcpy(dw, l.weight_updates, (size_t)l.nweights * sizeof(float));
    return r;
}

static void check_shape(const shape *s)
{
    const int B = 2;
    network *net = c3t_one_layer(s, B, "conv3d", "tests/out/conv3d_wgrad_avx2.cfg");
    CHECK_MSG(net != 0, "cfg of %dx%dx%dx%d -> %d", s->c, s->d, s->h, s->w, s->oc);
    if(!net) return;
    layer l = net->layers[1];
    conv3d_wgrad_avx2_mode = 2;
    CHECK_MSG(conv3d_wgrad_avx2_applies(l), "the kernel should take %d -> %d channels at w = %d", s->c, s->oc, s->w);
    size_t nx = (size_t)B * l.inputs, ny = (size_t)B * l.outputs, nw = (size_t)l.nweights;
    float *x = malloc(nx * sizeof(float)), *buf = malloc(2 * (ny + nx + nw) * sizeof(float)), *dw = malloc(nw * sizeof(float));
    float *y0 = buf, *dx0 = y0 + ny, *dw0 = dx0 + nx, *y1 = dw0 + nw, *dx1 = y1 + ny, *dw1 = dx1 + nx;
    c3t_fill(x, nx, 0.017);
    int saved = omp_get_max_threads(), threads[3] = {1, 2, 3}, t;
    conv3d_wgrad_avx2_mode = 0;
    c3t_run(net, x, y0, dx0, dw0);
    conv3d_wgrad_avx2_mode = 2;
    int kern;
    /* the row loops (1, where rows hold a vector), the outer-product kernel (2), then the default choice (3 here, 0 in
     * conv3d_wgrad_avx2_kernel) */
    for(kern = s->w >= 8 ? 1 : 2; kern <= 3; ++kern){
        conv3d_wgrad_avx2_kernel = kern % 3;
        for(t = 0; t < 3; ++t){
            omp_set_num_threads(threads[t]);
            CHECK(kernel_dw(net, x, t ? dw : dw1) == 0);
            if(t) CHECK_MSG(memcmp(dw, dw1, nw * sizeof(float)) == 0, "%d -> %d, kernel %d: dW differs at %d threads", s->c, s->oc, kern, threads[t]);
        }
        omp_set_num_threads(saved);
        if(kern == 2){   /* one sample per copy instead of the whole batch */
            const size_t group = conv3d_wgrad_avx2_group_floats;
            conv3d_wgrad_avx2_group_floats = 1;
            CHECK(kernel_dw(net, x, dw) == 0);
            CHECK_MSG(memcmp(dw, dw1, nw * sizeof(float)) == 0, "%d -> %d: dW differs with one sample per copy", s->c, s->oc);
            conv3d_wgrad_avx2_group_floats = group;
        }
        double e = c3t_max_rel(dw1, dw0, nw);
        CHECK_MSG(e < 2e-5, "%d -> %d at %dx%dx%d, kernel %dx%dx%d pad %d,%d,%d, AVX2 kernel %d: dW relative error %g", s->c, s->oc,
                  s->d, s->h, s->w, s->kd, s->kh, s->kw, s->pd, s->ph, s->pw, kern, e);
    }
#ifdef ONEDNN
    /* the layer's backward takes the kernel for dW; forward and dX are oneDNN's as before */
    c3t_run(net, x, y1, dx1, dw);
    CHECK_MSG(memcmp(y1, y0, ny * sizeof(float)) == 0 && memcmp(dx1, dx0, nx * sizeof(float)) == 0 &&
              memcmp(dw, dw1, nw * sizeof(float)) == 0,
              "%d -> %d at %dx%dx%d, kernel %dx%dx%d pad %d,%d,%d: the layer's backward did not take the kernel for dW alone "
              "(the same y %d, dX %d, dW %d)", s->c, s->oc, s->d, s->h, s->w, s->kd, s->kh, s->kw, s->pd, s->ph, s->pw,
              !memcmp(y1, y0, ny * sizeof(float)), !memcmp(dx1, dx0, nx * sizeof(float)), !memcmp(dw, dw1, nw * sizeof(float)));
#endif
    conv3d_wgrad_avx2_mode = 1;
    free(x); free(buf); free(dw);
    free_network(net);
}

static int cpu_has_avx2(void) { return cpu_isa_level() >= CPU_ISA_AVX2; }

static void test_kernel_matches_general_path(void)
{
    if(!cpu_has_avx2()) SKIP("this CPU has no AVX2 with FMA, or ONEDNN_MAX_CPU_ISA caps it: the kernel is not used here");
    conv3d_direct_enabled = 0;
    static const shape S[] = {
        {16, 16, 4, 6, 24, 3, 3, 3, 1, 1, 1, 1},   /* LA-mini's half-resolution layer: three whole vectors per row */
        {16, 16, 2, 3, 40, 3, 3, 3, 1, 1, 1, 1},   /* rows of 40: the default takes the row loops */
        {32, 12, 3, 5, 13, 3, 3, 3, 1, 1, 1, 1},   /* three blocks of 4 filters, a tail of 5 voxels */
        {3, 9, 4, 4, 12, 3, 3, 3, 0, 0, 0, 1},     /* no padding: 10 voxels per row; 9 filters, a block of one */
        {2, 5, 3, 4, 10, 3, 3, 3, 2, 2, 2, 1},     /* padding k-1: rows longer than the input's */
        {4, 10, 3, 5, 16, 1, 3, 3, 0, 1, 1, 1},    /* a 1x3x3 kernel */
        {5, 6, 4, 4, 17, 3, 2, 2, 1, 0, 1, 1},     /* even kernel sides */
        {9, 17, 2, 3, 8, 2, 3, 1, 1, 1, 0, 1},     /* kw = 1, one vector per row */
        {6, 5, 3, 4, 9, 3, 3, 3, 1, 1, 1, 1},      /* at most 8 filters: one vector of them, 12 columns per task */
        {40, 24, 2, 3, 4, 3, 3, 3, 1, 1, 1, 1},    /* two blocks of 16 filters, the second half empty; rows of 4 */
        {64, 64, 2, 2, 2, 3, 3, 3, 1, 1, 1, 1},    /* the V-Net's bottom: 8 voxels, 1728 columns */
    };
    size_t i;
    for(i = 0; i < sizeof(S) / sizeof(S[0]); ++i) check_shape(&S[i]);
    conv3d_direct_enabled = 1;
}

/* random shapes the rule takes (stride 1, kernel sides 1 to 3, padding up to k - 1): sides from 1 voxel, rows of 1 to
 * 40, 1 to 40 channels a side, each through both kernels as check_shape runs them; WGRAD_SHAPES=N sets how many
 * (default 12), the seed is fixed */
static void test_random_shapes(void)
{
    if(!cpu_has_avx2()) SKIP("this CPU has no AVX2 with FMA, or ONEDNN_MAX_CPU_ISA caps it");
    int n = c3t_sweep_count("WGRAD_SHAPES", 12), i;
    unsigned r = 4242u;
    conv3d_direct_enabled = 0;
    for(i = 0; i < n; ++i){
        shape s = {0};
        s.c = c3t_rand(&r, 1, 40); s.oc = c3t_rand(&r, 1, 40);
        s.kd = c3t_rand(&r, 1, 3); s.kh = c3t_rand(&r, 1, 3); s.kw = c3t_rand(&r, 1, 3);
        s.pd = c3t_rand(&r, 0, s.kd - 1); s.ph = c3t_rand(&r, 0, s.kh - 1); s.pw = c3t_rand(&r, 0, s.kw - 1);
        s.d = c3t_rand(&r, s.kd, 6); s.h = c3t_rand(&r, s.kh, 7); s.w = c3t_rand(&r, s.kw > 1 ? s.kw : 1, 40);
        s.sd = 1;
        if(s.kd * s.kh * s.kw == 1 && s.oc <= 4) s.oc += 4;   /* 1x1x1 with at most 4 filters: the pointwise loops */
        check_shape(&s);
    }
    conv3d_direct_enabled = 1;
}

/* whether the kernel takes a 16 -> 16, 3x3x3 layer with rows of w voxels under mode m (-1: the layer was not built) */
static int takes_at_width(int w, int m)
{
    const shape s = {16, 16, 3, 4, w, 3, 3, 3, 1, 1, 1, 1};
    network *net = c3t_one_layer(&s, 1, "conv3d", "tests/out/conv3d_wgrad_avx2.cfg");
    if(!net) return -1;
    int saved = conv3d_wgrad_avx2_mode;
    conv3d_wgrad_avx2_mode = m;
    int r = conv3d_wgrad_avx2_applies(net->layers[1]);
    conv3d_wgrad_avx2_mode = saved;
    free_network(net);
    return r;
}

static void test_shape_rule(void)
{
    if(!cpu_has_avx2()) SKIP("this CPU has no AVX2 with FMA, or ONEDNN_MAX_CPU_ISA caps it");
    static const struct { shape s; const char *kind; } S[] = {
        {{4, 8, 4, 4, 32, 3, 3, 3, 1, 1, 1, 2}, "conv3d"},    /* stride 2 */
        {{4, 8, 3, 4, 32, 4, 3, 3, 1, 1, 1, 1}, "conv3d"},    /* a kernel side of 4 */
        {{4, 8, 3, 4, 32, 3, 3, 3, 1, 1, 3, 1}, "conv3d"},    /* padding k */
        {{4, 8, 3, 4, 32, 3, 3, 3, 1, 1, 1, 1}, "deconv3d"},
    };
    size_t i;
    conv3d_wgrad_avx2_mode = 2;
    for(i = 0; i < sizeof(S) / sizeof(S[0]); ++i){
        network *net = c3t_one_layer(&S[i].s, 1, S[i].kind, "tests/out/conv3d_wgrad_avx2.cfg");
        CHECK_MSG(net != 0, "case %zu", i);
        if(!net) continue;
        CHECK_MSG(!conv3d_wgrad_avx2_applies(net->layers[1]), "case %zu should take the general path", i);
        free_network(net);
    }
    conv3d_wgrad_avx2_mode = 1;
    /* the default takes them only on a CPU without AVX-512F (or with it capped, cpu_isa.h), at any row length; 0 never */
    const int dflt = cpu_isa_level() == CPU_ISA_AVX2;
    CHECK(takes_at_width(32, 2) == 1);
    CHECK(takes_at_width(32, 1) == dflt);
    CHECK(takes_at_width(4, 1) == dflt);
    CHECK(takes_at_width(4, 2) == 1);
    CHECK(takes_at_width(16, 0) == 0);
}

/* the cap of ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA: lowers the processor's level by oneDNN's names, never raises it */
static void test_isa_cap(void)
{
    static const struct { int cpu; const char *cap; int level; } C[] = {
        {CPU_ISA_AVX512, 0, CPU_ISA_AVX512}, {CPU_ISA_AVX512, "", CPU_ISA_AVX512}, {CPU_ISA_AVX512, "AVX2", CPU_ISA_AVX2},
        {CPU_ISA_AVX512, "avx2", CPU_ISA_AVX2}, {CPU_ISA_AVX512, "AVX2_VNNI_2", CPU_ISA_AVX2}, {CPU_ISA_AVX512, "AVX", CPU_ISA_BASE},
        {CPU_ISA_AVX512, "SSE41", CPU_ISA_BASE}, {CPU_ISA_AVX512, "AVX512_CORE", CPU_ISA_AVX512},
        {CPU_ISA_AVX512, "AVX10_1_512_AMX_FP16", CPU_ISA_AVX512}, {CPU_ISA_AVX512, "ALL", CPU_ISA_AVX512},
        {CPU_ISA_AVX512, "AVX2X", CPU_ISA_AVX512}, {CPU_ISA_AVX2, "AVX512_CORE", CPU_ISA_AVX2}, {CPU_ISA_AVX2, "ALL", CPU_ISA_AVX2},
        {CPU_ISA_AVX2, "AVX", CPU_ISA_BASE}, {CPU_ISA_BASE, "AVX2", CPU_ISA_BASE},
    };
    size_t i;
    for(i = 0; i < sizeof(C) / sizeof(C[0]); ++i)
        CHECK_MSG(cpu_isa_capped(C[i].cpu, C[i].cap) == C[i].level, "level %d capped by '%s': %d, expected %d", C[i].cpu,
                  C[i].cap ? C[i].cap : "(none)", cpu_isa_capped(C[i].cpu, C[i].cap), C[i].level);
}

int main(void)
{
    darknet3d_init();
    gpu_index = -1;
    conv3d_winograd_mode = 0;   /* these 3x3x3 layers would take the Winograd loops, which have their own test */
    if(system("mkdir -p tests/out")) return 1;
    RUN(test_kernel_matches_general_path);
    RUN(test_random_shapes);
    RUN(test_shape_rule);
    RUN(test_isa_cap);
    TEST_MAIN_END();
}
