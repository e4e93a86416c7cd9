/* Tests of the medpy-compatible metrics (src/metrics.c) against fixtures made by scripts/fixtures_metrics.py, plus the empty-mask conventions. */
#include <unistd.h>
#include "testlib.h"
#include "metrics.h"

static int cmp_float(const void *a, const void *b){ float x = *(const float *)a, y = *(const float *)b; return (x > y) - (x < y); }

static void test_percentile_linear(void)
{
    unsigned s = 7;
    int n, q, rep;
    for(n = 1; n < 60; n += 3) for(rep = 0; rep < 4; ++rep){
        float *x = malloc(n*sizeof(float)), *y = malloc(n*sizeof(float));
        int i;
        for(i = 0; i < n; ++i){ s = s*1664525u + 1013904223u; x[i] = (float)((s >> 20) % (rep ? 7 : 1000)); }
        memcpy(y, x, n*sizeof(float));
        qsort(y, n, sizeof(float), cmp_float);
        for(q = 0; q <= 100; q += 5){
            double pos = q/100.0*(n - 1);
            int lo = (int)floor(pos);
            double want = lo + 1 < n ? y[lo] + (y[lo+1] - y[lo])*(pos - lo) : y[n-1];
            float *t = malloc(n*sizeof(float));
            memcpy(t, x, n*sizeof(float));
            CHECK_NEAR(percentile_linear(t, n, q), want, 1e-4);
            free(t);
        }
        free(x); free(y);
    }
    CHECK(isnan(percentile_linear(NULL, 0, 95)));
}

static void test_surface_border(void)
{
    /* 3x3x3 full cube: only the centre is interior; a full 3x3x4 array on the border: everything is surface
       except the 2 inner voxels of the centre column */
    unsigned char m[3*3*4], s[3*3*4];
    int i, n = 0;
    for(i = 0; i < 36; ++i) m[i] = 1;
    mask_surface(m, 3, 3, 4, s);   /* D=3, H=3, W=4 */
    for(i = 0; i < 36; ++i) n += s[i];
    CHECK(n == 34);
    CHECK(s[1 + 4*(1 + 3*1)] == 0 && s[2 + 4*(1 + 3*1)] == 0);
}

static void test_metrics_fixtures(void)
{
    int k, found = 0;
    for(k = 0; k < 32; ++k){
        char p[256];
        float *shape = 0, *expect = 0;
        unsigned char *pr = 0, *rf = 0;
        snprintf(p, sizeof(p), "tests/fixtures/metrics/metric_%d_shape.f32", k);
        if(access(p, R_OK)) break;
        if(fixture_f32(p, 6, &shape) != 6){ CHECK_MSG(0, "%s", p); break; }
        int D = (int)shape[0], H = (int)shape[1], W = (int)shape[2];
        const long dhw[3] = {D, H, W};
        snprintf(p, sizeof(p), "tests/fixtures/metrics/metric_%d_pred.u8", k);
        long n1 = fixture_load(p, FIX_U8, 3, dhw, (void **)&pr, 0, 0);
        snprintf(p, sizeof(p), "tests/fixtures/metrics/metric_%d_ref.u8", k);
        long n2 = fixture_load(p, FIX_U8, 3, dhw, (void **)&rf, 0, 0);
        snprintf(p, sizeof(p), "tests/fixtures/metrics/metric_%d_expect.f32", k);
        long ne = fixture_f32(p, 6, &expect);
        float sp[3] = { shape[3], shape[4], shape[5] };
        CHECK(n1 == (long)D*H*W && n2 == n1 && ne == 6);
        if(n1 == (long)D*H*W && n2 == n1 && ne == 6){
            seg_metrics m;
            CHECK(seg_metrics_compute(pr, rf, D, H, W, sp, &m) == 0);
            double got[6] = { m.dice, m.jaccard, m.hd95, m.asd, m.hd95_mm, m.asd_mm };
            int j;
            for(j = 0; j < 6; ++j){
                double tol = 1e-4*fmax(1.0, fabs(expect[j]));
                CHECK_MSG(fabs(got[j] - expect[j]) <= tol, "fixture %d metric %d: %.7g vs medpy %.7g", k, j, got[j], expect[j]);
            }
        }
        free(shape); free(expect); free(pr); free(rf);
        ++found;
    }
    if(!found) SKIP("no fixtures tests/fixtures/metrics/metric_*");
}

static void test_metrics_empty_conventions(void)
{
    int D = 4, H = 5, W = 6, n = D*H*W;
    unsigned char *a = calloc(n, 1), *b = calloc(n, 1);
    float sp[3] = { 1, 2, 3 };
    seg_metrics m;
    CHECK(seg_metrics_compute(a, b, D, H, W, sp, &m) == 0);
    CHECK(m.dice == 1 && m.jaccard == 1 && m.hd95 == 0 && m.asd == 0 && m.hd95_mm == 0 && m.asd_mm == 0);
    b[7] = 3;  /* any non-zero value is foreground */
    CHECK(seg_metrics_compute(a, b, D, H, W, sp, &m) == 0);
    CHECK(m.dice == 0 && m.jaccard == 0 && isnan(m.hd95) && isnan(m.asd) && isnan(m.hd95_mm) && isnan(m.asd_mm));
    CHECK(seg_metrics_compute(b, a, D, H, W, sp, &m) == 0);
    CHECK(m.dice == 0 && isnan(m.hd95));
    a[7] = 1;
    CHECK(seg_metrics_compute(a, b, D, H, W, sp, &m) == 0);
    CHECK(m.dice == 1 && m.jaccard == 1 && m.hd95 == 0 && m.asd_mm == 0);
    CHECK(seg_metrics_compute(a, b, 0, H, W, sp, &m) == -1);
    float bad[3] = { 1, -1, 1 };
    CHECK(seg_metrics_compute(a, b, D, H, W, bad, &m) == -1);
    float prob[4] = { 0.2f, 0.7f, 0.5f, 0.9f }, truth[4] = { 0, 1, 1, 0 };
    CHECK_NEAR(dice_prob(prob, truth, 4, 0.5f), 2.0*1/(2 + 2), 1e-12);   /* 0.5 is not > 0.5 */
    free(a); free(b);
}

/* embedding a pair in a larger zero array (away from the border) must not change anything: checks the bbox crop */
static void test_metrics_crop_invariance(void)
{
    int D = 6, H = 7, W = 8, BD = 15, BH = 17, BW = 19, i;
    unsigned s = 99;
    unsigned char *a = calloc(D*H*W, 1), *b = calloc(D*H*W, 1);
    unsigned char *A = calloc(BD*BH*BW, 1), *B = calloc(BD*BH*BW, 1);
    for(i = 0; i < D*H*W; ++i){ s = s*1664525u + 1013904223u; a[i] = (s >> 28) < 9; b[i] = ((s >> 20) & 15) < 7; }
    int d, h, w;
    for(d = 0; d < D; ++d) for(h = 0; h < H; ++h) for(w = 0; w < W; ++w){
        A[(w+5) + BW*((h+4) + BH*(d+3))] = a[w + W*(h + H*d)];
        B[(w+5) + BW*((h+4) + BH*(d+3))] = b[w + W*(h + H*d)];
    }
    float sp[3] = { 1.5f, 0.5f, 0.8f };
    seg_metrics m1, m2;
    CHECK(seg_metrics_compute(A, B, BD, BH, BW, sp, &m1) == 0);
    /* the small array's border would erode differently: pad it by one voxel of zeros instead */
    int PD = D+2, PH = H+2, PW = W+2;
    unsigned char *pa = calloc(PD*PH*PW, 1), *pb = calloc(PD*PH*PW, 1);
    for(d = 0; d < D; ++d) for(h = 0; h < H; ++h) for(w = 0; w < W; ++w){
        pa[(w+1) + PW*((h+1) + PH*(d+1))] = a[w + W*(h + H*d)];
        pb[(w+1) + PW*((h+1) + PH*(d+1))] = b[w + W*(h + H*d)];
    }
    CHECK(seg_metrics_compute(pa, pb, PD, PH, PW, sp, &m2) == 0);
    CHECK_NEAR(m1.dice, m2.dice, 1e-12);
    CHECK_NEAR(m1.hd95, m2.hd95, 1e-5);
    CHECK_NEAR(m1.asd, m2.asd, 1e-5);
    CHECK_NEAR(m1.hd95_mm, m2.hd95_mm, 1e-5);
    CHECK_NEAR(m1.asd_mm, m2.asd_mm, 1e-5);
    free(a); free(b); free(A); free(B); free(pa); free(pb);
}

int main(void)
{
    RUN(test_percentile_linear);
    RUN(test_surface_border);
    RUN(test_metrics_fixtures);
    RUN(test_metrics_empty_conventions);
    RUN(test_metrics_crop_invariance);
    TEST_MAIN_END();
}
