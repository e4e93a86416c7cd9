/* Tests of core/numerics3d.h: the stable sigmoid and softplus against double-precision references over the whole float range, with no overflow at the ends. */
#include <float.h>
#include <stdint.h>
#include "testlib.h"
#include "numerics3d.h"

/* distance in units in the last place of the float nearest to t (subnormal spacing at the bottom) */
static double ulps(float a, double t)
{
    float tf = (float)t;
    double u = (double)nextafterf(fabsf(tf), INFINITY) - fabsf(tf);
    return fabs((double)a - t) / u;
}

/* every 97th float bit pattern, i.e. x of both signs and all magnitudes (and the non-finite ones, which callers skip) */
#define SAMPLES (0x100000000ull / 97 + 1)
static float sample(uint64_t i)
{
    uint32_t u = (uint32_t)(i * 97);
    float x;
    memcpy(&x, &u, sizeof(x));
    return x;
}

static void test_sigmoid_accuracy(void)
{
    double worst = 0, worst_x = 0;
    long n = 0, bad_range = 0;
    for(uint64_t i = 0; i < SAMPLES; ++i){
        float x = sample(i);
        if(!isfinite(x)) continue;
        float y = sigmoid3d(x);
        double t = 1.0 / (1.0 + exp(-(double)x));
        ++n;
        if(!(y >= 0.f && y <= 1.f)) ++bad_range;
        if(t < FLT_MIN) continue;   /* subnormal results: absolute error below FLT_MIN is all that matters */
        double e = ulps(y, t);
        if(e > worst){ worst = e; worst_x = x; }
    }
    CHECK_MSG(bad_range == 0, "%ld of %ld values outside [0, 1]", bad_range, n);
    CHECK_MSG(worst <= 3, "max error %.2f ulp at x = %a", worst, worst_x);
    printf("  sigmoid3d: %ld sampled floats, max error %.2f ulp\n", n, worst);
}

static void test_sigmoid_ends(void)
{
    CHECK(sigmoid3d(INFINITY) == 1.f);
    CHECK(sigmoid3d(-INFINITY) == 0.f);
    CHECK(sigmoid3d(FLT_MAX) == 1.f);
    CHECK(sigmoid3d(-FLT_MAX) == 0.f);
    CHECK(sigmoid3d(0.f) == 0.5f);
    CHECK(isnan(sigmoid3d(NAN)));
    /* the symmetry sigmoid(-x) = 1 - sigmoid(x) to rounding */
    float xs[] = {1e-6f, 0.3f, 1.f, 4.5f, 17.f};
    for(int i = 0; i < 5; ++i) CHECK_NEAR(sigmoid3d(-xs[i]) + sigmoid3d(xs[i]), 1.0, 1.2e-7);
}

static void test_softplus(void)
{
    double worst = 0, worst_x = 0;
    for(uint64_t i = 0; i < SAMPLES; ++i){
        float x = sample(i);
        if(!isfinite(x)) continue;
        float y = softplus3d(x);
        /* log1p(exp(x)) in double overflows above ~709: x + log1p(exp(-x)) there */
        double t = x > 0 ? (double)x + log1p(exp(-(double)x)) : log1p(exp((double)x));
        if(t < FLT_MIN) continue;
        double e = ulps(y, t);
        if(e > worst){ worst = e; worst_x = x; }
    }
    CHECK_MSG(worst <= 3, "max error %.2f ulp at x = %a", worst, worst_x);
    CHECK(softplus3d(INFINITY) == INFINITY);
    CHECK(softplus3d(-INFINITY) == 0.f);
    CHECK(softplus3d(FLT_MAX) == FLT_MAX);
    CHECK(softplus3d(0.f) == logf(2.f));
    printf("  softplus3d: max error %.2f ulp\n", worst);
}

/* The saturated ends (|x| > 104, no expf call) give the same bits as the formula with the call: every float in
 * [-2^8, 2^8] whose magnitude is at least 64, both signs. */
static void test_saturation_same_bits(void)
{
    long n = 0, diff_s = 0, diff_p = 0;
    float x;
    for(x = 64.f; x <= 256.f; x = nextafterf(x, INFINITY)){
        for(int sgn = 0; sgn < 2; ++sgn){
            float v = sgn ? -x : x;
            volatile float e1 = expf(-v), e2 = expf(v);
            float ref_s = v >= 0 ? 1.f / (1.f + e1) : e2 / (1.f + e2);
            float ref_p = v > 0 ? v + log1pf(e1) : log1pf(e2);
            float s = sigmoid3d(v), p = softplus3d(v);
            diff_s += memcmp(&s, &ref_s, sizeof(float)) != 0;
            diff_p += memcmp(&p, &ref_p, sizeof(float)) != 0;
            ++n;
        }
    }
    CHECK_MSG(diff_s == 0, "sigmoid3d: %ld of %ld values differ from the formula", diff_s, n);
    CHECK_MSG(diff_p == 0, "softplus3d: %ld of %ld values differ from the formula", diff_p, n);
    printf("  saturated ends: %ld floats, same bits as the formula\n", n);
}

int main(void)
{
    RUN(test_sigmoid_accuracy);
    RUN(test_sigmoid_ends);
    RUN(test_softplus);
    RUN(test_saturation_same_bits);
    TEST_MAIN_END();
}
