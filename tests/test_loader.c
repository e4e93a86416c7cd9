/* Tests of src/loader.c: crop/pad/flip/rot90 index arithmetic against a brute-force reference, two-stream sampling, truth layout, seeds, the background thread. */
#include <stdint.h>
#include <sys/stat.h>
#include "testlib.h"
#include "dataset.h"
#include "loader.h"
#include "volume_io.h"

#define OUT "tests/out/loader"

static uint64_t trng = 12345;
static int rnd(int n) { trng = trng * 6364136223846793005ull + 1442695040888963407ull; return (int)((trng >> 33) % (uint64_t)n); }

/* brute force: crop with zero padding, then Rot^k with Rot(a)[x][y] = a[y][W-1-x] per slice, then the flips */
static void reference(const float *img, const uint8_t *lab, int nx, int ny, int nz, int W, int H, int D,
                      const loader_sample_info *s, float *x, float *y)
{
    size_t n = (size_t)W * H * D;
    float *ci = calloc(n, 4), *cl = calloc(n, 4), *ti = calloc(n, 4), *tl = calloc(n, 4);
    int a, b, c, r;
    for(c = 0; c < D; ++c) for(b = 0; b < H; ++b) for(a = 0; a < W; ++a){
        int vx = s->ox + a, vy = s->oy + b, vz = s->oz + c;
        size_t o = a + (size_t)W * (b + (size_t)H * c);
        if(vx >= 0 && vx < nx && vy >= 0 && vy < ny && vz >= 0 && vz < nz){
            size_t i = vx + (size_t)nx * (vy + (size_t)ny * vz);
            ci[o] = img[i];
            cl[o] = lab ? lab[i] : 0;
        }
    }
    for(r = 0; r < (s->rot & 3); ++r){
        for(c = 0; c < D; ++c) for(b = 0; b < H; ++b) for(a = 0; a < W; ++a){
            size_t o = a + (size_t)W * (b + (size_t)H * c), src = b + (size_t)W * ((W - 1 - a) + (size_t)H * c);
            ti[o] = ci[src]; tl[o] = cl[src];
        }
        memcpy(ci, ti, n * 4); memcpy(cl, tl, n * 4);
    }
    for(c = 0; c < D; ++c) for(b = 0; b < H; ++b) for(a = 0; a < W; ++a){
        int sa = (s->flip & LOADER_FLIP_W) ? W - 1 - a : a;
        int sb = (s->flip & LOADER_FLIP_H) ? H - 1 - b : b;
        int sc = (s->flip & LOADER_FLIP_D) ? D - 1 - c : c;
        size_t o = a + (size_t)W * (b + (size_t)H * c), src = sa + (size_t)W * (sb + (size_t)H * sc);
        x[o] = ci[src];
        if(y) y[o] = cl[src];
    }
    free(ci); free(cl); free(ti); free(tl);
}

static void test_extract_vs_bruteforce(void)
{
    int trial, bad = 0, total = 0;
    for(trial = 0; trial < 300; ++trial){
        int nx = 1 + rnd(9), ny = 1 + rnd(9), nz = 1 + rnd(7);
        int sq = rnd(2), W = 1 + rnd(8), H = sq ? W : 1 + rnd(8), D = 1 + rnd(6);
        size_t nv = (size_t)nx * ny * nz, nc = (size_t)W * H * D, i;
        float *img = malloc(nv * 4);
        uint8_t *lab = malloc(nv);
        for(i = 0; i < nv; ++i){ img[i] = 1 + (float)i; lab[i] = (uint8_t)(1 + rnd(3)); }
        loader_sample_info s = {0};
        /* origins anywhere from fully-padded to the far edge, including negative (padding) */
        s.ox = rnd(nx + W + 1) - W; s.oy = rnd(ny + H + 1) - H; s.oz = rnd(nz + D + 1) - D;
        s.flip = rnd(8);
        s.rot = W == H ? rnd(4) : 0;
        float *x = malloc(nc * 4), *y = malloc(nc * 4), *rx = malloc(nc * 4), *ry = malloc(nc * 4);
        int withlab = rnd(3) != 0;
        loader_extract(img, withlab ? lab : NULL, nx, ny, nz, W, H, D, &s, x, y);
        reference(img, withlab ? lab : NULL, nx, ny, nz, W, H, D, &s, rx, ry);
        int same = !memcmp(x, rx, nc * 4) && !memcmp(y, ry, nc * 4);
        if(!same && bad++ < 3)
            printf("  mismatch: vol %dx%dx%d crop %dx%dx%d origin %d,%d,%d flip %d rot %d\n", nx, ny, nz, W, H, D, s.ox, s.oy, s.oz, s.flip, s.rot);
        /* y may be NULL: the image part is unchanged */
        loader_extract(img, lab, nx, ny, nz, W, H, D, &s, x, NULL);
        if(memcmp(x, rx, nc * 4)) bad++;
        total++;
        free(img); free(lab); free(x); free(y); free(rx); free(ry);
    }
    CHECK_MSG(bad == 0, "%d of %d trials differ", bad, total);
    /* meaning of one quarter turn: crop voxel (x=1, y=0) of a 3x3 plane goes to output (x=2, y=1) */
    float img[9] = {0}, out[9];
    img[1 + 3 * 0] = 5;
    loader_sample_info s = {0};
    s.rot = 1;
    loader_extract(img, NULL, 3, 3, 1, 3, 3, 1, &s, out, NULL);
    CHECK(out[2 + 3 * 1] == 5);
}

/* A data set of small volumes whose voxels encode (case, split) so rows can be traced back. */
static dataset *make_ds(int nl, int nu, int with_missing, int nx, int ny, int nz)
{
    char err[1024], path[512];
    mkdir("tests/out", 0755); mkdir(OUT, 0755);
    FILE *fl = fopen(OUT "/lab.list", "w"), *fu = fopen(OUT "/unl.list", "w");
    int i;
    for(i = 0; i < nl + nu; ++i){
        char name[32];
        snprintf(name, sizeof(name), "%c%02d", i < nl ? 'L' : 'U', i);
        fprintf(i < nl ? fl : fu, "%s\n", name);
        snprintf(path, sizeof(path), OUT "/%s", name);
        mkdir(path, 0755);
        volume v, l;
        volume_alloc(&v, nx, ny, nz); volume_alloc(&l, nx, ny, nz);
        size_t k, n = (size_t)nx * ny * nz;
        for(k = 0; k < n; ++k){ v.data[k] = 1000 * (i + 1) + (float)k; l.data[k] = (float)((k + i) % 2); }
        snprintf(path, sizeof(path), OUT "/%s/image.nii", name);
        if(volume_write(path, &v, NULL, 0, err, sizeof(err))) printf("  %s\n", err);
        snprintf(path, sizeof(path), OUT "/%s/label.nii", name);
        if(volume_write(path, &l, NULL, 1, err, sizeof(err))) printf("  %s\n", err);
        volume_free(&v); volume_free(&l);
    }
    if(with_missing) fprintf(fu, "MISSING\n");
    fclose(fl); fclose(fu);
    FILE *f = fopen(OUT "/t.data", "w");
    fprintf(f, "labeled = lab.list\n%simage = %%s/image.nii\nlabel = %%s/label.nii\n", nu || with_missing ? "unlabeled = unl.list\n" : "");
    fclose(f);
    dataset *ds = dataset_load(OUT "/t.data", err, sizeof(err));
    if(!ds) printf("  %s\n", err);
    return ds;
}

static loader_params params(int batch, int lpb, int d, int h, int w, uint64_t seed)
{
    loader_params p;
    memset(&p, 0, sizeof(p));
    p.batch = batch; p.subdivisions = 1; p.labeled_per_batch = lpb;
    p.d = d; p.h = h; p.w = w;
    p.flip = LOADER_FLIP_W | LOADER_FLIP_H | LOADER_FLIP_D;
    p.rot90 = h == w;
    p.seed = seed;
    return p;
}

static void test_two_streams_and_truth(void)
{
    dataset *ds = make_ds(5, 7, 0, 6, 5, 4);
    if(!ds){ CHECK(0); return; }
    char err[1024];
    loader_params p = params(4, 0, 3, 4, 4, 42);    /* crop 4x4 in i-j > ny = 5? no: 4 <= 5, and 4 < 6 */
    loader *L = loader_create(ds, &p, err, sizeof(err));
    CHECK_MSG(L != NULL, "%s", err);
    if(!L){ dataset_free(ds); return; }
    CHECK(loader_labeled_per_batch(L) == 2);   /* default half */
    loader_batch b = loader_alloc_batch(L);
    int vox = 3 * 4 * 4, it, seen_l[5] = {0}, seen_u[7] = {0}, nl = 0, nu = 0, bad_cover = 0, bad_truth = 0;
    float *rx = malloc(vox * 4), *ry = malloc(vox * 4);
    for(it = 0; it < 35; ++it){            /* 70 labeled draws = 14 epochs, 70 unlabeled = 10 epochs */
        CHECK_MSG(loader_fill(L, &b, err, sizeof(err)) == 0, "%s", err);
        int r;
        for(r = 0; r < 4; ++r){
            loader_sample_info *s = &b.info[r];
            int lab = r < 2;
            CHECK(s->split == (lab ? SPLIT_LABELED : SPLIT_UNLABELED));
            CHECK(b.d.y.vals[r][vox] == (lab ? 1.f : 0.f));
            if(lab){ seen_l[s->index]++; if(++nl % 5 == 0){ int k; for(k = 0; k < 5; ++k) bad_cover += seen_l[k] != nl / 5; } }
            else { seen_u[s->index]++; if(++nu % 7 == 0){ int k; for(k = 0; k < 7; ++k) bad_cover += seen_u[k] != nu / 7; } }
            /* the row is the reference crop of that case (image), and label crop or zeros */
            dataset_case *c = &ds->split[s->split].cases[s->index];
            reference(c->image, lab ? c->label : NULL, c->nx, c->ny, c->nz, 4, 4, 3, s, rx, ry);
            if(memcmp(rx, b.d.X.vals[r], vox * 4) || memcmp(ry, b.d.y.vals[r], vox * 4)) bad_truth++;
            CHECK(s->ox >= 0 && s->ox <= 2 && s->oy >= 0 && s->oy <= 1 && s->oz >= 0 && s->oz <= 1);
        }
    }
    CHECK_MSG(bad_cover == 0, "an epoch did not cover every case exactly once (%d)", bad_cover);
    CHECK_MSG(bad_truth == 0, "%d rows differ from the reference crop", bad_truth);
    CHECK(loader_epoch(L, SPLIT_LABELED) == 13 && loader_epoch(L, SPLIT_UNLABELED) == 9);
    free(rx); free(ry);
    loader_free_batch(&b);
    loader_free(L);
    dataset_free(ds);
}

/* loader_batch_bind points a network at a sub-batch in place: the values get_next_batch copies, for every offset;
 * a network whose row lengths differ is left alone */
static void test_batch_bind(void)
{
    dataset *ds = make_ds(5, 7, 0, 6, 5, 4);
    if(!ds){ CHECK(0); return; }
    char err[1024];
    loader_params p = params(2, 0, 3, 4, 4, 7);
    p.subdivisions = 3;
    loader *L = loader_create(ds, &p, err, sizeof(err));
    CHECK_MSG(L != NULL, "%s", err);
    if(!L){ dataset_free(ds); return; }
    loader_batch b = loader_alloc_batch(L);
    CHECK(b.rows == 6 && b.d.X.vals && b.d.y.vals);
    CHECK_MSG(loader_fill(L, &b, err, sizeof(err)) == 0, "%s", err);
    int vox = 3 * 4 * 4, off, bad = 0;
    float *in = calloc(2 * vox, sizeof(float)), *tr = calloc(2 * (vox + 1), sizeof(float));
    for(off = 0; off + 2 <= b.rows; off += 2){
        network net;
        memset(&net, 0, sizeof(net));
        net.batch = 2; net.inputs = vox; net.truths = vox + 1; net.input = in; net.truth = tr;
        get_next_batch(b.d, 2, off, in, tr);
        CHECK(loader_batch_bind(&b, off, &net) == 1);
        bad += net.input != b.d.X.vals[off] || net.truth != b.d.y.vals[off];
        bad += memcmp(net.input, in, 2 * vox * sizeof(float)) != 0 || memcmp(net.truth, tr, 2 * (vox + 1) * sizeof(float)) != 0;
    }
    CHECK_MSG(bad == 0, "%d sub-batches differ from get_next_batch's copy", bad);
    network other;
    memset(&other, 0, sizeof(other));
    other.batch = 2; other.inputs = vox + 1; other.truths = vox + 1; other.input = in; other.truth = tr;
    CHECK(loader_batch_bind(&b, 0, &other) == 0 && other.input == in && other.truth == tr);
    other.inputs = vox;
    CHECK(loader_batch_bind(&b, 6, &other) == 0 && other.input == in);   /* past the last row */
    other.truth = NULL;   /* a network without truth: only the input */
    CHECK(loader_batch_bind(&b, 4, &other) == 1 && other.input == b.d.X.vals[4] && other.truth == NULL);
    free(in); free(tr);
    loader_free_batch(&b);
    loader_free(L);
    dataset_free(ds);
}

static int batches_equal(const loader_batch *a, const loader_batch *b)
{
    int r;
    for(r = 0; r < a->rows; ++r){
        if(memcmp(a->d.X.vals[r], b->d.X.vals[r], a->d.X.cols * 4)) return 0;
        if(memcmp(a->d.y.vals[r], b->d.y.vals[r], a->d.y.cols * 4)) return 0;
        if(memcmp(&a->info[r], &b->info[r], sizeof(a->info[r]))) return 0;
    }
    return 1;
}

/* same seed -> same batches (synchronous and threaded); another seed -> different */
static void test_seed_and_thread(void)
{
    dataset *ds = make_ds(3, 4, 0, 7, 6, 5);
    if(!ds){ CHECK(0); return; }
    char err[1024];
    loader_params p = params(3, 1, 4, 5, 5, 7);
    p.subdivisions = 2;
    loader *A = loader_create(ds, &p, err, sizeof(err)), *B = loader_create(ds, &p, err, sizeof(err));
    p.seed = 8;
    loader *C = loader_create(ds, &p, err, sizeof(err));
    CHECK(A && B && C);
    if(!A || !B || !C) return;
    loader_batch a = loader_alloc_batch(A), c = loader_alloc_batch(C);
    CHECK(a.rows == 6 && a.d.X.cols == 100 && a.d.y.cols == 101);
    int it, same_c = 0, eq = 1;
    for(it = 0; it < 12; ++it){
        loader_batch *bp;
        CHECK(loader_fill(A, &a, err, sizeof(err)) == 0);
        CHECK_MSG(loader_next(B, &bp, err, sizeof(err)) == 0, "%s", err);
        CHECK(loader_fill(C, &c, err, sizeof(err)) == 0);
        eq &= batches_equal(&a, bp);
        same_c += batches_equal(&a, &c);
        int r;
        for(r = 0; r < 6; ++r) CHECK(a.info[r].split == ((r % 3) < 1 ? SPLIT_LABELED : SPLIT_UNLABELED));   /* per sub-batch */
        if(it == 5 || it == 8){ loader_stop(B); loader_stop(B); }   /* stop twice is fine; the next call restarts, same sequence */
    }
    CHECK_MSG(eq, "threaded batches differ from synchronous ones");
    CHECK(same_c == 0);
    loader_free_batch(&a); loader_free_batch(&c);
    loader_free(A); loader_free(B); loader_free(C);   /* B's thread is running: free stops it */
    dataset_free(ds);
}

/* volumes smaller than the crop are zero padded; errors from the thread come back */
static void test_padding_supervised_errors(void)
{
    dataset *ds = make_ds(2, 0, 0, 3, 2, 2);
    if(!ds){ CHECK(0); return; }
    char err[1024];
    loader_params p = params(2, 1, 4, 5, 5, 3);
    loader *L = loader_create(ds, &p, err, sizeof(err));
    CHECK_MSG(L && loader_labeled_per_batch(L) == 2, "%s", err);   /* no unlabeled list: all labeled */
    if(L){
        loader_batch b = loader_alloc_batch(L);
        int it, r;
        for(it = 0; it < 20; ++it){
            CHECK(loader_fill(L, &b, err, sizeof(err)) == 0);
            for(r = 0; r < 2; ++r){
                loader_sample_info *s = &b.info[r];
                CHECK(s->split == SPLIT_LABELED && b.d.y.vals[r][100] == 1.f);
                CHECK(s->ox >= -2 && s->ox <= 0 && s->oy >= -3 && s->oy <= 0 && s->oz >= -2 && s->oz <= 0);
                int k, nz = 0;
                for(k = 0; k < 100; ++k) nz += b.d.X.vals[r][k] != 0;
                CHECK(nz == 12);   /* the whole volume is inside the crop, the rest is zero */
            }
        }
        loader_free_batch(&b);
        loader_free(L);
    }
    /* more labeled crops than the batch is an error with or without an unlabeled list */
    p = params(2, 3, 4, 5, 5, 3);
    CHECK(loader_create(ds, &p, err, sizeof(err)) == NULL && strstr(err, "labeled_per_batch 3 is larger than the batch 2"));
    /* parameter errors */
    p = params(2, 1, 4, 5, 6, 3);
    p.rot90 = 1;
    CHECK(loader_create(ds, &p, err, sizeof(err)) == NULL && strstr(err, "rot90") && strstr(err, "t.data"));
    dataset_free(ds);
    ds = make_ds(2, 2, 0, 3, 3, 3);
    p = params(2, 3, 2, 2, 2, 3);
    CHECK(loader_create(ds, &p, err, sizeof(err)) == NULL && strstr(err, "labeled_per_batch 3"));
    p = params(0, 1, 2, 2, 2, 3);
    CHECK(loader_create(ds, &p, err, sizeof(err)) == NULL);
    dataset_free(ds);
    /* an unreadable case: the thread reports it through loader_next */
    ds = make_ds(1, 1, 1, 3, 3, 3);
    p = params(2, 1, 2, 2, 2, 3);
    L = loader_create(ds, &p, err, sizeof(err));
    CHECK(L != NULL);
    if(L){
        loader_batch *bp;
        int it, rc = 0;
        for(it = 0; it < 6 && rc == 0; ++it) rc = loader_next(L, &bp, err, sizeof(err));
        CHECK_MSG(rc == -1 && strstr(err, "MISSING/image.nii"), "rc %d err %s", rc, err);
        err[0] = 0;
        CHECK(loader_next(L, &bp, err, sizeof(err)) == -1 && strstr(err, "MISSING/image.nii"));   /* stays failed */
        loader_free(L);
    }
    dataset_free(ds);
}

int main(void)
{
    RUN(test_extract_vs_bruteforce);
    RUN(test_two_streams_and_truth);
    RUN(test_batch_bind);
    RUN(test_seed_and_thread);
    RUN(test_padding_supervised_errors);
    TEST_MAIN_END();
}
