/* Training chart: loss terms (and validation Dice) per iteration, drawn with cairo into a PNG, plus a CSV of the same numbers. */
#include <limits.h>
#include <math.h>
#include <cairo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "chart.h"
#include "file_publish.h"

#define CW 960
#define CH 540
#define ML 60   /* margins */
#define MR 50   /* room for the Dice axis */
#define MT 20
#define MB 40

struct chart {
    int ns, maxp;
    char (*names)[32];
    int *n;            /* points per series */
    int *it;           /* ns x maxp */
    float *v;
    int nv, *vit;
    double *vd;
};

chart *chart_create(int nseries, int max_points)
{
    if(nseries < 1 || max_points < 1) return NULL;
    chart *c = calloc(1, sizeof(chart));
    if(!c) return NULL;
    c->ns = nseries; c->maxp = max_points;
    c->names = calloc(nseries, sizeof(*c->names));
    c->n = calloc(nseries, sizeof(int));
    c->it = malloc((size_t)nseries * max_points * sizeof(int));
    c->v = malloc((size_t)nseries * max_points * sizeof(float));
    c->vit = malloc((size_t)max_points * sizeof(int));
    c->vd = malloc((size_t)max_points * sizeof(double));
    if(!c->names || !c->n || !c->it || !c->v || !c->vit || !c->vd){ chart_free(c); return NULL; }
    return c;
}

void chart_free(chart *c)
{
    if(!c) return;
    free(c->names); free(c->n); free(c->it); free(c->v); free(c->vit); free(c->vd);
    free(c);
}

void chart_set_name(chart *c, int s, const char *name) { if(c && s >= 0 && s < c->ns) snprintf(c->names[s], 32, "%s", name); }

void chart_add(chart *c, int s, int iter, float value)
{
    if(!c || s < 0 || s >= c->ns || c->n[s] >= c->maxp) return;
    c->it[s * c->maxp + c->n[s]] = iter;
    c->v[s * c->maxp + c->n[s]] = value;
    c->n[s]++;
}

void chart_add_valid(chart *c, int iter, double dice)
{
    if(!c || c->nv >= c->maxp) return;
    c->vit[c->nv] = iter; c->vd[c->nv] = dice; c->nv++;
}

static const unsigned char palette[][3] = {
    {0, 0, 0}, {230, 25, 75}, {0, 130, 200}, {245, 130, 48}, {145, 30, 180}, {70, 200, 200},
    {240, 50, 230}, {128, 128, 0}, {170, 110, 40}, {0, 0, 128}, {128, 128, 128}, {128, 0, 0}
};
static const unsigned char valid_rgb[3] = { CHART_VALID_RGB };

static void rgb(cairo_t *cr, const unsigned char *c){ cairo_set_source_rgb(cr, c[0] / 255., c[1] / 255., c[2] / 255.); }

/* a round step (1, 2 or 5 times a power of ten) that divides span into about n parts */
static double nice_step(double span, int n)
{
    double raw = span / n, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void text_at(cairo_t *cr, double x, double y, const char *s, double align)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - align * e.x_advance, y);
    cairo_show_text(cr, s);
}

int chart_smooth_half(int n) { return n < CHART_SMOOTH_MIN ? 0 : n / 200; }

void chart_smooth(const float *v, int n, int half, float *out)
{
    double sum = 0;
    int i, cnt = 0, lo = 0, hi = 0;   /* the window [lo, hi) */
    for(i = 0; i < n; ++i){
        for(; hi < n && hi <= i + half; ++hi) if(isfinite(v[hi])){ sum += v[hi]; ++cnt; }
        for(; lo < i - half; ++lo) if(isfinite(v[lo])){ sum -= v[lo]; --cnt; }
        out[i] = cnt ? (float)(sum / cnt) : NAN;
        if(!cnt) sum = 0;   /* no rounding left over from values that have left */
    }
}

/* The plot's scales: iterations 0..maxit across, losses 0..ytop up the left, Dice 0..1 up the right; sm: each
 * series' moving means (ns x maxp, as v) when the chart is smoothed (half > 0), else NULL. */
typedef struct {
    int maxit, half;
    double ystep, ytop, xstep, pw, ph;
    float *sm;
} frame;

static frame chart_frame(const chart *c)
{
    frame f;
    int s, i;
    float vmax = 0;
    f.maxit = 1;
    f.half = chart_smooth_half(c->n[0]);
    f.sm = f.half ? malloc((size_t)c->ns * c->maxp * sizeof(float)) : NULL;
    if(!f.sm) f.half = 0;   /* short of memory: point by point */
    for(s = 0; s < c->ns && f.sm; ++s) chart_smooth(c->v + (size_t)s * c->maxp, c->n[s], f.half, f.sm + (size_t)s * c->maxp);
    const float *scaled = f.sm ? f.sm : c->v;
    for(s = 0; s < c->ns; ++s) for(i = 0; i < c->n[s]; ++i){
        float v = scaled[s * c->maxp + i];
        if(c->it[s * c->maxp + i] > f.maxit) f.maxit = c->it[s * c->maxp + i];
        if(isfinite(v) && v > vmax) vmax = v;
    }
    for(i = 0; i < c->nv; ++i) if(c->vit[i] > f.maxit) f.maxit = c->vit[i];
    if(vmax <= 0) vmax = 1;
    f.ystep = nice_step(vmax, 5);
    f.ytop = ceil(vmax / f.ystep - 1e-9) * f.ystep;
    f.xstep = nice_step(f.maxit, 8);
    if(f.xstep < 1) f.xstep = 1;
    f.pw = CW - ML - MR;
    f.ph = CH - MT - MB;
    return f;
}

static double xp(const frame *f, double it) { return ML + it / f->maxit * f->pw; }
static double yp(const frame *f, double v) { return MT + f->ph - v / f->ytop * f->ph; }
static double yd(const frame *f, double d) { return MT + f->ph - d * f->ph; }

/* grid and tick labels (losses on the left, validation Dice 0..1 on the right), axes and their titles */
static void draw_axes(cairo_t *cr, const chart *c, const frame *f)
{
    char lab[64];
    double t, pw = f->pw, ph = f->ph;
    int i;
    cairo_set_line_width(cr, 1);
    for(t = 0; t <= f->ytop + 1e-9 * f->ytop; t += f->ystep){
        double y = floor(yp(f, t)) + 0.5;
        cairo_set_source_rgb(cr, 0.86, 0.86, 0.86);
        cairo_move_to(cr, ML, y); cairo_line_to(cr, ML + pw, y); cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        snprintf(lab, sizeof(lab), "%g", t);
        text_at(cr, ML - 6, y + 4, lab, 1);
    }
    for(t = 0; t <= f->maxit; t += f->xstep){
        double x = floor(xp(f, t)) + 0.5;
        cairo_set_source_rgb(cr, 0.92, 0.92, 0.92);
        cairo_move_to(cr, x, MT); cairo_line_to(cr, x, MT + ph); cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        snprintf(lab, sizeof(lab), "%g", t);
        text_at(cr, x, MT + ph + 16, lab, 0.5);
    }
    if(c->nv){
        rgb(cr, valid_rgb);
        for(i = 0; i <= 4; ++i){
            snprintf(lab, sizeof(lab), "%.2f", i / 4.0);
            text_at(cr, ML + pw + 6, yd(f, i / 4.0) + 4, lab, 0);
        }
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_move_to(cr, ML + 0.5, MT); cairo_line_to(cr, ML + 0.5, MT + ph + 0.5); cairo_line_to(cr, ML + pw, MT + ph + 0.5);
    cairo_stroke(cr);
    text_at(cr, ML + pw / 2, CH - 8, "iteration", 0.5);
    cairo_save(cr);
    cairo_translate(cr, 14, MT + ph / 2);
    cairo_rotate(cr, -M_PI / 2);
    text_at(cr, 0, 0, "loss", 0.5);
    cairo_restore(cr);
}

/* validation Dice: a thick line with round markers, on the right axis */
static void draw_valid(cairo_t *cr, const chart *c, const frame *f)
{
    int i, pen = 0;
    rgb(cr, valid_rgb);
    cairo_set_line_width(cr, 3);
    for(i = 0; i < c->nv; ++i){
        if(!isfinite(c->vd[i])){ pen = 0; continue; }
        if(pen) cairo_line_to(cr, xp(f, c->vit[i]), yd(f, c->vd[i])); else cairo_move_to(cr, xp(f, c->vit[i]), yd(f, c->vd[i]));
        pen = 1;
    }
    cairo_stroke(cr);
    for(i = 0; i < c->nv; ++i){
        if(!isfinite(c->vd[i])) continue;
        cairo_arc(cr, xp(f, c->vit[i]), yd(f, c->vd[i]), 4, 0, 2 * M_PI);
        cairo_fill(cr);
    }
}

/* one series' values v as a line; a non-finite value breaks it */
static void draw_line(cairo_t *cr, const chart *c, const frame *f, int s, const float *v)
{
    int i, pen = 0;
    for(i = 0; i < c->n[s]; ++i){
        if(!isfinite(v[i])){ pen = 0; continue; }
        double x = xp(f, c->it[s * c->maxp + i]), y = yp(f, v[i]);
        if(pen) cairo_line_to(cr, x, y); else cairo_move_to(cr, x, y);
        pen = 1;
    }
    cairo_stroke(cr);
}

/* loss curves, series 0 thickest and on top (smoothed: every point faded first, then the means); then the
 * validation Dice */
static void draw_curves(cairo_t *cr, const chart *c, const frame *f)
{
    int s;
    cairo_save(cr);
    cairo_rectangle(cr, ML, MT - 2, f->pw + 2, f->ph + 4);
    cairo_clip(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for(s = c->ns - 1; s >= 0 && f->sm; --s){
        const unsigned char *p = palette[s % 12];
        cairo_set_source_rgba(cr, p[0] / 255., p[1] / 255., p[2] / 255., 0.18);
        cairo_set_line_width(cr, 0.8);
        draw_line(cr, c, f, s, c->v + (size_t)s * c->maxp);
    }
    for(s = c->ns - 1; s >= 0; --s){
        rgb(cr, palette[s % 12]);
        cairo_set_line_width(cr, s == 0 ? 2 : 1.2);
        draw_line(cr, c, f, s, (f->sm ? f->sm : c->v) + (size_t)s * c->maxp);
    }
    if(c->nv) draw_valid(cr, c, f);
    cairo_restore(cr);
}

/* legend, top right */
static void draw_legend(cairo_t *cr, const chart *c, const frame *f)
{
    int s, rows = c->ns + (c->nv ? 1 : 0) + (f->sm ? 1 : 0), r = 0;
    double lw = 260, x0 = ML + f->pw - lw - 8, y0 = MT + 8;
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_rectangle(cr, x0, y0, lw, 8 + 16 * rows);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.7, 0.7, 0.7);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    for(s = 0; s < c->ns; ++s, ++r){
        rgb(cr, palette[s % 12]);
        cairo_set_line_width(cr, s == 0 ? 2 : 1.2);
        cairo_move_to(cr, x0 + 8, y0 + 12 + 16 * r); cairo_line_to(cr, x0 + 30, y0 + 12 + 16 * r); cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, x0 + 36, y0 + 16 + 16 * r, c->names[s], 0);
    }
    if(c->nv){
        rgb(cr, valid_rgb);
        cairo_set_line_width(cr, 3);
        cairo_move_to(cr, x0 + 8, y0 + 12 + 16 * r); cairo_line_to(cr, x0 + 30, y0 + 12 + 16 * r); cairo_stroke(cr);
        text_at(cr, x0 + 36, y0 + 16 + 16 * r, "validation Dice (right axis)", 0);
        ++r;
    }
    if(f->sm){
        char lab[96];
        snprintf(lab, sizeof(lab), "lines: mean of %d iterations; faded: raw", 2 * f->half + 1);
        cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
        text_at(cr, x0 + 8, y0 + 16 + 16 * r, lab, 0);
    }
}

/* <path>.csv: one row per point of series 0, every series and the validation Dice of that iteration (empty when none) */
static int write_csv(const chart *c, const char *path, char *err, size_t errlen)
{
    int s, i, j = 0;
    char cpath[PATH_MAX + 8];
    publishing pub;
    int w = snprintf(cpath, sizeof(cpath), "%s.csv", path);
    if(w < 0 || (size_t)w >= sizeof(cpath)){ snprintf(err, errlen, "%s.csv: path too long", path); return -1; }
    FILE *f = publish_fopen(&pub, cpath, err, errlen);
    if(!f) return -1;
    fprintf(f, "iteration");
    for(s = 0; s < c->ns; ++s) fprintf(f, ",%s", c->names[s]);
    fprintf(f, ",valid_dice\n");
    for(i = 0; i < c->n[0]; ++i){
        int it = c->it[i];
        fprintf(f, "%d", it);
        for(s = 0; s < c->ns; ++s) fprintf(f, ",%g", i < c->n[s] ? c->v[s * c->maxp + i] : NAN);
        while(j < c->nv && c->vit[j] < it) ++j;
        if(j < c->nv && c->vit[j] == it) fprintf(f, ",%g\n", c->vd[j]); else fprintf(f, ",\n");
    }
    /* fprintf's failures stick in the stream's error flag, which publish_fclose checks */
    return publish_fclose(&pub, f, err, errlen);
}

int chart_write_png(chart *c, const char *path, char *err, size_t errlen)
{
    frame f = chart_frame(c);
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, CW, CH);
    cairo_t *cr = cairo_create(surf);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 12);
    draw_axes(cr, c, &f);
    draw_curves(cr, c, &f);
    draw_legend(cr, c, &f);
    free(f.sm);
    cairo_destroy(cr);
    int bad = publish_png(surf, path, err, errlen);
    cairo_surface_destroy(surf);
    if(bad) return -1;
    return write_csv(c, path, err, errlen);
}
