/* `./darknet seg3d resample`: integer-factor block downsampling of a volume (images: block mean; labels: block majority), used to prepare reduced-resolution data sets such as LA-mini. */
#ifndef RESAMPLE_H
#define RESAMPLE_H
#include "volume_io.h"
/* out (allocated here) = in downsampled by f along every axis: block mean, or block majority (> half) of
 * non-zero voxels for labels; partial blocks at the far edges are dropped. out's geometry places each output voxel
 * at the centre of its input block in in's world space (volume_geom_coarsen). 0, or -1 when f is below 1 or above
 * a dimension of in, or out of memory. */
int volume_downsample(const volume *in, int f, int is_label, volume *out);
int seg3d_resample(int argc, char **argv);
#endif
