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
 * curve, 0..1 on the right axis, in CHART_VALID_RGB) and <path>.csv. 0 or -1 with err. */
#define CHART_VALID_RGB 0x00, 0x8C, 0x3C
int chart_write_png(chart *c, const char *path, char *err, size_t errlen);
void chart_free(chart *c);
#endif
