/* Tests of mixed precision (core/amp.h): the dynamic loss scale, the precision setting and its CPU notice, and on a GPU the 16-bit conversions and the skip/unscale of an fp16 step. */
#include "testlib.h"
#include "darknet.h"
#include "darknet3d.h"
#include "amp.h"
#include "layers3d.h"
#ifdef GPU
#include "cuda.h"
#endif

/* GradScaler's schedule: halve and skip on overflow, double after AMP_GROWTH_INTERVAL good steps, never below 1 */
static void test_scaler(void)
{
    amp_scaler s;
    amp_scaler_init(&s);
    CHECK(s.scale == 65536.f && s.good_steps == 0 && s.skipped == 0);
    CHECK(amp_scaler_step(&s, 1) == 0);
    CHECK(s.scale == 32768.f && s.skipped == 1);
    int i, applied = 0;
    for(i = 0; i < AMP_GROWTH_INTERVAL - 1; ++i) applied += amp_scaler_step(&s, 0);
    CHECK(applied == AMP_GROWTH_INTERVAL - 1 && s.scale == 32768.f && s.good_steps == AMP_GROWTH_INTERVAL - 1);
    CHECK(amp_scaler_step(&s, 0) == 1);
    CHECK(s.scale == 65536.f && s.good_steps == 0);
    /* an overflow in the middle of a run of good steps restarts the count */
    for(i = 0; i < 10; ++i) amp_scaler_step(&s, 0);
    amp_scaler_step(&s, 1);
    CHECK(s.good_steps == 0 && s.scale == 32768.f && s.skipped == 2);
    for(i = 0; i < 40; ++i) amp_scaler_step(&s, 1);
    CHECK(s.scale == AMP_MIN_SCALE && s.skipped == 42);
    /* growth stops at the largest scale a .state accepts */
    s.scale = AMP_MAX_SCALE * 0.75f;
    for(i = 0; i < 3 * AMP_GROWTH_INTERVAL; ++i) amp_scaler_step(&s, 0);
    CHECK(s.scale == AMP_MAX_SCALE * 0.75f && s.scale <= AMP_MAX_SCALE);
}

/* Every value of -precision and of [net] precision works: the GPU value is applied, the CPU says it computes FP32 */
static void test_precision_values(void)
{
    static const char *v[] = {"fp32", "tf32", "fp16", "bf16"};
    char name[96], err[1024];
    int gi = gpu_index, i;
    gpu_index = -1;
    if(system("mkdir -p tests/out")) return;
    for(i = 0; i < 4; ++i){
        CHECK_MSG(darknet3d_set_precision("tests/out/none.cfg", v[i], name, sizeof(name), err, sizeof(err)) == 0, "%s: %s", v[i], err);
        CHECK(darknet3d_precision == DARKNET3D_FP32);
        CHECK_MSG(strstr(name, "fp32 (CPU") == name && (i == 0 || strstr(name, v[i])), "-precision %s: '%s'", v[i], name);
        FILE *f = fopen("tests/out/precision.cfg", "w");
        fprintf(f, "[net]\nbatch=1\nprecision=%s\n", v[i]);
        fclose(f);
        CHECK_MSG(darknet3d_set_precision("tests/out/precision.cfg", 0, name, sizeof(name), err, sizeof(err)) == 0, "%s: %s", v[i], err);
        CHECK_MSG(i == 0 || strstr(name, v[i]), "precision=%s: '%s'", v[i], name);
    }
    CHECK(darknet3d_set_precision("tests/out/precision.cfg", "fp8", name, sizeof(name), err, sizeof(err)) == -1);
    CHECK_MSG(strstr(err, "-precision") && strstr(err, "fp8") && strstr(err, "bf16"), "%s", err);
    FILE *f = fopen("tests/out/precision.cfg", "w");
    fprintf(f, "[net]\nbatch=1\nprecision=half\n");
    fclose(f);
    CHECK(darknet3d_set_precision("tests/out/precision.cfg", 0, name, sizeof(name), err, sizeof(err)) == -1);
    CHECK_MSG(strstr(err, "tests/out/precision.cfg:3") && strstr(err, "[net]") && strstr(err, "'precision'") && strstr(err, "half"), "%s", err);
#ifdef GPU
    if(darknet3d_gpu_available(0)){
        gpu_index = 0;
        /* channels_last: default 1; named in the header line at fp16|bf16, where it applies */
        for(i = 0; i < 8; ++i){
            f = fopen("tests/out/precision.cfg", "w");
            fprintf(f, "[net]\nbatch=1\n%s", i < 4 ? "" : "channels_last=0\n");
            fclose(f);
            CHECK(darknet3d_set_precision("tests/out/precision.cfg", v[i % 4], name, sizeof(name), err, sizeof(err)) == 0);
            CHECK_MSG(darknet3d_precision == i % 4 && strstr(name, v[i % 4]) == name, "-precision %s on the GPU: %d '%s'", v[i % 4], darknet3d_precision, name);
            CHECK_MSG(darknet3d_channels_last == (i < 4), "channels_last %d after %s", darknet3d_channels_last, name);
            const char *lay = i % 4 < 2 ? 0 : (i < 4 ? "channels-last 16-bit copies" : "NCDHW 16-bit copies");
            CHECK_MSG(lay ? strstr(name, lay) != 0 : strstr(name, "16-bit copies") == 0, "-precision %s: '%s'", v[i % 4], name);
        }
        darknet3d_channels_last = 1;
    }
#endif
    darknet3d_precision = DARKNET3D_FP32;
    gpu_index = gi;
}

/* 16-bit copies: values the type holds exactly come back exactly; beta 1 adds, beta 0 overwrites; rounding of one
 * value between two neighbours is to the nearest */
static void test_conversions_gpu(void)
{
#ifndef GPU
    SKIP("CPU build");
#else
    if(!darknet3d_gpu_available(0)) SKIP("no usable CUDA device");
    gpu_index = 0;
    enum { N = 1000 };
    static float x[N], y[N];
    int p, i;
    for(i = 0; i < N; ++i) x[i] = (float)((i % 64) - 32) * 0.125f;   /* exact in fp16 and bf16 */
    x[N - 1] = 1.f + 1.f / 4096;                                        /* 1 in both (below half an ulp) */
    x[N - 2] = 1.f + 27.f / 4096;   /* fp16: 6.75 ulps above 1, bf16: 0.84 ulp: nearest is 1 + 7*2^-10 / 1 + 2^-7, truncation gives less */
    float *xg = cuda_make_array(x, N), *yg = cuda_make_array(0, N);
    void *h;
    CHECK(cudaMalloc(&h, N * 2) == cudaSuccess);
    for(p = DARKNET3D_FP16; p <= DARKNET3D_BF16; ++p){
        darknet3d_precision = p;
        amp_to_half_gpu(xg, h, N);
        fill_gpu(N, 5, yg, 1);
        amp_from_half_gpu(h, yg, N, 0);
        cuda_pull_array(yg, y, N);
        int bad = 0;
        for(i = 0; i < N - 2; ++i) bad += y[i] != x[i];
        CHECK_MSG(bad == 0, "precision %d: %d values changed by the round trip", p, bad);
        CHECK_MSG(y[N - 1] == 1.f, "precision %d: 1 + 2^-12 -> %.9g", p, y[N - 1]);
        CHECK_MSG(y[N - 2] == (p == DARKNET3D_FP16 ? 1.f + 7.f / 1024 : 1.f + 1.f / 128), "precision %d: 1 + 27*2^-12 -> %.9g (not rounded to nearest)", p, y[N - 2]);
        amp_from_half_gpu(h, yg, N, 1);
        cuda_pull_array(yg, y, N);
        bad = 0;
        for(i = 0; i < N - 2; ++i) bad += y[i] != 2 * x[i];
        CHECK_MSG(bad == 0, "precision %d: %d sums wrong with beta 1", p, bad);
    }
    darknet3d_precision = DARKNET3D_FP32;
    cudaFree(h);
    cuda_free(xg); cuda_free(yg);
#endif
}

/* Channels-last copies: amp_to_half_t_gpu transposes each block of rows x cols (NCDHW -> NDHWC) while converting,
 * amp_from_half_t_gpu transposes back (overwriting, or adding with beta 1), compared with the same transposition
 * done here; shapes with partial 32 x 32 tiles, several tiles each way, and one row or column (no transposition). */
static void test_transposed_conversions_gpu(void)
{
#ifndef GPU
    SKIP("CPU build");
#else
    if(!darknet3d_gpu_available(0)) SKIP("no usable CUDA device");
    gpu_index = 0;
    /* the last two: more blocks than a grid's z extent (the host loop over chunks), and more row tiles than its y
     * extent (the tile loop) */
    static const int shapes[][3] = {{2, 3, 37}, {1, 40, 70}, {3, 16, 1}, {2, 1, 50}, {2, 16, 1000}, {70000, 2, 3}, {1, 2200000, 2}};
    enum { NMAX = 4400000 };
    float *x = malloc(NMAX * sizeof(float)), *y = malloc(NMAX * sizeof(float)), *want = malloc(NMAX * sizeof(float));
    CHECK(x && y && want);
    if(!x || !y || !want){ free(x); free(y); free(want); return; }
    int p, k, i;
    float *xg = cuda_make_array(0, NMAX), *yg = cuda_make_array(0, NMAX);
    void *h;
    CHECK(cudaMalloc(&h, NMAX * 2) == cudaSuccess);
    for(k = 0; k < (int)(sizeof(shapes) / sizeof(shapes[0])); ++k){
        int nb = shapes[k][0], rows = shapes[k][1], cols = shapes[k][2], b, r, c, n = nb * rows * cols;
        for(i = 0; i < n; ++i) x[i] = (float)((i % 251) - 125) * 0.125f;   /* exact in fp16 and bf16 */
        for(b = 0; b < nb; ++b) for(r = 0; r < rows; ++r) for(c = 0; c < cols; ++c)
            want[((size_t)b * cols + c) * rows + r] = x[((size_t)b * rows + r) * cols + c];
        cuda_push_array(xg, x, n);
        for(p = DARKNET3D_FP16; p <= DARKNET3D_BF16; ++p){
            darknet3d_precision = p;
            amp_to_half_t_gpu(xg, h, nb, rows, cols);
            amp_from_half_gpu(h, yg, n, 0);   /* the copy as it lies in memory */
            cuda_pull_array(yg, y, n);
            int bad = 0;
            for(i = 0; i < n; ++i) bad += y[i] != want[i];
            CHECK_MSG(bad == 0, "precision %d, %d x %d x %d: %d values of the transposed copy wrong", p, nb, rows, cols, bad);
            fill_gpu(n, 5, yg, 1);
            amp_from_half_t_gpu(h, yg, nb, cols, rows, 0);
            cuda_pull_array(yg, y, n);
            bad = 0;
            for(i = 0; i < n; ++i) bad += y[i] != x[i];
            CHECK_MSG(bad == 0, "precision %d, %d x %d x %d: %d values wrong after transposing back", p, nb, rows, cols, bad);
            amp_from_half_t_gpu(h, yg, nb, cols, rows, 1);
            cuda_pull_array(yg, y, n);
            bad = 0;
            for(i = 0; i < n; ++i) bad += y[i] != 2 * x[i];
            CHECK_MSG(bad == 0, "precision %d, %d x %d x %d: %d sums wrong with beta 1", p, nb, rows, cols, bad);
        }
    }
    darknet3d_precision = DARKNET3D_FP32;
    cudaFree(h);
    cuda_free(xg); cuda_free(yg);
    free(x); free(y); free(want);
#endif
}

/* An fp16 step: without overflow the new gradient is unscaled and the momentum kept; with one non-finite value
 * anywhere every buffer is restored bit for bit, the step is skipped and the scale halved */
static void test_step_gpu(void)
{
#ifndef GPU
    SKIP("CPU build");
#else
    if(!darknet3d_gpu_available(0)) SKIP("no usable CUDA device");
    gpu_index = 0;
    enum { NA = 777, NB = 5 };
    static float a[NA], b[NB], g[NA], out[NA];
    int i;
    for(i = 0; i < NA; ++i){ a[i] = 0.001f * (i % 97) - 0.03f; g[i] = 0.25f * ((i % 13) - 6); }
    for(i = 0; i < NB; ++i) b[i] = (float)i;
    float *ag = cuda_make_array(a, NA), *bg = cuda_make_array(b, NB);
    float *arr[2] = {ag, bg};
    size_t n[2] = {NA, NB};
    char err[1024];
    amp_params *p = amp_params_make(arr, n, 2, err, sizeof(err));
    CHECK_MSG(p != 0, "%s", err);
    if(!p) return;
    amp_scaler s;
    amp_scaler_init(&s);
    amp_step_begin(p);
    /* backward adds S * gradient into the update buffers */
    for(i = 0; i < NA; ++i) out[i] = a[i] + s.scale * g[i];
    cuda_push_array(ag, out, NA);
    CHECK(amp_step_finish(p, &s) == 1);
    cuda_pull_array(ag, out, NA);
    double worst = 0;
    for(i = 0; i < NA; ++i){ double e = fabs(out[i] - (a[i] + g[i])); if(e > worst) worst = e; }
    CHECK_MSG(worst <= 1e-6, "unscaled update off by %g", worst);
    CHECK(s.scale == AMP_INIT_SCALE && s.good_steps == 1);
    /* next step: an overflow in the second buffer */
    cuda_pull_array(ag, a, NA);
    amp_step_begin(p);
    for(i = 0; i < NA; ++i) out[i] = a[i] + s.scale * g[i];
    cuda_push_array(ag, out, NA);
    float inf[NB];
    for(i = 0; i < NB; ++i) inf[i] = b[i] + (i == 3 ? INFINITY : 1.f);
    cuda_push_array(bg, inf, NB);
    CHECK(amp_step_finish(p, &s) == 0);
    CHECK(s.scale == AMP_INIT_SCALE / 2 && s.skipped == 1 && s.good_steps == 0);
    static float ra[NA], rb[NB];
    cuda_pull_array(ag, ra, NA);
    cuda_pull_array(bg, rb, NB);
    CHECK(memcmp(ra, a, sizeof(a)) == 0 && memcmp(rb, b, sizeof(b)) == 0);
    /* a NaN (0 * inf in a backward pass) is an overflow too */
    amp_step_begin(p);
    for(i = 0; i < NA; ++i) out[i] = a[i] + (i == 500 ? NAN : s.scale * g[i]);
    cuda_push_array(ag, out, NA);
    CHECK(amp_step_finish(p, &s) == 0);
    CHECK(s.scale == AMP_INIT_SCALE / 4 && s.skipped == 2);
    cuda_pull_array(ag, ra, NA);
    CHECK(memcmp(ra, a, sizeof(a)) == 0);
    amp_params_free(p);
    cuda_free(ag); cuda_free(bg);
#endif
}

int main(void)
{
    darknet3d_init();
    darknet3d_gpu_available(0);
    RUN(test_scaler);
    RUN(test_precision_values);
    RUN(test_conversions_gpu);
    RUN(test_transposed_conversions_gpu);
    RUN(test_step_gpu);
    TEST_MAIN_END();
}
