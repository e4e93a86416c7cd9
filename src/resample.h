/* `./darknet seg3d resample`: integer-factor block downsampling of a volume (images: block mean; labels: block majority), used to prepare reduced-resolution data sets such as LA-mini. */
#ifndef RESAMPLE_H
#define RESAMPLE_H
#include "volume_io.h"
/* out (allocated here) = in downsampled by f along every axis: block mean, or block majority (> half) of
 * non-zero voxels for labels; partial blocks at the far edges are dropped. 0 or -1. */
int volume_downsample(const volume *in, int f, int is_label, volume *out);
int seg3d_resample(int argc, char **argv);
#endif
