/* [net] normalize (none, zscore, ctwindow with window_lo / window_hi): the reader's values and errors, and what each choice does to a volume. */
#include "testlib.h"
#include "intensity.h"

#define OUT "tests/out/intensity_"

static void write_cfg(const char *path, const char *net_lines)
{
    FILE *f = fopen(path, "w");
    if(!f) return;
    fprintf(f, "[net]\nbatch=1\nwidth=4\nheight=4\ndepth=4\nchannels=1\n%s\n[conv3d]\nfilters=1\nsize=1\n", net_lines);
    fclose(f);
}

/* reads the cfg made of net_lines; returns intensity_read's result, message in err */
static int read_net(const char *net_lines, intensity_norm *n, char *err, size_t errlen)
{
    write_cfg(OUT "net.cfg", net_lines);
    err[0] = 0;
    return intensity_read(OUT "net.cfg", n, err, errlen);
}

static void test_reader_values(void)
{
    intensity_norm n;
    char err[512];
    CHECK(read_net("", &n, err, sizeof(err)) == 0 && n.mode == NORM_NONE);
    CHECK(read_net("normalize=none", &n, err, sizeof(err)) == 0 && n.mode == NORM_NONE);
    CHECK(read_net("normalize=zscore", &n, err, sizeof(err)) == 0 && n.mode == NORM_ZSCORE);
    CHECK(read_net("normalize=ctwindow", &n, err, sizeof(err)) == 0 && n.mode == NORM_CTWINDOW);
    CHECK_NEAR(n.lo, -125, 0);
    CHECK_NEAR(n.hi, 275, 0);
    CHECK(read_net("normalize = ctwindow\nwindow_lo = -1000\nwindow_hi=2000.5", &n, err, sizeof(err)) == 0);
    CHECK_NEAR(n.lo, -1000, 0);
    CHECK_NEAR(n.hi, 2000.5, 0);
    CHECK(read_net("normalize=ctwindow\nwindow_hi=-200", &n, err, sizeof(err)) == -1);   /* below the default lo */
    CHECK(read_net("normalize=ctwindow\nwindow_lo=-300\nwindow_hi=-200", &n, err, sizeof(err)) == 0 && n.lo == -300 && n.hi == -200);
}

static void test_reader_errors(void)
{
    intensity_norm n;
    char err[512];
    struct { const char *lines, *want; } bad[] = {
        {"normalize=minmax", ":7: [net]: key 'normalize': expected none, zscore or ctwindow, got 'minmax'"},
        {"normalize=zscore\nwindow_lo=-100", ":8: [net]: key 'window_lo': applies only with normalize=ctwindow"},
        {"window_hi=100", ":7: [net]: key 'window_hi': applies only with normalize=ctwindow"},
        {"normalize=ctwindow\nwindow_lo=10\nwindow_hi=10", ":9: [net]: key 'window_hi': the window needs window_lo < window_hi"},
        {"normalize=ctwindow\nwindow_lo=300", ":8: [net]: key 'window_lo': the window needs window_lo < window_hi"},
        {"normalize=ctwindow\nwindow_lo=-40000", ":8: [net]: key 'window_lo': expected a number in [-32768, 32766], got '-40000'"},
        {"normalize=ctwindow\nwindow_hi=abc", ":8: [net]: key 'window_hi': expected a number"},
        {"normalize=ctwindow\nwindow_hi=nan", ":8: [net]: key 'window_hi': expected a number"},
    };
    size_t i;
    for(i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i){
        int rc = read_net(bad[i].lines, &n, err, sizeof(err));
        CHECK_MSG(rc == -1 && strstr(err, bad[i].want) && strstr(err, OUT "net.cfg"), "'%s': rc %d, err '%s'", bad[i].lines, rc, err);
    }
}

static double mean_of(const volume *v) { double s = 0; size_t i, n = (size_t)v->nx * v->ny * v->nz; for(i = 0; i < n; ++i) s += v->data[i]; return s / n; }

static void test_apply(void)
{
    /* CT-like values: air, fat, the window's ends, soft tissue, bone */
    const float hu[8] = {-1000, -100, -125, 40, 275, 1200, 60, 2000};
    volume v;
    CHECK(volume_alloc(&v, 2, 2, 2) == 0);
    intensity_norm ct = {NORM_CTWINDOW, -125, 275}, z = {NORM_ZSCORE, 0, 0}, none = {NORM_NONE, 0, 0};
    int i;
    for(i = 0; i < 8; ++i) v.data[i] = hu[i];
    intensity_apply(&none, &v);
    for(i = 0; i < 8; ++i) CHECK(v.data[i] == hu[i]);
    intensity_apply(&ct, &v);
    /* expected: clip to [-125, 275], then z-score over the 8 voxels */
    double c[8], m = 0, s = 0;
    for(i = 0; i < 8; ++i){ c[i] = hu[i] < -125 ? -125 : (hu[i] > 275 ? 275 : hu[i]); m += c[i] / 8; }
    for(i = 0; i < 8; ++i) s += (c[i] - m) * (c[i] - m) / 8;
    for(i = 0; i < 8; ++i) CHECK_NEAR(v.data[i], (c[i] - m) / sqrt(s), 1e-5);
    CHECK(v.data[0] == v.data[2] && v.data[4] == v.data[7]);    /* air and bone sit on the window's ends */
    /* values inside the window (already normalised data): ctwindow equals zscore */
    volume a, b;
    CHECK(volume_alloc(&a, 3, 2, 2) == 0 && volume_alloc(&b, 3, 2, 2) == 0);
    for(i = 0; i < 12; ++i) a.data[i] = b.data[i] = 0.1f * i - 0.4f;
    intensity_apply(&ct, &a);
    intensity_apply(&z, &b);
    for(i = 0; i < 12; ++i) CHECK_NEAR(a.data[i], b.data[i], 0);
    CHECK_NEAR(mean_of(&b), 0, 1e-6);
    /* a volume entirely outside the window becomes constant, then 0 */
    for(i = 0; i < 8; ++i) v.data[i] = -1000 - i;
    intensity_apply(&ct, &v);
    for(i = 0; i < 8; ++i) CHECK(v.data[i] == 0);
    volume_free(&v); volume_free(&a); volume_free(&b);
}

int main(void)
{
    if(system("mkdir -p tests/out")) return 1;
    RUN(test_reader_values);
    RUN(test_reader_errors);
    RUN(test_apply);
    TEST_MAIN_END();
}
