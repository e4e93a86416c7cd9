/* Tests of [conv3d]'s direct AVX-512 loops for thin layers (layers/conv3d_direct.c): the same forward, data gradient and weight gradient as the general path (oneDNN or vol2col + GEMM) on shapes with vector tails, padding up to k-1 and uneven kernels, the same bits at 1, 2 and 3 threads, and the shape rule. */
#include <omp.h>
#include "testlib.h"
#include "darknet.h"
#include "darknet3d.h"
#include "conv3d_direct.h"
#include "cpu_isa.h"
#include "conv3d_test.h"

typedef c3t_shape shape;

static void check_shape(const shape *s)
{
    const int B = 2;
    network *net = c3t_one_layer(s, B, "conv3d", "tests/out/conv3d_direct.cfg");
    CHECK_MSG(net != 0, "cfg of %dx%dx%dx%d -> %d, kernel %dx%dx%d pad %d,%d,%d", s->c, s->d, s->h, s->w, s->oc,
              s->kd, s->kh, s->kw, s->pd, s->ph, s->pw);
    if(!net) return;
    layer l = net->layers[1];
    CHECK_MSG(conv3d_direct_applies(l), "the direct loops should take %d -> %d channels at w = %d", s->c, s->oc, s->w);
    size_t nx = (size_t)B * l.inputs, ny = (size_t)B * l.outputs, nw = (size_t)l.nweights;
    float *x = malloc(nx * sizeof(float)), *buf = malloc(2 * (ny + nx + nw) * sizeof(float));
    float *y0 = buf, *dx0 = y0 + ny, *dw0 = dx0 + nx, *y1 = dw0 + nw, *dx1 = y1 + ny, *dw1 = dx1 + nx;
    c3t_fill(x, nx, 0.017);
    int saved = omp_get_max_threads(), threads[3] = {1, 2, 3}, t;
    conv3d_direct_enabled = 0;
    c3t_run(net, x, y0, dx0, dw0);
    conv3d_direct_enabled = 1;
    for(t = 0; t < 3; ++t){
        omp_set_num_threads(threads[t]);
        if(t == 0){
            c3t_run(net, x, y1, dx1, dw1);
            double ey = c3t_max_rel(y1, y0, ny), ex = c3t_max_rel(dx1, dx0, nx), ew = c3t_max_rel(dw1, dw0, nw);
            CHECK_MSG(ey < 1e-5 && ex < 1e-5 && ew < 1e-5, "%d -> %d at %dx%dx%d, kernel %dx%dx%d pad %d,%d,%d: relative errors "
                      "forward %g, dX %g, dW %g", s->c, s->oc, s->d, s->h, s->w, s->kd, s->kh, s->kw, s->pd, s->ph, s->pw, ey, ex, ew);
            continue;
        }
        float *y = malloc((ny + nx + nw) * sizeof(float)), *dx = y + ny, *dw = dx + nx;
        c3t_run(net, x, y, dx, dw);
        CHECK_MSG(memcmp(y, y1, ny * sizeof(float)) == 0 && memcmp(dx, dx1, nx * sizeof(float)) == 0 &&
                  memcmp(dw, dw1, nw * sizeof(float)) == 0, "%d -> %d: results differ at %d threads", s->c, s->oc, threads[t]);
        free(y);
    }
    omp_set_num_threads(saved);
    free(x); free(buf);
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
    if(system("mkdir -p tests/out")) return 1;
    RUN(test_direct_matches_general_path);
    RUN(test_shape_rule);
    TEST_MAIN_END();
}
