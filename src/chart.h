/* Training chart: loss terms (and validation Dice) per iteration, drawn with cairo into a PNG, plus a CSV of the same numbers. */
#ifndef CHART_H
#define CHART_H
#include <stddef.h>

typedef struct chart chart;
/* nseries loss series (series 0 is drawn thickest), at most max_points points each. NULL on bad args. */
chart *chart_create(int nseries, int max_points);
void chart_set_name(chart *c, int series, const char *name);
void chart_add(chart *c, int series, int iter, float value);
void chart_add_valid(chart *c, int iter, double dice);
/* Writes <path> (PNG, 960x540: losses on the left axis; when validation points were added, the validation Dice
 * curve, 0..1 on the right axis, in CHART_VALID_RGB) and <path>.csv (every point as added). 0 or -1 with err.
 * A series of at least CHART_SMOOTH_MIN points is drawn as its moving mean over chart_smooth_half(n) points on each
 * side, with every point faded behind it, and the loss axis is scaled to the means (a spike above them is cut off
 * at the top); the legend names the window. Shorter series are drawn point by point. */
#define CHART_VALID_RGB 0x00, 0x8C, 0x3C
#define CHART_SMOOTH_MIN 400
int chart_write_png(chart *c, const char *path, char *err, size_t errlen);
/* the half-width of the moving mean for n points: 0 below CHART_SMOOTH_MIN, else n / 200 (about 200 independent
 * means across the plot) */
int chart_smooth_half(int n);
/* out[i] = mean of the finite v[j], |j - i| <= half, 0 <= j < n; NAN where there is none */
void chart_smooth(const float *v, int n, int half, float *out);
void chart_free(chart *c);
#endif
