/* Tests of the [r2s] layer Y = sigmoid(k*x): known values, saturation without NaN, accumulation into net.delta, cfg keys and CPU vs GPU. */
#include "testlib.h"
#include "darknet3d.h"
#include "r2s_layer.h"
#include "option_list.h"

static void test_known_values(void)
{
    float x[5] = {0, 0.001f, -0.001f, 1, -1}, y[5];
    r2s_forward_cpu(5, -1500, x, y);
    CHECK_NEAR(y[0], 0.5, 0);
    CHECK_NEAR(y[1], 1 / (1 + exp(1.5)), 1e-6);   /* outside (R > 0) -> below 0.5 */
    CHECK_NEAR(y[2], 1 / (1 + exp(-1.5)), 1e-6);  /* inside (R < 0) -> above 0.5 */
    CHECK(y[3] == 0 || y[3] < 1e-30);             /* saturated, finite */
    CHECK_NEAR(y[4], 1, 0);
    int i;
    for(i = 0; i < 5; ++i) CHECK(isfinite(y[i]));
    float big[2] = {1e30f, -1e30f}, yb[2];
    r2s_forward_cpu(2, -1500, big, yb);
    CHECK(yb[0] == 0 && yb[1] == 1);
}

static void test_layer_and_cfg(void)
{
    char err[256];
    size_params p = {0};
    p.batch = 2; p.c = 1; p.d = 3; p.h = 3 * 4; p.w = 5;
    layer l;
    list *o = make_list();
    option_insert(o, "k", "-10");
    CHECK(parse_r2s_section(o, p, &l, err, sizeof(err)) == 0);
    CHECK(l.alpha == -10 && l.outputs == 3 * 4 * 5 && l.out_d == 3 && l.out_h == 12);
    int n = l.batch * l.outputs, i;
    float *x = calloc(n, sizeof(float)), *nd = calloc(n, sizeof(float));
    for(i = 0; i < n; ++i) x[i] = 0.01f * (i % 13) - 0.06f;
    network net = {0};
    net.input = x; net.delta = nd;
    l.forward(l, net);
    for(i = 0; i < n; ++i){ l.delta[i] = 1; nd[i] = 2; }
    l.backward(l, net);
    for(i = 0; i < n; ++i) CHECK_NEAR(nd[i], 2 + -10 * l.output[i] * (1 - l.output[i]), 1e-6);
    net.delta = 0;
    l.backward(l, net); /* first layer: no delta, no crash */
    list *o2 = make_list();
    option_insert(o2, "k", "0");
    CHECK(parse_r2s_section(o2, p, &l, err, sizeof(err)) != 0 && strstr(err, "'k'"));
    list *o3 = make_list();
    option_insert(o3, "k", "abc");
    CHECK(parse_r2s_section(o3, p, &l, err, sizeof(err)) != 0 && strstr(err, "'k'"));
    free_layer(l);
    free_list_contents(o); free_list(o); free_list_contents(o2); free_list(o2); free_list_contents(o3); free_list(o3);
    free(x); free(nd);
}

static void test_cpu_vs_gpu(void)
{
#ifdef GPU
    if(!darknet3d_gpu_available(0)) SKIP("no CUDA device");
    int n = 1000003, i;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float)), *yg = malloc(n * sizeof(float));
    float *g = malloc(n * sizeof(float)), *dx = calloc(n, sizeof(float)), *dxg = malloc(n * sizeof(float));
    for(i = 0; i < n; ++i){ x[i] = sinf(i * 0.37f) * 0.01f; g[i] = cosf(i * 0.11f); }
    r2s_forward_cpu(n, -1500, x, y);
    r2s_backward_cpu(n, -1500, y, g, dx);
    float *x_g = cuda_make_array(x, n), *y_g = cuda_make_array(0, n), *g_g = cuda_make_array(g, n), *d_g = cuda_make_array(0, n);
    r2s_forward_gpu(n, -1500, x_g, y_g);
    r2s_backward_gpu(n, -1500, y_g, g_g, d_g);
    cuda_pull_array(y_g, yg, n); cuda_pull_array(d_g, dxg, n);
    CHECK(max_rel_err(yg, y, n, 1e-6) <= 1e-5);
    CHECK(max_rel_err(dxg, dx, n, 1e-6) <= 1e-4);
    cuda_free(x_g); cuda_free(y_g); cuda_free(g_g); cuda_free(d_g);
    free(x); free(y); free(yg); free(g); free(dx); free(dxg);
#else
    SKIP("CPU build");
#endif
}

int main(void)
{
    darknet3d_init();
    darknet3d_gpu_available(0);
    RUN(test_known_values);
    RUN(test_layer_and_cfg);
    RUN(test_cpu_vs_gpu);
    TEST_MAIN_END();
}
