/* Tests of the exact 3D EDT (core/edt.c) against brute force and against scipy.ndimage.distance_transform_edt fixtures. */
#include <unistd.h>
#include "testlib.h"
#include "edt.h"

static unsigned rng_state = 12345;
static unsigned rnd(void){ rng_state = rng_state*1103515245u + 12345u; return (rng_state >> 16) & 0x7fff; }

/* brute force: min over all sites of the spacing-weighted distance */
static void brute(const unsigned char *m, int D, int H, int W, const float sp[3], float *out)
{
    int n = D*H*W, i, j;
    for(i = 0; i < n; ++i){
        int d = i/(H*W), h = (i/W)%H, w = i%W;
        double best = INFINITY;
        for(j = 0; j < n; ++j){
            if(!m[j]) continue;
            double a = sp[0]*(d - j/(H*W)), b = sp[1]*(h - (j/W)%H), c = sp[2]*(w - j%W);
            double dd = a*a + b*b + c*c;
            if(dd < best) best = dd;
        }
        out[i] = (float)sqrt(best);
    }
}

static void test_edt_brute_random(void)
{
    static const int shapes[][3] = { {1,1,1}, {1,1,7}, {1,6,1}, {5,1,1}, {3,4,5}, {7,9,11}, {13,5,8}, {2,17,3}, {9,9,9} };
    static const float sps[][3] = { {1,1,1}, {2.5f,0.625f,0.625f}, {0.3f,1.7f,1.1f} };
    static const int dens[] = { 1, 5, 30, 90 }; /* percent of sites */
    int si, pi, di, rep, ok = 1;
    for(si = 0; si < (int)(sizeof(shapes)/sizeof(shapes[0])); ++si)
    for(pi = 0; pi < 3; ++pi)
    for(di = 0; di < 4; ++di)
    for(rep = 0; rep < 3; ++rep){
        int D = shapes[si][0], H = shapes[si][1], W = shapes[si][2], n = D*H*W, i, cnt = 0;
        unsigned char *m = calloc(n, 1);
        float *a = malloc(n*sizeof(float)), *b = malloc(n*sizeof(float));
        for(i = 0; i < n; ++i){ m[i] = (int)(rnd() % 100) < dens[di]; cnt += m[i]; }
        int r = edt3d(m, D, H, W, sps[pi], a);
        CHECK(r == cnt);
        if(cnt == 0){
            for(i = 0; i < n; ++i) if(!isinf(a[i])){ ok = 0; break; }
        } else {
            brute(m, D, H, W, sps[pi], b);
            double e = max_rel_err(a, b, n, 1.0);
            if(!(e <= 1e-5)){ printf("  shape %dx%dx%d spacing %d density %d: rel err %g\n", D, H, W, pi, dens[di], e); ok = 0; }
            for(i = 0; i < n; ++i) if(m[i] && a[i] != 0){ ok = 0; break; }
        }
        free(m); free(a); free(b);
    }
    CHECK(ok);
}

static void test_edt_sq_and_errors(void)
{
    int D = 4, H = 5, W = 6, n = D*H*W, i;
    float sp[3] = { 2, 1, 0.5f };
    unsigned char *m = calloc(n, 1);
    float *a = malloc(n*sizeof(float)), *b = malloc(n*sizeof(float));
    m[3 + W*(2 + H*1)] = 1;
    m[0] = 1;
    CHECK(edt3d(m, D, H, W, sp, a) == 2);
    CHECK(edt3d_sq(m, D, H, W, sp, b) == 2);
    double e = 0;
    for(i = 0; i < n; ++i){ double t = fabs((double)a[i]*a[i] - b[i]); if(t > e) e = t; }
    CHECK(e < 1e-4);
    /* a single site: closed form */
    CHECK_NEAR(a[5 + W*(4 + H*3)], sqrt(4.0*4 + 2.0*2 + 1.0*1), 1e-5);
    float bad[3] = { 1, 0, 1 };
    CHECK(edt3d(m, D, H, W, bad, a) == -1);
    CHECK(edt3d(m, 0, H, W, sp, a) == -1);
    CHECK(edt3d(NULL, D, H, W, sp, a) == -1);
    free(m); free(a); free(b);
}

/* fixture files written by scripts/fixtures_metrics.py: edt_<k>_shape.f32 (D,H,W,sd,sh,sw), _mask.u8, _dist.f32 */
static void test_edt_scipy_fixtures(void)
{
    int k, found = 0;
    for(k = 0; k < 16; ++k){
        char p[256];
        float *shape = 0, *dist = 0;
        unsigned char *m = 0;
        snprintf(p, sizeof(p), "tests/fixtures/metrics/edt_%d_shape.f32", k);
        if(access(p, R_OK)) break;
        if(fixture_f32(p, 6, &shape) != 6){ CHECK_MSG(0, "%s", p); break; }
        int D = (int)shape[0], H = (int)shape[1], W = (int)shape[2];
        const long dhw[3] = {D, H, W};
        snprintf(p, sizeof(p), "tests/fixtures/metrics/edt_%d_mask.u8", k);
        long n = fixture_load(p, FIX_U8, 3, dhw, (void **)&m, 0, 0);
        snprintf(p, sizeof(p), "tests/fixtures/metrics/edt_%d_dist.f32", k);
        long n2 = fixture_f32_shape(p, 3, dhw, &dist);
        float sp[3] = { shape[3], shape[4], shape[5] };
        CHECK(n == (long)D*H*W && n2 == n);
        if(n == (long)D*H*W && n2 == n){
            float *o = malloc(n*sizeof(float));
            edt3d(m, D, H, W, sp, o);
            double e = max_rel_err(o, dist, n, 1.0);
            CHECK_MSG(e <= 1e-4, "fixture %d: rel err %g", k, e);
            free(o);
        }
        free(shape); free(m); free(dist);
        ++found;
    }
    if(!found) SKIP("no fixtures tests/fixtures/metrics/edt_*");
}

int main(void)
{
    RUN(test_edt_brute_random);
    RUN(test_edt_sq_and_errors);
    RUN(test_edt_scipy_fixtures);
    TEST_MAIN_END();
}
