/* Training chart: loss terms (and validation Dice) per iteration, plotted into an RGB image and written as PNG with libpng, plus a CSV of the same numbers. */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "chart.h"

#define CW 960
#define CH 540
#define ML 60   /* margins */
#define MR 50
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
    unsigned char *img;
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
    c->img = malloc(CW * CH * 3);
    if(!c->names || !c->n || !c->it || !c->v || !c->vit || !c->vd || !c->img){ chart_free(c); return NULL; }
    return c;
}

void chart_free(chart *c)
{
    if(!c) return;
    free(c->names); free(c->n); free(c->it); free(c->v); free(c->vit); free(c->vd); free(c->img);
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
    {0, 0, 0}, {230, 25, 75}, {60, 180, 75}, {0, 130, 200}, {245, 130, 48}, {145, 30, 180},
    {70, 200, 200}, {240, 50, 230}, {128, 128, 0}, {170, 110, 40}, {0, 0, 128}, {128, 128, 128}
};

static void px(chart *c, int x, int y, const unsigned char *rgb)
{
    if(x < 0 || y < 0 || x >= CW || y >= CH) return;
    memcpy(c->img + 3 * (y * CW + x), rgb, 3);
}

static void line(chart *c, int x0, int y0, int x1, int y1, const unsigned char *rgb, int thick)
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, e = dx + dy;
    for(;;){
        int a, b;
        for(a = 0; a < thick; ++a) for(b = 0; b < thick; ++b) px(c, x0 + a, y0 + b, rgb);
        if(x0 == x1 && y0 == y1) break;
        int e2 = 2 * e;
        if(e2 >= dy){ e += dy; x0 += sx; }
        if(e2 <= dx){ e += dx; y0 += sy; }
    }
}

/* 3x5 glyphs, rows top to bottom, 3 bits each (MSB left) */
static int glyph(char ch)
{
    static const char *keys = "0123456789abcdefghijklmnopqrstuvwxyz_.=-+";
    /* generated from 3x5 ASCII art: row-major, 15 bits, MSB = top-left */
    static const unsigned short g[] = {
        0x7B6F, 0x2C97, 0x73E7, 0x72CF, 0x5BC9, 0x79CF, 0x79EF, 0x7292, 0x7BEF, 0x7BCF,
        0x2BED, 0x6BAE, 0x3923, 0x6B6E, 0x79A7, 0x79A4, 0x396B, 0x5BED, 0x7497, 0x126A,
        0x5BAD, 0x4927, 0x5FED, 0x6B6D, 0x2B6A, 0x6BA4, 0x2B73, 0x6BAD, 0x388E, 0x7492,
        0x5B6F, 0x5B6A, 0x5BFD, 0x5AAD, 0x5A92, 0x72A7, 0x0007, 0x0002, 0x0E38, 0x01C0,
        0x05D0
    };
    const char *p = strchr(keys, ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    return (p && ch) ? g[p - keys] : 0;
}

static void text(chart *c, int x, int y, const char *s, const unsigned char *rgb)
{
    const int S = 2; /* pixel scale */
    for(; *s; ++s, x += 4 * S){
        int g = glyph(*s), r, k, a, b;
        for(r = 0; r < 5; ++r) for(k = 0; k < 3; ++k)
            if(g & (1 << (14 - (r * 3 + k)))) for(a = 0; a < S; ++a) for(b = 0; b < S; ++b) px(c, x + k * S + a, y + r * S + b, rgb);
    }
}

int chart_write_png(chart *c, const char *path, char *err, size_t errlen)
{
    int s, i;
    memset(c->img, 255, CW * CH * 3);
    int maxit = 1;
    float vmax = 0;
    for(s = 0; s < c->ns; ++s) for(i = 0; i < c->n[s]; ++i){
        float v = c->v[s * c->maxp + i];
        if(c->it[s * c->maxp + i] > maxit) maxit = c->it[s * c->maxp + i];
        if(isfinite(v) && v > vmax) vmax = v;
    }
    if(vmax <= 0) vmax = 1;
    const unsigned char grey[3] = {200, 200, 200}, black[3] = {0, 0, 0};
    int pw = CW - ML - MR, ph = CH - MT - MB;
    for(i = 0; i <= 4; ++i){
        int y = MT + ph - i * ph / 4;
        line(c, ML, y, ML + pw, y, grey, 1);
        char lab[32];
        snprintf(lab, sizeof(lab), "%.3g", vmax * i / 4);
        text(c, 4, y - 5, lab, black);
        snprintf(lab, sizeof(lab), "%.2f", i / 4.0);
        text(c, ML + pw + 6, y - 5, lab, palette[0]);
    }
    line(c, ML, MT, ML, MT + ph, black, 1);
    line(c, ML, MT + ph, ML + pw, MT + ph, black, 1);
    char lab[64];
    snprintf(lab, sizeof(lab), "iteration 0-%d", maxit);
    text(c, ML + pw / 2 - 60, CH - 22, lab, black);
    for(s = c->ns - 1; s >= 0; --s){
        const unsigned char *col = palette[s % 12];
        int px0 = -1, py0 = -1;
        for(i = 0; i < c->n[s]; ++i){
            float v = c->v[s * c->maxp + i];
            if(!isfinite(v)) continue;
            int x = ML + (int)((double)c->it[s * c->maxp + i] / maxit * pw);
            int y = MT + ph - (int)(v / vmax * ph);
            if(px0 >= 0) line(c, px0, py0, x, y, col, s == 0 ? 2 : 1);
            px0 = x; py0 = y;
        }
        text(c, ML + 10 + (s % 5) * 170, MT + 6 + (s / 5) * 14, c->names[s], col);
    }
    const unsigned char vcol[3] = {0, 90, 0};
    for(i = 0; i < c->nv; ++i){
        if(!isfinite(c->vd[i])) continue;
        int x = ML + (int)((double)c->vit[i] / maxit * pw), y = MT + ph - (int)(c->vd[i] * ph), a, b;
        for(a = -3; a <= 3; ++a) for(b = -3; b <= 3; ++b) px(c, x + a, y + b, vcol);
    }
    if(c->nv) text(c, ML + pw - 200, MT + ph - 20, "valid dice right axis", vcol);

    FILE *f = fopen(path, "wb");
    if(!f){ snprintf(err, errlen, "%s: cannot write", path); return -1; }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if(!png || !info || setjmp(png_jmpbuf(png))){
        png_destroy_write_struct(&png, &info);
        fclose(f);
        snprintf(err, errlen, "%s: libpng failed", path);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, CW, CH, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for(i = 0; i < CH; ++i) png_write_row(png, c->img + 3 * i * CW);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);

    char cpath[1100];
    snprintf(cpath, sizeof(cpath), "%s.csv", path);
    f = fopen(cpath, "w");
    if(!f){ snprintf(err, errlen, "%s: cannot write", cpath); return -1; }
    fprintf(f, "iteration");
    for(s = 0; s < c->ns; ++s) fprintf(f, ",%s", c->names[s]);
    fprintf(f, ",valid_dice\n");
    int j = 0;
    for(i = 0; i < c->n[0]; ++i){
        int it = c->it[i];
        fprintf(f, "%d", it);
        for(s = 0; s < c->ns; ++s) fprintf(f, ",%g", i < c->n[s] ? c->v[s * c->maxp + i] : NAN);
        while(j < c->nv && c->vit[j] < it) ++j;
        if(j < c->nv && c->vit[j] == it) fprintf(f, ",%g\n", c->vd[j]); else fprintf(f, ",\n");
    }
    fclose(f);
    return 0;
}
