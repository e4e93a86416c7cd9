/* Tests of the fixture reader (tests/fixture.h): every committed fixture has a valid header, and a stale, truncated, raw or mistyped fixture fails naming the file and the script that regenerates it. */
#include <dirent.h>
#include "testlib.h"

static const char *DIRS[] = {"conv3d", "dtransform", "small_layers", "dbisl", "metrics", "network"};

static int is_array_fixture(const char *name)
{
    size_t n = strlen(name);
    return (n > 4 && (!strcmp(name + n - 4, ".bin") || !strcmp(name + n - 4, ".f32"))) || (n > 3 && !strcmp(name + n - 3, ".u8"));
}

/* Every array file under tests/fixtures reads with a valid header whose shape matches its payload. */
static void test_all_fixtures_have_headers(void)
{
    size_t d;
    int files = 0;
    for(d = 0; d < sizeof(DIRS) / sizeof(DIRS[0]); ++d){
        char dir[256];
        snprintf(dir, sizeof(dir), "tests/fixtures/%s", DIRS[d]);
        DIR *h = opendir(dir);
        if(!h) continue;
        struct dirent *e;
        while((e = readdir(h))){
            if(!is_array_fixture(e->d_name)) continue;
            char path[512], why[768];
            void *data = 0;
            size_t n = strlen(e->d_name);
            int dtype = !strcmp(e->d_name + n - 3, ".u8") ? FIX_U8 : FIX_F32;
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            long c = fixture_load(path, dtype, 0, 0, &data, why, sizeof(why));
            CHECK_MSG(c >= 0, "%s", why);
            free(data);
            ++files;
        }
        closedir(h);
    }
    if(files == 0) SKIP("no fixtures under tests/fixtures");
    printf("  %d fixture files read\n", files);
    CHECK(files >= 200);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if(!f) return;
    fwrite(p, 1, n, f);
    fclose(f);
}

/* writes a 2x3 float32 fixture as scripts/fixtures_io.py does */
static size_t make_fixture(unsigned char *buf, int dtype)
{
    uint32_t head[5] = {FIXTURE_VERSION, (uint32_t)dtype, 2, 2, 3};
    float v[6] = {1, 2, 3, 4, 5, 6};
    memcpy(buf, "D3DF", 4);
    memcpy(buf + 4, head, sizeof(head));
    memcpy(buf + 24, v, sizeof(v));
    return 24 + sizeof(v);
}

static void expect_fail(const char *path, int dtype, int ndim, const long *shape, const char *needle)
{
    char why[768] = {0};
    void *data = (void *)1;
    long c = fixture_load(path, dtype, ndim, shape, &data, why, sizeof(why));
    CHECK_MSG(c == -1 && data == 0, "%s: accepted", path);
    CHECK_MSG(strstr(why, path) && strstr(why, needle) && strstr(why, "regenerate with scripts/fixtures_conv3d.py"),
              "message '%s' lacks the file, '%s' or the script", why, needle);
}

static void test_stale_fixtures_fail_by_name(void)
{
    if(system("mkdir -p tests/out/fixtures/conv3d")) return;
    unsigned char buf[256];
    size_t n = make_fixture(buf, FIX_F32);
    const char *p = "tests/out/fixtures/conv3d/x.bin";
    const long s23[2] = {2, 3}, s45[2] = {4, 5}, n6 = 6, n7 = 7;
    float *x = 0;
    /* the good file reads, as the exact shape and as 6 flat values */
    write_bytes(p, buf, n);
    CHECK(fixture_f32_shape(p, 2, s23, &x) == 6 && x && x[5] == 6);
    free(x); x = 0;
    CHECK(fixture_f32(p, 6, &x) == 6);
    free(x);
    /* a stale shape */
    expect_fail(p, FIX_F32, 2, s45, "shape 2x3 expected 4x5");
    expect_fail(p, FIX_F32, 1, &n7, "shape 2x3 (6 values) expected 7 values");
    expect_fail(p, FIX_U8, 1, &n6, "dtype float32 expected uint8");
    /* truncated payload, truncated header */
    write_bytes(p, buf, n - 4);
    expect_fail(p, FIX_F32, 2, s23, "20 payload bytes, the header's shape 2x3 needs 24");
    write_bytes(p, buf, 18);
    expect_fail(p, FIX_F32, 2, s23, "header truncated in the shape");
    /* a raw file of floats from before the headers */
    write_bytes(p, buf + 24, 24);
    expect_fail(p, FIX_F32, 1, &n6, "no D3DF header");
    /* another version */
    buf[4] = 9;
    write_bytes(p, buf, n);
    expect_fail(p, FIX_F32, 2, s23, "header version 9");
    /* missing */
    expect_fail("tests/out/fixtures/conv3d/none.bin", FIX_F32, 1, &n6, "missing");
}

/* A truncated copy of a committed fixture fails naming its script. */
static void test_truncated_copy_of_real_fixture(void)
{
    FILE *f = fopen("tests/fixtures/conv3d/c1_x.bin", "rb");
    if(!f) SKIP("tests/fixtures/conv3d/c1_x.bin missing");
    unsigned char *buf = malloc(1 << 16);
    size_t n = fread(buf, 1, 1 << 16, f);
    fclose(f);
    if(system("mkdir -p tests/out/fixtures/conv3d")) return;
    write_bytes("tests/out/fixtures/conv3d/c1_x.bin", buf, n - 8);
    const long shape[5] = {2, 3, 5, 6, 7};
    expect_fail("tests/out/fixtures/conv3d/c1_x.bin", FIX_F32, 5, shape, "payload bytes");
    write_bytes("tests/out/fixtures/conv3d/c1_x.bin", buf, n);
    float *x = 0;
    CHECK(fixture_f32_shape("tests/out/fixtures/conv3d/c1_x.bin", 5, shape, &x) == 2 * 3 * 5 * 6 * 7);
    free(x);
    free(buf);
}

int main(void)
{
    RUN(test_all_fixtures_have_headers);
    RUN(test_stale_fixtures_fail_by_name);
    RUN(test_truncated_copy_of_real_fixture);
    TEST_MAIN_END();
}
