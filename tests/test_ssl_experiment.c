/* scripts/ssl_experiment end to end on synthetic stand-ins of the two benchmarks' layouts: Pancreas-CT (.h5 in Hounsfield units, MC-Net lists) and BraTS2019 (MRI-like FLAIR .h5, SSL4MIS split files). */
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "testlib.h"
#include "hdf5.h"
#include "synth.h"
#include "volume_io.h"

#define OUT "tests/out/ssl_experiment/"

static char darknet_bin[512];

/* image (float32) and label (uint8) as h5[i][j][k] = v[i + nx*(j + ny*k)], the layout of the public .h5 files */
static int write_h5(const char *path, const volume *img, const volume *lab)
{
    size_t n = (size_t)img->nx * img->ny * img->nz, i, j, k;
    float *a = malloc(n * sizeof(float));
    unsigned char *b = malloc(n);
    if(!a || !b){ free(a); free(b); return -1; }
    for(i = 0; i < (size_t)img->nx; ++i) for(j = 0; j < (size_t)img->ny; ++j) for(k = 0; k < (size_t)img->nz; ++k){
        size_t src = i + img->nx * (j + img->ny * k), dst = k + img->nz * (j + img->ny * i);
        a[dst] = img->data[src];
        b[dst] = (unsigned char)(lab->data[src] > 0.5f);
    }
    hsize_t dims[3] = {(hsize_t)img->nx, (hsize_t)img->ny, (hsize_t)img->nz};
    int rc = -1;
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if(f >= 0){
        hid_t sp = H5Screate_simple(3, dims, NULL);
        hid_t d1 = H5Dcreate2(f, "image", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        hid_t d2 = H5Dcreate2(f, "label", H5T_STD_U8LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if(d1 >= 0 && d2 >= 0 && H5Dwrite(d1, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, a) >= 0 &&
           H5Dwrite(d2, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, b) >= 0) rc = 0;
        if(d1 >= 0) H5Dclose(d1);
        if(d2 >= 0) H5Dclose(d2);
        H5Sclose(sp);
        H5Fclose(f);
    }
    free(a); free(b);
    return rc;
}

/* A phantom (synth_case: z-scored, target = label) turned into CT (ct = 1) or FLAIR-like MRI (ct = 0) values.
 * CT: air (-1000 HU) outside an elliptic body, a bony rim (1200..2000 HU) inside its edge, soft tissue
 * 50 + 60 z HU elsewhere (the target, brighter, near +150 HU). MRI: 0 outside an elliptic head, 450 + 150 z inside
 * (at least 1). The target lies within 0.64 of the centre, inside the body/head, away from the rim. */
static void make_case(volume *img, volume *lab, int ct, uint64_t seed)
{
    synth_case(img, lab, seed);
    int x, y, z;
    size_t idx = 0;
    for(z = 0; z < img->nz; ++z) for(y = 0; y < img->ny; ++y) for(x = 0; x < img->nx; ++x, ++idx){
        double px = (x + 0.5) / img->nx * 2 - 1, py = (y + 0.5) / img->ny * 2 - 1, pz = (z + 0.5) / img->nz * 2 - 1;
        double zv = img->data[idx], v;
        if(ct){
            double r = sqrt(px * px + py * py);
            if(r > 0.95) v = -1000 + 15 * zv;
            else if(r > 0.85) v = fmin(2000, 1600 + 200 * zv);
            else v = 50 + 60 * zv;
        } else {
            double r = sqrt(px * px + py * py + 0.6 * pz * pz);
            v = r > 0.97 ? 0 : fmax(1, 450 + 150 * zv);
        }
        img->data[idx] = (float)v;
    }
}

/* a data set of n cases named <prefix>NNNN at dir/<sub>/<id><suffix>.h5 */
static int make_set(const char *dir, const char *sub, const char *prefix, const char *suffix, int n, int size, int ct, float *lo, float *hi)
{
    char path[1024];
    snprintf(path, sizeof(path), "mkdir -p %s/%s", dir, sub);
    if(system(path)) return -1;
    int c;
    *lo = 1e30f; *hi = -1e30f;
    for(c = 0; c < n; ++c){
        volume img, lab;
        if(volume_alloc(&img, size, size, size) || volume_alloc(&lab, size, size, size)) return -1;
        make_case(&img, &lab, ct, 100 + c);
        size_t i, nv = (size_t)size * size * size;
        for(i = 0; i < nv; ++i){ if(img.data[i] < *lo) *lo = img.data[i]; if(img.data[i] > *hi) *hi = img.data[i]; }
        snprintf(path, sizeof(path), "%s/%s/%s%04d%s.h5", dir, sub, prefix, c + 1, suffix);
        int rc = write_h5(path, &img, &lab);
        volume_free(&img); volume_free(&lab);
        if(rc) return -1;
    }
    return 0;
}

static int run(const char *cmd, char *last, size_t n, const char *log)
{
    char full[4096];
    snprintf(full, sizeof(full), "%s > %s 2>&1", cmd, log);
    int s = system(full);
    last[0] = 0;
    FILE *f = fopen(log, "r");
    if(f){ char line[1024]; while(fgets(line, sizeof(line), f)) snprintf(last, n, "%s", line); fclose(f); }
    size_t l = strlen(last);
    if(l && last[l - 1] == '\n') last[l - 1] = 0;
    return WIFEXITED(s) ? WEXITSTATUS(s) : 128;
}

static int file_has(const char *path, const char *text)
{
    char cmd[2200];
    snprintf(cmd, sizeof(cmd), "grep -qF -- '%s' %s", text, path);
    return system(cmd) == 0;
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if(!f) return -1;
    int n = 0, ch;
    while((ch = fgetc(f)) != EOF) n += ch == '\n';
    fclose(f);
    return n;
}

/* "sup_dice=0.1234 dbisl_dice=0.5678": both fractions with 4 decimals */
static int last_line_ok(const char *last)
{
    double a, b;
    char tail;
    return sscanf(last, "sup_dice=%lf dbisl_dice=%lf%c", &a, &b, &tail) == 2 && a >= 0 && a <= 1 && b >= 0 && b <= 1 &&
           strlen(last) == strlen("sup_dice=0.0000 dbisl_dice=0.0000");
}

/* the protocol on one data set; short: 2 iterations at the crop/stride given (NULL: the cfg's 96^3 and 16) */
static void check_protocol(const char *set, const char *data, const char *out, const char *crop, const char *stride, const char *first_test_case)
{
    char cmd[2048], last[1024], path[1024];
    snprintf(cmd, sizeof(cmd), "rm -rf %s && DARKNET=%s SSL_ITERS=2 SSL_LABELED=2 %s%s %s%s sh scripts/ssl_experiment %s %s %s 1",
             out, darknet_bin, crop ? "SSL_CROP=" : "", crop ? crop : "", stride ? "SSL_STRIDE=" : "", stride ? stride : "", set, data, out);
    snprintf(path, sizeof(path), "%s.log", out);
    int rc = run(cmd, last, sizeof(last), path);
    CHECK_MSG(rc == 0 && last_line_ok(last), "%s: exit %d, last line '%s' (see %s)", set, rc, last, path);
    const char *v[2] = {"sup", "dbisl"};
    int i;
    for(i = 0; i < 2; ++i){
        snprintf(path, sizeof(path), "%s/runs/%s-seed1/result.txt", out, v[i]);
        CHECK_MSG(file_has(path, " ok"), "%s %s: result not ok (%s)", set, v[i], path);
        snprintf(path, sizeof(path), "%s/runs/%s-seed1/test.csv", out, v[i]);
        CHECK_MSG(count_lines(path) == 3 && file_has(path, first_test_case), "%s %s: %s should score the 2 test cases", set, v[i], path);
        snprintf(path, sizeof(path), "%s/runs/%s-seed1/test.txt", out, v[i]);
        char want[128];
        snprintf(want, sizeof(want), "window %s, stride 16 16 16", crop ? "32 x 32 x 32" : "96 x 96 x 96");
        CHECK_MSG(file_has(path, want), "%s %s: %s lacks '%s'", set, v[i], path, want);
        snprintf(path, sizeof(path), "%s/runs/%s-seed1/train.log", out, v[i]);
        CHECK_MSG(file_has(path, "2:"), "%s %s: %s has no second iteration", set, v[i], path);
    }
    snprintf(path, sizeof(path), "%s/runs/dbisl-seed1/%s.data", out, set);
    CHECK_MSG(file_has(path, "unlabeled = "), "%s: the DBiSL run has no unlabeled list", set);
    snprintf(path, sizeof(path), "%s/runs/sup-seed1/%s.data", out, set);
    CHECK_MSG(!file_has(path, "unlabeled = "), "%s: the supervised run has an unlabeled list", set);
    snprintf(path, sizeof(path), "%s/lists/unlabeled.list", out);
    CHECK_MSG(count_lines(path) == 2, "%s: 4 training cases, 2 labeled: %s should hold 2", set, path);
    snprintf(path, sizeof(path), "%s/results.md", out);
    CHECK_MSG(count_lines(path) == 6 && file_has(path, "| 1/1 |"), "%s: %s", set, path);
}

static float ct_lo, ct_hi, mr_lo, mr_hi;

static void test_pancreas_layout(void)
{
    /* MC-Net/CoraNet: Pancreas_h5/<id>_norm.h5, train.list, test.list */
    CHECK(make_set(OUT "Pancreas", "Pancreas_h5", "image", "_norm", 6, 40, 1, &ct_lo, &ct_hi) == 0);
    CHECK(write_text(OUT "Pancreas/train.list", "image0001\nimage0002\nimage0003\nimage0004\n") == 0);
    CHECK(write_text(OUT "Pancreas/test.list", "image0005\nimage0006\n") == 0);
    CHECK_MSG(ct_lo <= -1000 + 60 && ct_hi >= 1900, "CT-like range: %g .. %g HU", ct_lo, ct_hi);
    check_protocol("pancreas", OUT "Pancreas", OUT "pancreas_out", "32,32,32", "16,16,16", "image0005");
    CHECK(file_has(OUT "pancreas_out/runs/dbisl-seed1/pancreas-dbisl.cfg", "normalize=ctwindow"));
    CHECK(file_has(OUT "pancreas_out/runs/dbisl-seed1/pancreas-dbisl.cfg", "depth=32"));
}

static void test_brats_layout(void)
{
    /* SSL4MIS: data/<id>.h5, train.txt, val.txt, test.txt (a line may carry more fields after a comma) */
    CHECK(make_set(OUT "BraTS2019", "data", "BraTS19_", "", 7, 40, 0, &mr_lo, &mr_hi) == 0);
    CHECK(write_text(OUT "BraTS2019/train.txt", "BraTS19_0001\nBraTS19_0002\nBraTS19_0003\nBraTS19_0004\n") == 0);
    CHECK(write_text(OUT "BraTS2019/val.txt", "BraTS19_0005,extra\n") == 0);
    CHECK(write_text(OUT "BraTS2019/test.txt", "BraTS19_0006\nBraTS19_0007\n\n") == 0);
    CHECK_MSG(mr_lo == 0 && mr_hi > 800, "MRI-like range: %g .. %g", mr_lo, mr_hi);
    check_protocol("brats", OUT "BraTS2019", OUT "brats_out", "32,32,32", "16,16,16", "BraTS19_0006");
    CHECK(file_has(OUT "brats_out/runs/dbisl-seed1/brats.data", "valid = "));
    CHECK(file_has(OUT "brats_out/lists/valid.list", "BraTS19_0005") && !file_has(OUT "brats_out/lists/valid.list", "extra"));
}

static void test_bad_input(void)
{
    char cmd[1024], last[1024];
    snprintf(cmd, sizeof(cmd), "DARKNET=%s sh scripts/ssl_experiment liver " OUT "Pancreas " OUT "x", darknet_bin);
    int rc = run(cmd, last, sizeof(last), OUT "bad.log");
    CHECK_MSG(rc == 2 && strstr(last, "pancreas or brats"), "unknown set: exit %d, '%s'", rc, last);
    snprintf(cmd, sizeof(cmd), "DARKNET=%s sh scripts/ssl_experiment brats " OUT "Pancreas " OUT "x", darknet_bin);
    rc = run(cmd, last, sizeof(last), OUT "bad.log");
    CHECK_MSG(rc == 1 && strstr(last, "train.txt not found") && strstr(last, "SSL4MIS"), "wrong layout: exit %d, '%s'", rc, last);
    snprintf(cmd, sizeof(cmd), "DARKNET=%s SSL_LABELED=4 sh scripts/ssl_experiment pancreas " OUT "Pancreas " OUT "x", darknet_bin);
    rc = run(cmd, last, sizeof(last), OUT "bad.log");
    CHECK_MSG(rc == 1 && strstr(last, "some must stay unlabeled"), "all labeled: exit %d, '%s'", rc, last);
    snprintf(cmd, sizeof(cmd), "DARKNET=%s SSL_CROP=32,32 sh scripts/ssl_experiment pancreas " OUT "Pancreas " OUT "x", darknet_bin);
    rc = run(cmd, last, sizeof(last), OUT "bad.log");
    CHECK_MSG(rc == 2 && strstr(last, "SSL_CROP=32,32: three positive integers"), "bad crop: exit %d, '%s'", rc, last);
    CHECK(write_text(OUT "Pancreas/test2.list", "image0009\n") == 0);
    snprintf(cmd, sizeof(cmd), "mkdir -p " OUT "P2 && cp -r " OUT "Pancreas/Pancreas_h5 " OUT "Pancreas/train.list " OUT "P2/ && "
             "cp " OUT "Pancreas/test2.list " OUT "P2/test.list && DARKNET=%s SSL_LABELED=2 sh scripts/ssl_experiment pancreas " OUT "P2 " OUT "x", darknet_bin);
    rc = run(cmd, last, sizeof(last), OUT "bad.log");
    CHECK_MSG(rc == 1 && strstr(last, "image0009_norm.h5 not found"), "missing case: exit %d, '%s'", rc, last);
}

/* the real crop and stride: 96 x 96 x 96 crops of 112^3 volumes, stride 16 (2 x 2 x 2 windows per case) */
static void test_full_size(void)
{
    if(!getenv("SSL_FULL_SIZE")) SKIP("96^3 crops take minutes on a CPU: run with SSL_FULL_SIZE=1");
    float lo, hi;
    CHECK(make_set(OUT "PancreasFull", "Pancreas_h5", "image", "_norm", 6, 112, 1, &lo, &hi) == 0);
    CHECK(write_text(OUT "PancreasFull/train.list", "image0001\nimage0002\nimage0003\nimage0004\n") == 0);
    CHECK(write_text(OUT "PancreasFull/test.list", "image0005\nimage0006\n") == 0);
    check_protocol("pancreas", OUT "PancreasFull", OUT "pancreas_full_out", NULL, NULL, "image0005");
    CHECK(make_set(OUT "BraTSFull", "data", "BraTS19_", "", 7, 112, 0, &lo, &hi) == 0);
    CHECK(write_text(OUT "BraTSFull/train.txt", "BraTS19_0001\nBraTS19_0002\nBraTS19_0003\nBraTS19_0004\n") == 0);
    CHECK(write_text(OUT "BraTSFull/val.txt", "BraTS19_0005\n") == 0);
    CHECK(write_text(OUT "BraTSFull/test.txt", "BraTS19_0006\nBraTS19_0007\n") == 0);
    check_protocol("brats", OUT "BraTSFull", OUT "brats_full_out", NULL, NULL, "BraTS19_0006");
}

int main(int argc, char **argv)
{
    (void)argc;
    tl_darknet_bin(argv[0], darknet_bin, sizeof(darknet_bin));
    if(access(darknet_bin, X_OK)){ printf("SKIP ssl_experiment: no darknet binary at %s\n", darknet_bin); return 0; }
    if(system("rm -rf " OUT " && mkdir -p " OUT)) return 1;
    RUN(test_pancreas_layout);
    RUN(test_brats_layout);
    RUN(test_bad_input);
    RUN(test_full_size);
    TEST_MAIN_END();
}
