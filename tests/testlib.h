/* Minimal test harness for darknet3d's C tests: each TEST prints PASS/FAIL/SKIP lines that tests/run_tests.sh counts. */
#ifndef TESTLIB_H
#define TESTLIB_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fixture.h"   /* the fixtures' reader: fixture_f32, fixture_u8, fixture_load */

static int tl_failed_ = 0, tl_cur_failed_ = 0, tl_skipped_ = 0;
static const char *tl_name_ = "";

#define CHECK(cond) do { if(!(cond)) { printf("  check failed %s:%d: %s\n", __FILE__, __LINE__, #cond); tl_cur_failed_ = 1; } } while(0)
#define CHECK_MSG(cond, ...) do { if(!(cond)) { printf("  check failed %s:%d: %s: ", __FILE__, __LINE__, #cond); printf(__VA_ARGS__); printf("\n"); tl_cur_failed_ = 1; } } while(0)
#define CHECK_NEAR(a, b, tol) do { double a_ = (a), b_ = (b); if(!(fabs(a_ - b_) <= (tol))) { printf("  check failed %s:%d: %s = %.9g vs %s = %.9g (tol %g)\n", __FILE__, __LINE__, #a, a_, #b, b_, (double)(tol)); tl_cur_failed_ = 1; } } while(0)
/* Skips the current test with a reason; counted as skipped, never as passed. */
#define SKIP(...) do { printf("SKIP %s: ", tl_name_); printf(__VA_ARGS__); printf("\n"); tl_skipped_ = 1; return; } while(0)

#define RUN(fn) do { tl_name_ = #fn; tl_cur_failed_ = 0; tl_skipped_ = 0; fflush(stdout); fn(); \
    if(!tl_skipped_) { printf("%s %s\n", tl_cur_failed_ ? "FAIL" : "PASS", #fn); if(tl_cur_failed_) tl_failed_++; } fflush(stdout); } while(0)

#define TEST_MAIN_END() return tl_failed_ ? 1 : 0

/* the ./darknet of the test's own build (tests run as <build>/tests/test_x): <dir of argv0>/../darknet */
static inline void tl_darknet_bin(const char *argv0, char *out, size_t n)
{
    char dir[480];
    snprintf(dir, sizeof(dir), "%s", argv0);
    char *slash = strrchr(dir, '/');
    if(slash) *slash = 0; else snprintf(dir, sizeof(dir), ".");
    snprintf(out, n, "%s/../darknet", dir);
}

/* writes text to path (a cfg or a list for the test); 0 on success */
static inline int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if(!f) return -1;
    fputs(text, f);
    return fclose(f);
}

/* relative error max|a-b| / max(max|b|, floor) */
static inline double max_rel_err(const float *a, const float *b, size_t n, double floor_)
{
    double num = 0, den = floor_;
    size_t i;
    for(i = 0; i < n; ++i){
        double d = fabs((double)a[i] - b[i]);
        if(d > num) num = d;
        if(fabs(b[i]) > den) den = fabs(b[i]);
    }
    return num / den;
}

/* Reads a whole raw file of float32 values (a Darknet .weights file, say); returns count or -1.
 * Fixtures carry a header: read them with fixture_f32 (tests/fixture.h). */
static inline long read_fixture(const char *path, float **out)
{
    FILE *f = fopen(path, "rb");
    if(!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f) / (long)sizeof(float);
    fseek(f, 0, SEEK_SET);
    *out = malloc((n ? n : 1) * sizeof(float));
    if(fread(*out, sizeof(float), n, f) != (size_t)n){ fclose(f); free(*out); return -1; }
    fclose(f);
    return n;
}

/* Reads a whole raw file of bytes; returns count or -1. */
static inline long read_u8(const char *path, unsigned char **out)
{
    FILE *f = fopen(path, "rb");
    if(!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc(n ? n : 1);
    if(fread(*out, 1, n, f) != (size_t)n){ fclose(f); free(*out); *out = 0; return -1; }
    fclose(f);
    return n;
}
#endif
