/* How images are scaled as they are read ([net] normalize, window_lo, window_hi): training crops, validation, seg3d predict and test. */
#ifndef INTENSITY_H
#define INTENSITY_H
#include <stddef.h>
#include "volume_io.h"

typedef enum { NORM_NONE, NORM_ZSCORE, NORM_CTWINDOW } norm_mode;

typedef struct {
    norm_mode mode;
    float lo, hi;   /* NORM_CTWINDOW: the window, lo < hi (defaults -125, 275 HU) */
} intensity_norm;

/* Reads [net] normalize = none (default) | zscore | ctwindow, and window_lo / window_hi (ctwindow only, ranges
 * from src/cfg_keys.def, window_lo < window_hi). 0, or -1 with err naming file:line, [net] and the key. */
int intensity_read(const char *cfg, intensity_norm *n, char *err, size_t errlen);

/* In place: none leaves v alone; zscore: mean 0, standard deviation 1 over the volume; ctwindow: every voxel
 * clipped to [lo, hi], then z-scored over the volume. On an image whose values all lie inside the window
 * (already normalised data) ctwindow equals zscore. */
void intensity_apply(const intensity_norm *n, volume *v);
#endif
