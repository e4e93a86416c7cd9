/* Tests of [conv3d]'s Winograd loops (layers/conv3d_winograd.c): the same forward, data gradient and weight gradient as the general path (oneDNN or vol2col + GEMM) to float rounding on shapes with odd sides, partial tile rows and channel counts off the register blocks, the same bits at 1, 2 and 3 threads, and the shape rule. */
#include <omp.h>
#include "testlib.h"
#include "darknet.h"
#include "darknet3d.h"
#include "conv3d_winograd.h"
#include "cpu_isa.h"
#include "conv3d_test.h"

typedef c3t_shape shape;

/* the general path (0) or the Winograd loops wherever their shape rule holds (1) */
static void use(int winograd) { conv3d_winograd_mode = winograd ? 2 : 0; }

/* s at the given batch: the rule takes the forward pass from 8 input channels and the backward up to 2048 channel
 * pairs; both paths' results agree to 1e-5 and are the same bits at 1-3 threads */
static void check_shape(const shape *s, int batch)
{
    network *net = c3t_one_layer(s, batch, "conv3d", "tests/out/conv3d_winograd.cfg");
    CHECK_MSG(net != 0, "cfg of %dx%dx%dx%d -> %d", s->c, s->d, s->h, s->w, s->oc);
    if(!net) return;
    layer l = net->layers[1];
    use(1);
    CHECK_MSG(conv3d_winograd_forward_applies(l) == (s->c >= 8) && conv3d_winograd_backward_applies(l) == ((long)s->c * s->oc <= 2048),
              "the Winograd loops should take %d -> %d channels at %dx%dx%d", s->c, s->oc, s->d, s->h, s->w);
    double e[3];
    int bad = c3t_compare_paths(net, use, e);
    printf("  %d -> %d at %dx%dx%d, batch %d: max difference over max magnitude, forward %.2g, dX %.2g, dW %.2g\n", s->c, s->oc,
           s->d, s->h, s->w, batch, e[0], e[1], e[2]);
    CHECK_MSG(e[0] < 1e-5 && e[1] < 1e-5 && e[2] < 1e-5, "%d -> %d at %dx%dx%d: relative errors forward %g, dX %g, dW %g",
              s->c, s->oc, s->d, s->h, s->w, e[0], e[1], e[2]);
    CHECK_MSG(bad == 0, "%d -> %d: results differ at %d threads", s->c, s->oc, bad);
    conv3d_winograd_mode = 1;
    free_network(net);
}

static int cpu_has_avx2(void) { return cpu_isa_level() >= CPU_ISA_AVX2; }

static void test_winograd_matches_general_path(void)
{
    if(!cpu_has_avx2()) SKIP("this CPU has no AVX2 and FMA, or ONEDNN_MAX_CPU_ISA caps it: the Winograd loops are not used here");
    static const shape S[] = {
        {16, 16, 6, 8, 32, 3, 3, 3, 1, 1, 1},   /* make bench's full-resolution layer, 2 tile rows of 16 tiles */
        {8, 8, 5, 7, 48, 3, 3, 3, 1, 1, 1},     /* LA-mini's: odd depth and height (half-empty tiles) */
        {1, 16, 4, 4, 17, 3, 3, 3, 1, 1, 1},    /* one input channel, an odd row: 9 tiles in two vectors */
        {7, 5, 3, 5, 23, 3, 3, 3, 1, 1, 1},     /* channel counts off the register blocks (6, 4, 2, 1 and 2, 1) */
        {32, 64, 2, 3, 16, 3, 3, 3, 1, 1, 1},   /* the most channels the rule takes: one tile row per block */
    };
    size_t i;
    for(i = 0; i < sizeof(S) / sizeof(S[0]); ++i) check_shape(&S[i], 2);
}

/* random shapes the rule takes in one pass or both, batch 1 to 3: depth and height from 1 (one half-empty tile), rows
 * of 16 to 71 voxels, 1 to 64 channels on each side (out x in at most 4096), on and off the register blocks;
 * WINOGRAD_SHAPES=N sets how many (default 12), the seed is fixed */
static void test_random_shapes(void)
{
    if(!cpu_has_avx2()) SKIP("this CPU has no AVX2 and FMA, or ONEDNN_MAX_CPU_ISA caps it");
    int n = c3t_sweep_count("WINOGRAD_SHAPES", 12), i;
    unsigned r = 12345u;
    for(i = 0; i < n; ++i){
        shape s = {0};
        s.c = c3t_rand(&r, 1, 64); s.oc = c3t_rand(&r, 1, 64);
        while((long)s.c * s.oc > 4096) s.oc /= 2;
        s.d = c3t_rand(&r, 1, 6); s.h = c3t_rand(&r, 1, 7); s.w = c3t_rand(&r, 16, 71);
        s.kd = s.kh = s.kw = 3; s.pd = s.ph = s.pw = 1;
        check_shape(&s, c3t_rand(&r, 1, 3));
    }
}

static void test_shape_rule(void)
{
    if(!cpu_has_avx2()) SKIP("this CPU has no AVX2 and FMA, or ONEDNN_MAX_CPU_ISA caps it");
    /* fw, bw: whether the forward and the backward pass take the Winograd loops */
    static const struct { shape s; int fw, bw; } S[] = {
        {{8, 8, 3, 4, 32, 3, 3, 3, 0, 0, 0}, 0, 0},     /* no padding */
        {{8, 8, 3, 4, 32, 3, 3, 3, 1, 1, 1, 2}, 0, 0},  /* stride 2 along depth */
        {{8, 8, 3, 4, 32, 1, 3, 3, 0, 1, 1}, 0, 0},     /* a 1x3x3 kernel */
        {{8, 8, 3, 4, 15, 3, 3, 3, 1, 1, 1}, 0, 0},     /* rows shorter than two vectors */
        {{7, 8, 3, 4, 32, 3, 3, 3, 1, 1, 1}, 0, 1},     /* fewer than 8 input channels: the backward only */
        {{64, 33, 3, 4, 32, 3, 3, 3, 1, 1, 1}, 1, 0},   /* out_c x c above 2048: the forward only */
        {{64, 64, 3, 4, 32, 3, 3, 3, 1, 1, 1}, 1, 0},   /* 4096: the forward only */
        {{65, 64, 3, 4, 32, 3, 3, 3, 1, 1, 1}, 0, 0},   /* above 4096 */
    };
    size_t i;
    conv3d_winograd_mode = 2;
    for(i = 0; i < sizeof(S) / sizeof(S[0]); ++i){
        network *net = c3t_one_layer(&S[i].s, 1, "conv3d", "tests/out/conv3d_winograd.cfg");
        CHECK(net != 0);
        if(!net) continue;
        layer l = net->layers[1];
        CHECK_MSG(conv3d_winograd_forward_applies(l) == S[i].fw && conv3d_winograd_backward_applies(l) == S[i].bw,
                  "case %zu: forward %d backward %d, expected %d %d", i, conv3d_winograd_forward_applies(l),
                  conv3d_winograd_backward_applies(l), S[i].fw, S[i].bw);
        free_network(net);
    }
    conv3d_winograd_mode = 0;
    network *net = c3t_one_layer(&S[0].s, 1, "conv3d", "tests/out/conv3d_winograd.cfg");
    if(net){
        CHECK_MSG(!conv3d_winograd_forward_applies(net->layers[1]) && !conv3d_winograd_backward_applies(net->layers[1]), "mode 0 takes nothing");
        free_network(net);
    }
    conv3d_winograd_mode = 1;
}

int main(void)
{
    darknet3d_init();
    gpu_index = -1;
    if(system("mkdir -p tests/out")) return 1;
    RUN(test_winograd_matches_general_path);
    RUN(test_random_shapes);
    RUN(test_shape_rule);
    TEST_MAIN_END();
}
