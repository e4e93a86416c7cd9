/* Tests of [conv3d]'s direct AVX-512 loops for thin layers (layers/conv3d_direct.c): the same forward, data gradient and weight gradient as the general path (oneDNN or vol2col + GEMM) on shapes with vector tails, padding up to k-1 and uneven kernels, the same bits at 1, 2 and 3 threads, and the shape rule. */
#include <omp.h>
#include "testlib.h"
#include "darknet.h"
#include "darknet3d.h"
#include "conv3d_direct.h"
#include "conv3d_winograd.h"
#include "cpu_isa.h"
#include "conv3d_test.h"

typedef c3t_shape shape;

/* the general path (0) or the direct loops (1) */
static void use(int direct) { conv3d_direct_enabled = direct; }

static void check_shape(const shape *s)
{
    network *net = c3t_one_layer(s, 2, "conv3d", "tests/out/conv3d_direct.cfg");
    CHECK_MSG(net != 0, "cfg of %dx%dx%dx%d -> %d, kernel %dx%dx%d pad %d,%d,%d", s->c, s->d, s->h, s->w, s->oc,
              s->kd, s->kh, s->kw, s->pd, s->ph, s->pw);
    if(!net) return;
    CHECK_MSG(conv3d_direct_applies(net->layers[1]), "the direct loops should take %d -> %d channels at w = %d", s->c, s->oc, s->w);
    double e[3];
    int bad = c3t_compare_paths(net, use, e);
    use(1);
    CHECK_MSG(e[0] < 1e-5 && e[1] < 1e-5 && e[2] < 1e-5, "%d -> %d at %dx%dx%d, kernel %dx%dx%d pad %d,%d,%d: relative errors "
              "forward %g, dX %g, dW %g", s->c, s->oc, s->d, s->h, s->w, s->kd, s->kh, s->kw, s->pd, s->ph, s->pw, e[0], e[1], e[2]);
    CHECK_MSG(bad == 0, "%d -> %d: results differ at %d threads", s->c, s->oc, bad);
    free_network(net);
}

static int cpu_has_avx512(void) { return cpu_isa_level() >= CPU_ISA_AVX512; }

static void test_direct_matches_general_path(void)
{
    if(!cpu_has_avx512()) SKIP("this CPU has no AVX-512F, or ONEDNN_MAX_CPU_ISA caps it: the direct loops are not used here");
    static const shape S[] = {
        {8, 8, 5, 7, 48, 3, 3, 3, 1, 1, 1},     /* LA-mini's full-resolution layer: three whole vectors per row */
        {16, 8, 4, 5, 20, 3, 3, 3, 1, 1, 1},    /* 16 channels in (the upsampled decoder's first layer), a 4-voxel tail */
        {3, 5, 4, 6, 37, 3, 3, 3, 0, 0, 0},     /* no padding: 35 voxels per row, three vectors with a tail of 3 */
        {1, 8, 3, 4, 16, 3, 3, 3, 2, 2, 2},     /* padding k-1: rows longer than the input's */
        {4, 2, 3, 5, 33, 1, 3, 3, 0, 1, 1},     /* a 1x3x3 kernel */
        {2, 3, 4, 4, 17, 3, 2, 2, 1, 0, 1},     /* even kernel sides */
        {9, 7, 2, 3, 64, 2, 3, 1, 1, 1, 0},     /* kw = 1, four vectors per row: two register blocks */
    };
    size_t i;
    for(i = 0; i < sizeof(S) / sizeof(S[0]); ++i) check_shape(&S[i]);
}

static void test_shape_rule(void)
{
    if(!cpu_has_avx512()) SKIP("this CPU has no AVX-512F, or ONEDNN_MAX_CPU_ISA caps it");
    static const shape S[] = {
        {8, 9, 3, 4, 32, 3, 3, 3, 1, 1, 1},     /* 9 filters */
        {17, 8, 3, 4, 32, 3, 3, 3, 1, 1, 1},    /* 17 input channels */
        {8, 8, 3, 4, 15, 3, 3, 3, 1, 1, 1},     /* rows shorter than a vector */
        {8, 8, 3, 4, 32, 1, 1, 1, 0, 0, 0},     /* pointwise */
    };
    size_t i;
    for(i = 0; i < sizeof(S) / sizeof(S[0]); ++i){
        network *net = c3t_one_layer(&S[i], 1, "conv3d", "tests/out/conv3d_direct.cfg");
        CHECK(net != 0);
        if(!net) continue;
        CHECK_MSG(!conv3d_direct_applies(net->layers[1]), "case %zu should take the general path", i);
        free_network(net);
    }
}

int main(void)
{
    darknet3d_init();
    gpu_index = -1;
    conv3d_winograd_mode = 0;   /* the general path: oneDNN's (or vol2col + GEMM) */
    if(system("mkdir -p tests/out")) return 1;
    RUN(test_direct_matches_general_path);
    RUN(test_shape_rule);
    TEST_MAIN_END();
}
