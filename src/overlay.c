/* Per-case result pictures: three orthogonal slices of an image with reference and prediction outlines, drawn with cairo into a PNG. */
#include <cairo.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "overlay.h"
#include "file_publish.h"

void overlay_layout(int nx, int ny, int nz, float dx, float dy, float dz, int *Lx, int *Ly, int *Lz, int *width, int *height)
{
    double ex = nx * (double)dx, ey = ny * (double)dy, ez = nz * (double)dz;
    double emax = ex > ey ? ex : ey, smin = dx < dy ? dx : dy;
    int nmax = nx > ny ? nx : ny;
    if(ez > emax) emax = ez;
    if(dz < smin) smin = dz;
    if(nz > nmax) nmax = nz;
    double cap = 4.0 * nmax > OVERLAY_PANEL ? 4.0 * nmax : OVERLAY_PANEL;
    if(cap > OVERLAY_PANEL_MAX) cap = OVERLAY_PANEL_MAX;
    double ppmm = OVERLAY_PANEL / emax;
    if(1.0 / smin > ppmm) ppmm = 1.0 / smin;
    if(!(ppmm * emax <= cap)) ppmm = cap / emax;   /* also when a spacing is 0, inf or NaN */
    const double ext[3] = { ex, ey, ez };
    const int n[3] = { nx, ny, nz };
    int *L[3] = { Lx, Ly, Lz }, a;
    for(a = 0; a < 3; ++a){
        double lo = n[a] < cap ? n[a] : cap, l = ext[a] * ppmm;
        *L[a] = (int)lround(!(l <= cap) ? cap : l < lo ? lo : l);
    }
    *width = 4 * OVERLAY_GAP + 2 * *Lx + *Ly;
    *height = OVERLAY_HEADER + (*Ly > *Lz ? *Ly : *Lz) + OVERLAY_GAP;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* 0.5th and 99.5th percentile of at most 2^20 evenly spaced voxels */
static int grey_window(const volume *v, float *lo, float *hi)
{
    long n = (long)v->nx * v->ny * v->nz, step = n > (1L << 20) ? n / (1L << 20) + 1 : 1, m = (n + step - 1) / step, i;
    float *s = malloc(sizeof(float) * (m ? m : 1));
    if(!s) return -1;
    for(i = 0; i < m; ++i) s[i] = v->data[i * step];
    qsort(s, m, sizeof(float), cmp_float);
    *lo = s[(long)(0.005 * (m - 1))];
    *hi = s[(long)(0.995 * (m - 1))];
    if(!(*hi > *lo)) *hi = *lo + 1;
    free(s);
    return 0;
}

/* centre of mass of the voxels != 0, rounded; 0 when there are none */
static int mask_centre(const volume *v, int c[3])
{
    double s[3] = {0, 0, 0};
    long cnt = 0, idx = 0;
    int i, j, k;
    if(!v) return 0;
    for(k = 0; k < v->nz; ++k) for(j = 0; j < v->ny; ++j) for(i = 0; i < v->nx; ++i, ++idx)
        if(v->data[idx] != 0){ s[0] += i; s[1] += j; s[2] += k; ++cnt; }
    if(!cnt) return 0;
    c[0] = (int)lround(s[0] / cnt); c[1] = (int)lround(s[1] / cnt); c[2] = (int)lround(s[2] / cnt);
    return 1;
}

/* one view: u to the right, v up; value at (u, v) = data[base + u*su + v*sv] */
typedef struct { int nu, nv; long su, sv, base; int x0, y0, w, h; const char *name; char axis; int at; } view;

static int inside(const volume *m, const view *vw, int u, int v)
{
    if(u < 0 || v < 0 || u >= vw->nu || v >= vw->nv) return 0;
    return m->data[vw->base + u * vw->su + v * vw->sv] != 0;
}

/* the mask's outline: every edge between a voxel inside and one outside, in surface coordinates (row 0 = top) */
static void outline_path(cairo_t *cr, const volume *m, const view *vw)
{
    int u, v;
    double ku = (double)vw->w / vw->nu, kv = (double)vw->h / vw->nv;
    for(v = 0; v < vw->nv; ++v) for(u = 0; u < vw->nu; ++u){
        if(!inside(m, vw, u, v)) continue;
        double xl = vw->x0 + u * ku, xr = vw->x0 + (u + 1) * ku;
        double yt = vw->y0 + (vw->nv - 1 - v) * kv, yb = vw->y0 + (vw->nv - v) * kv;
        if(!inside(m, vw, u - 1, v)){ cairo_move_to(cr, xl, yt); cairo_line_to(cr, xl, yb); }
        if(!inside(m, vw, u + 1, v)){ cairo_move_to(cr, xr, yt); cairo_line_to(cr, xr, yb); }
        if(!inside(m, vw, u, v + 1)){ cairo_move_to(cr, xl, yt); cairo_line_to(cr, xr, yt); }
        if(!inside(m, vw, u, v - 1)){ cairo_move_to(cr, xl, yb); cairo_line_to(cr, xr, yb); }
    }
}

static int same_size(const volume *a, const volume *b){ return a->nx == b->nx && a->ny == b->ny && a->nz == b->nz; }

/* the image's grey values in one view: a slice surface drawn scaled into the view's box; -1 when cairo is out of memory */
static int draw_slice(cairo_t *cr, const volume *img, const view *vw, float lo, float hi)
{
    cairo_surface_t *sl = cairo_image_surface_create(CAIRO_FORMAT_RGB24, vw->nu, vw->nv);
    if(cairo_surface_status(sl) != CAIRO_STATUS_SUCCESS){ cairo_surface_destroy(sl); return -1; }
    cairo_surface_flush(sl);
    unsigned char *px = cairo_image_surface_get_data(sl);
    int stride = cairo_image_surface_get_stride(sl), u, v;
    for(v = 0; v < vw->nv; ++v){
        uint32_t *row = (uint32_t *)(px + (long)stride * (vw->nv - 1 - v));
        for(u = 0; u < vw->nu; ++u){
            float g = (img->data[vw->base + u * vw->su + v * vw->sv] - lo) / (hi - lo);
            uint32_t b = g <= 0 ? 0 : g >= 1 ? 255 : (uint32_t)(g * 255 + 0.5f);
            row[u] = b << 16 | b << 8 | b;
        }
    }
    cairo_surface_mark_dirty(sl);
    cairo_save(cr);
    cairo_rectangle(cr, vw->x0, vw->y0, vw->w, vw->h);
    cairo_clip(cr);
    cairo_translate(cr, vw->x0, vw->y0);
    cairo_scale(cr, (double)vw->w / vw->nu, (double)vw->h / vw->nv);
    cairo_set_source_surface(cr, sl, 0, 0);
    double zoom = (double)vw->w / vw->nu;
    cairo_pattern_set_filter(cairo_get_source(cr), zoom >= 1 ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD);
    cairo_paint(cr);
    cairo_restore(cr);
    cairo_surface_destroy(sl);
    return 0;
}

/* the outlines of the reference (when given) and the prediction over one view, and the view's label */
static void draw_outlines(cairo_t *cr, const volume *ref, const volume *pred, const view *vw)
{
    cairo_save(cr);
    cairo_rectangle(cr, vw->x0, vw->y0, vw->w, vw->h);
    cairo_clip(cr);
    cairo_set_line_width(cr, OVERLAY_LINE);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_SQUARE);
    if(ref){
        const unsigned char rgb[3] = { OVERLAY_REF_RGB };
        cairo_set_source_rgb(cr, rgb[0] / 255., rgb[1] / 255., rgb[2] / 255.);
        outline_path(cr, ref, vw);
        cairo_stroke(cr);
    }
    {
        const unsigned char rgb[3] = { OVERLAY_PRED_RGB };
        cairo_set_source_rgb(cr, rgb[0] / 255., rgb[1] / 255., rgb[2] / 255.);
        outline_path(cr, pred, vw);
        cairo_stroke(cr);
    }
    char lab[64];
    snprintf(lab, sizeof(lab), "%s %c=%d", vw->name, vw->axis, vw->at);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 11);
    cairo_text_extents_t te;
    cairo_text_extents(cr, lab, &te);
    cairo_set_source_rgba(cr, 0, 0, 0, 0.6);
    cairo_rectangle(cr, vw->x0, vw->y0, te.x_advance + 8, 18);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.85, 0.85, 0.85);
    cairo_move_to(cr, vw->x0 + 4, vw->y0 + 13);
    cairo_show_text(cr, lab);
    cairo_restore(cr);
}

/* header of a W-wide picture: case id and Dice on the left, legend on the right (the reference only when given) */
static void draw_header(cairo_t *cr, int W, const volume *ref, const char *title, double dice)
{
    const int G = OVERLAY_GAP, T = OVERLAY_HEADER;
    char head[320];
    if(ref && isfinite(dice)) snprintf(head, sizeof(head), "%s   Dice %.4f", title ? title : "", dice);
    else snprintf(head, sizeof(head), "%s   %s", title ? title : "", ref ? "" : "(no reference)");
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, 15);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_move_to(cr, G, T - 10);
    cairo_show_text(cr, head);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 13);
    const unsigned char rr[3] = { OVERLAY_REF_RGB }, pr[3] = { OVERLAY_PRED_RGB };
    cairo_text_extents_t e1, e2;
    cairo_text_extents(cr, "prediction", &e1);
    cairo_text_extents(cr, "reference", &e2);
    double x = W - G - e1.x_advance;
    cairo_set_source_rgb(cr, pr[0] / 255., pr[1] / 255., pr[2] / 255.);
    cairo_move_to(cr, x, T - 10);
    cairo_show_text(cr, "prediction");
    if(ref){
        cairo_set_source_rgb(cr, rr[0] / 255., rr[1] / 255., rr[2] / 255.);
        cairo_move_to(cr, x - 12 - e2.x_advance, T - 10);
        cairo_show_text(cr, "reference");
    }
}

int overlay_png(const char *path, const volume *img, const volume *ref, const volume *pred, const char *title, double dice,
                char *err, size_t errlen)
{
    if(!img || !img->data || !pred || !pred->data || !same_size(img, pred) || (ref && (!ref->data || !same_size(img, ref)))){
        snprintf(err, errlen, "%s: picture: image, reference and prediction must be volumes of the same size", path);
        return -1;
    }
    float dx = img->dx > 0 && isfinite(img->dx) ? img->dx : 1, dy = img->dy > 0 && isfinite(img->dy) ? img->dy : 1,
          dz = img->dz > 0 && isfinite(img->dz) ? img->dz : 1;
    int Lx, Ly, Lz, W, H, c[3], i;
    overlay_layout(img->nx, img->ny, img->nz, dx, dy, dz, &Lx, &Ly, &Lz, &W, &H);
    if(!mask_centre(ref, c) && !mask_centre(pred, c)){ c[0] = img->nx / 2; c[1] = img->ny / 2; c[2] = img->nz / 2; }
    float lo, hi;
    if(grey_window(img, &lo, &hi)){ snprintf(err, errlen, "%s: picture: out of memory", path); return -1; }

    long sx = 1, sy = img->nx, sz = (long)img->nx * img->ny;
    const int G = OVERLAY_GAP, T = OVERLAY_HEADER;
    view views[3] = {
        { img->nx, img->ny, sx, sy, c[2] * sz, G, T, Lx, Ly, "axial", 'k', c[2] },
        { img->nx, img->nz, sx, sz, c[1] * sy, 2 * G + Lx, T, Lx, Lz, "coronal", 'j', c[1] },
        { img->ny, img->nz, sy, sz, c[0] * sx, 3 * G + 2 * Lx, T, Ly, Lz, "sagittal", 'i', c[0] },
    };
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(surf);
    cairo_set_source_rgb(cr, 0.12, 0.12, 0.12);
    cairo_paint(cr);
    int rc = 0;
    for(i = 0; i < 3 && rc == 0; ++i){
        rc = draw_slice(cr, img, &views[i], lo, hi);
        if(rc == 0) draw_outlines(cr, ref, pred, &views[i]);
    }
    draw_header(cr, W, ref, title, dice);
    cairo_destroy(cr);
    if(rc){ snprintf(err, errlen, "%s: cannot draw the picture: out of memory", path); cairo_surface_destroy(surf); return -1; }
    rc = publish_png(surf, path, err, errlen);
    cairo_surface_destroy(surf);
    return rc;
}
