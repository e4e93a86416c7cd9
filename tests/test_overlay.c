/* Tests of the cairo pictures: the per-case overlay PNG (size, outline pixels where the masks' edges are) and the training chart (size, validation Dice curve, the moving mean of long runs and its scale). */
#include <cairo.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include "testlib.h"
#include "overlay.h"
#include "chart.h"

#define DIR "tests/out/overlay"

static const unsigned char REF[3] = { OVERLAY_REF_RGB }, PRED[3] = { OVERLAY_PRED_RGB }, VALID[3] = { CHART_VALID_RGB };

typedef struct { cairo_surface_t *s; int w, h, stride; unsigned char *d; } png_img;

static int png_load(const char *path, png_img *p)
{
    p->s = cairo_image_surface_create_from_png(path);
    if(cairo_surface_status(p->s) != CAIRO_STATUS_SUCCESS){ cairo_surface_destroy(p->s); p->s = 0; return -1; }
    p->w = cairo_image_surface_get_width(p->s); p->h = cairo_image_surface_get_height(p->s);
    p->stride = cairo_image_surface_get_stride(p->s); p->d = cairo_image_surface_get_data(p->s);
    return 0;
}

static int px_is(const png_img *p, int x, int y, const unsigned char *rgb)
{
    uint32_t v = *(uint32_t *)(p->d + (long)p->stride * y + 4 * x);
    return (int)((v >> 16) & 255) == rgb[0] && (int)((v >> 8) & 255) == rgb[1] && (int)(v & 255) == rgb[2];
}

static int px_grey(const png_img *p, int x, int y)
{
    uint32_t v = *(uint32_t *)(p->d + (long)p->stride * y + 4 * x);
    return ((v >> 16) & 255) == ((v >> 8) & 255) && ((v >> 8) & 255) == (v & 255);
}

/* pixels of exactly this colour in rows y0.. */
static long count(const png_img *p, int y0, const unsigned char *rgb)
{
    long n = 0;
    int x, y;
    for(y = y0; y < p->h; ++y) for(x = 0; x < p->w; ++x) n += px_is(p, x, y, rgb);
    return n;
}

/* 32^3 volumes, spacing 1: a gradient image, a reference cube [8,18)^3 and a prediction cube [12,22)^3 */
static void make_case(volume *img, volume *ref, volume *pred)
{
    volume_alloc(img, 32, 32, 32); volume_alloc(ref, 32, 32, 32); volume_alloc(pred, 32, 32, 32);
    int i, j, k;
    for(k = 0; k < 32; ++k) for(j = 0; j < 32; ++j) for(i = 0; i < 32; ++i){
        long x = i + 32 * (j + 32L * k);
        img->data[x] = (float)(i + j + k);
        ref->data[x] = i >= 8 && i < 18 && j >= 8 && j < 18 && k >= 8 && k < 18;
        pred->data[x] = i >= 12 && i < 22 && j >= 12 && j < 22 && k >= 12 && k < 22;
    }
}

static void test_overlay_layout(void)
{
    int Lx, Ly, Lz, W, H;
    overlay_layout(32, 32, 32, 1, 1, 1, &Lx, &Ly, &Lz, &W, &H);
    /* 320 px for 32 mm: 10 px per voxel */
    CHECK(Lx == 320 && Ly == 320 && Lz == 320);
    CHECK(W == 4 * 8 + 3 * 320 && H == 30 + 320 + 8);
    /* anisotropic: 100 x 80 x 20 voxels of 0.5 x 0.5 x 2 mm: 50 x 40 x 40 mm, 6.4 px/mm */
    overlay_layout(100, 80, 20, 0.5f, 0.5f, 2, &Lx, &Ly, &Lz, &W, &H);
    CHECK_MSG(Lx == 320 && Ly == 256 && Lz == 256, "%d %d %d", Lx, Ly, Lz);
    /* a large volume keeps at least one pixel per voxel */
    overlay_layout(500, 400, 100, 1, 1, 1, &Lx, &Ly, &Lz, &W, &H);
    CHECK_MSG(Lx == 500 && Ly == 400 && Lz == 100, "%d %d %d", Lx, Ly, Lz);
    /* thick-slice CT: drawn to scale at one pixel per 0.8 mm (z 1000 mm long, 1250 px), as thin-slice data */
    overlay_layout(512, 512, 400, 0.8f, 0.8f, 2.5f, &Lx, &Ly, &Lz, &W, &H);
    CHECK_MSG(Lx == 512 && Ly == 512 && Lz == 1250, "%d %d %d", Lx, Ly, Lz);
    overlay_layout(512, 512, 75, 0.7f, 0.7f, 5, &Lx, &Ly, &Lz, &W, &H);
    CHECK_MSG(Lx == 512 && Ly == 512 && Lz == 536, "%d %d %d", Lx, Ly, Lz);
    /* a very fine slice spacing: the longest side stays at the 320 px panel, the thin axis keeps a pixel per voxel */
    overlay_layout(32, 32, 16, 1, 1, 0.001f, &Lx, &Ly, &Lz, &W, &H);
    CHECK_MSG(Lx == 320 && Ly == 320 && Lz == 16, "%d %d %d", Lx, Ly, Lz);
    overlay_layout(32, 32, 16, 1, 1, 2e-8f, &Lx, &Ly, &Lz, &W, &H);
    CHECK_MSG(Lx == 320 && Ly == 320 && Lz == 16 && W == 4 * 8 + 3 * 320, "%d %d %d, %d x %d", Lx, Ly, Lz, W, H);
    overlay_layout(32, 32, 16, 1e-20f, 1, 1, &Lx, &Ly, &Lz, &W, &H);
    CHECK_MSG(Lx == 32 && Ly == 320 && Lz == 160, "%d %d %d", Lx, Ly, Lz);
    /* the extremes of float spacing and of size: every side within [1, OVERLAY_PANEL_MAX] */
    const float sp[4] = { 1e-45f, 1e-30f, 1e30f, 3e38f };
    int a, b, c;
    for(a = 0; a < 4; ++a) for(b = 0; b < 4; ++b) for(c = 0; c < 4; ++c){
        overlay_layout(1, 100000, 7, sp[a], sp[b], sp[c], &Lx, &Ly, &Lz, &W, &H);
        CHECK_MSG(Lx >= 1 && Ly >= 1 && Lz >= 1 && Lx <= OVERLAY_PANEL_MAX && Ly <= OVERLAY_PANEL_MAX && Lz <= OVERLAY_PANEL_MAX,
                  "spacing %g %g %g: %d %d %d", sp[a], sp[b], sp[c], Lx, Ly, Lz);
    }
}

static void test_overlay_png_outlines(void)
{
    volume img = {0}, ref = {0}, pred = {0};
    char err[512], path[256];
    make_case(&img, &ref, &pred);
    mkdir("tests/out", 0777); mkdir(DIR, 0777);
    snprintf(path, sizeof(path), DIR "/both.png");
    CHECK_MSG(overlay_png(path, &img, &ref, &pred, "case_007", 0.4219, err, sizeof(err)) == 0, "%s", err);
    png_img p;
    if(png_load(path, &p)){ CHECK_MSG(0, "cannot read %s back", path); goto out; }
    CHECK_MSG(p.w == 992 && p.h == 358, "%d x %d", p.w, p.h);
    /* each view cuts both cubes at the reference's centre (13, 13, 13): two squares of 100 px, outlined
     * 2 px wide on the voxel edges: (102^2 - 98^2) = 800 pixels each, 2400 over three views; the
     * prediction is drawn last, so the reference loses the few pixels where the outlines cross */
    long nr = count(&p, OVERLAY_HEADER, REF), np = count(&p, OVERLAY_HEADER, PRED);
    CHECK_MSG(np >= 2380 && np <= 2400, "prediction outline pixels %ld, expected 2400", np);
    CHECK_MSG(nr >= 2300 && nr <= 2400, "reference outline pixels %ld, expected about 2400", nr);
    /* axial panel at x0 = 8, y0 = 30, 10 px per voxel, y up: the prediction's left edge (i = 12) is the
     * line x = 128, the reference's (i = 8) x = 88; row 30 + 150 is j = 16, inside both cubes */
    CHECK(px_is(&p, 127, 180, PRED) && px_is(&p, 128, 180, PRED));
    CHECK(px_is(&p, 87, 180, REF) && px_is(&p, 88, 180, REF));
    CHECK(!px_is(&p, 100, 180, REF) && !px_is(&p, 100, 180, PRED) && px_grey(&p, 100, 180));
    /* the image is grey and brighter towards high i + j + k */
    CHECK(px_grey(&p, 20, 340) && px_grey(&p, 320, 40));
    cairo_surface_destroy(p.s);

    /* no reference: the prediction only */
    snprintf(path, sizeof(path), DIR "/pred_only.png");
    CHECK_MSG(overlay_png(path, &img, NULL, &pred, "one volume", NAN, err, sizeof(err)) == 0, "%s", err);
    if(png_load(path, &p)){ CHECK_MSG(0, "cannot read %s back", path); goto out; }
    CHECK(p.w == 992 && p.h == 358);
    nr = count(&p, 0, REF); np = count(&p, OVERLAY_HEADER, PRED);
    CHECK_MSG(nr == 0, "reference colour on %ld pixels without a reference", nr);
    CHECK_MSG(np >= 2380 && np <= 2400, "prediction outline pixels %ld", np);
    cairo_surface_destroy(p.s);

    /* an empty prediction draws no prediction outline */
    memset(pred.data, 0, sizeof(float) * 32 * 32 * 32);
    snprintf(path, sizeof(path), DIR "/empty_pred.png");
    CHECK_MSG(overlay_png(path, &img, &ref, &pred, "empty", 0, err, sizeof(err)) == 0, "%s", err);
    if(png_load(path, &p)){ CHECK_MSG(0, "cannot read %s back", path); goto out; }
    np = count(&p, OVERLAY_HEADER, PRED); nr = count(&p, OVERLAY_HEADER, REF);
    CHECK_MSG(np == 0 && nr == 2400, "prediction %ld, reference %ld pixels", np, nr);
    cairo_surface_destroy(p.s);

    /* errors name the file */
    CHECK(overlay_png("tests/out/no/such/dir/x.png", &img, &ref, &pred, "x", 1, err, sizeof(err)) == -1 &&
          strstr(err, "tests/out/no/such/dir/x.png"));
    volume small = {0};
    volume_alloc(&small, 4, 4, 4);
    CHECK(overlay_png(DIR "/bad.png", &img, &small, &pred, "x", 1, err, sizeof(err)) == -1 && strstr(err, "bad.png"));
    volume_free(&small);
out:
    volume_free(&img); volume_free(&ref); volume_free(&pred);
}

static void test_chart_png(void)
{
    char err[512];
    int withv, i;
    mkdir("tests/out", 0777); mkdir(DIR, 0777);
    for(withv = 0; withv <= 1; ++withv){
        chart *c = chart_create(3, 200);
        CHECK(c != NULL);
        if(!c) return;
        chart_set_name(c, 0, "total"); chart_set_name(c, 1, "sup_seg"); chart_set_name(c, 2, "pse");
        for(i = 1; i <= 200; ++i){
            chart_add(c, 0, i, 2.f / (1 + 0.05f * i));
            chart_add(c, 1, i, 1.f / (1 + 0.05f * i));
            chart_add(c, 2, i, i == 50 ? NAN : 0.2f);
            if(withv && i % 40 == 0) chart_add_valid(c, i, 0.2 + 0.003 * i);
        }
        const char *path = withv ? DIR "/chart_valid.png" : DIR "/chart.png";
        CHECK_MSG(chart_write_png(c, path, err, sizeof(err)) == 0, "%s", err);
        chart_free(c);
        png_img p;
        if(png_load(path, &p)){ CHECK_MSG(0, "cannot read %s back", path); return; }
        CHECK_MSG(p.w == 960 && p.h == 540, "%d x %d", p.w, p.h);
        long nv = count(&p, 0, VALID);
        /* a 3 px line across ~600 px of the plot plus five markers and the legend */
        if(withv) CHECK_MSG(nv > 1000, "validation Dice pixels %ld", nv);
        else CHECK_MSG(nv == 0, "validation colour on %ld pixels without validation", nv);
        cairo_surface_destroy(p.s);
        char csv[256], line[256];
        snprintf(csv, sizeof(csv), "%s.csv", path);
        FILE *f = fopen(csv, "r");
        CHECK(f != NULL);
        if(f){
            int rows = 0, with_dice = 0;
            while(fgets(line, sizeof(line), f)){ ++rows; if(rows > 1 && line[strlen(line) - 2] != ',') ++with_dice; }
            fclose(f);
            CHECK_MSG(rows == 201 && with_dice == (withv ? 5 : 0), "rows %d with dice %d", rows, with_dice);
        }
    }
    chart *c = chart_create(1, 2);
    CHECK(c && chart_write_png(c, "tests/out/no/such/dir/c.png", err, sizeof(err)) == -1 && strstr(err, "c.png"));
    chart_free(c);
}

/* the moving mean against its definition: finite neighbours within half on each side, NAN where none */
static void test_chart_smooth(void)
{
    const float v[5] = {1, 2, NAN, 4, 5}, want1[5] = {1.5f, 1.5f, 3, 4.5f, 4.5f};
    float out[5], nan3[3] = {NAN, NAN, NAN};
    int i, j;
    chart_smooth(v, 5, 1, out);
    for(i = 0; i < 5; ++i) CHECK_MSG(out[i] == want1[i], "half 1, point %d: %g, expected %g", i, out[i], want1[i]);
    chart_smooth(v, 5, 0, out);
    for(i = 0; i < 5; ++i) CHECK_MSG(i == 2 ? isnan(out[i]) : out[i] == v[i], "half 0, point %d: %g", i, out[i]);
    chart_smooth(nan3, 3, 1, out);
    CHECK(isnan(out[0]) && isnan(out[1]) && isnan(out[2]));
    enum { N = 3000, H = 15 };
    static float x[N], y[N];
    unsigned r = 7;
    for(i = 0; i < N; ++i){ r = r * 1103515245u + 12345u; x[i] = (i % 97 == 0 || (i > 1000 && i < 1040)) ? NAN : (float)(r >> 8) / (1 << 24) + i * 1e-3f; }
    chart_smooth(x, N, H, y);
    int bad = 0;
    for(i = 0; i < N; ++i){
        double sum = 0; int n = 0;
        for(j = i - H; j <= i + H; ++j) if(j >= 0 && j < N && isfinite(x[j])){ sum += x[j]; ++n; }
        if(n ? fabs(y[i] - sum / n) > 1e-5 * fabs(sum / n) + 1e-6 : !isnan(y[i])) ++bad;
    }
    CHECK_MSG(bad == 0, "%d of %d means differ from the direct sums", bad, N);
    CHECK(chart_smooth_half(CHART_SMOOTH_MIN - 1) == 0 && chart_smooth_half(CHART_SMOOTH_MIN) == CHART_SMOOTH_MIN / 200 &&
          chart_smooth_half(12000) == 60);
}

/* a long run's chart is scaled to the means: one spike of 100 among losses of 1 leaves the line of 1 high in the plot
 * (on a 0..100 axis it would lie on the bottom axis) */
static void test_chart_long_run_scale(void)
{
    char err[512];
    int i, x;
    mkdir("tests/out", 0777); mkdir(DIR, 0777);
    chart *c = chart_create(1, 2000);
    CHECK(c != NULL);
    if(!c) return;
    chart_set_name(c, 0, "total");
    for(i = 1; i <= 2000; ++i) chart_add(c, 0, i, i == 1500 ? 100.f : 1.f);
    const char *path = DIR "/chart_long.png";
    CHECK_MSG(chart_write_png(c, path, err, sizeof(err)) == 0, "%s", err);
    chart_free(c);
    png_img p;
    if(png_load(path, &p)){ CHECK_MSG(0, "cannot read %s back", path); return; }
    /* the plot spans rows 20..500; the means' maximum is about 100/21 + 1, so the axis tops at 6 or 7 and the line
     * of 1 lies 70..80 rows above the bottom axis */
    static const unsigned char BLACK[3] = {0, 0, 0};
    long line = 0, bottom = 0;
    int y;
    for(x = 100; x < 600; ++x){
        for(y = 415; y <= 435; ++y) line += px_is(&p, x, y, BLACK);
        for(y = 490; y <= 498; ++y) bottom += px_is(&p, x, y, BLACK);
    }
    CHECK_MSG(line >= 500 && bottom == 0, "black pixels on rows 415..435: %ld (the line of 1), on rows 490..498: %ld", line, bottom);
    cairo_surface_destroy(p.s);
}

int main(void)
{
    RUN(test_overlay_layout);
    RUN(test_overlay_png_outlines);
    RUN(test_chart_png);
    RUN(test_chart_smooth);
    RUN(test_chart_long_run_scale);
    TEST_MAIN_END();
}
