/* Exact Euclidean distance transform of a 3D binary mask with anisotropic voxel spacing (separable, linear time). */
#ifndef EDT_H
#define EDT_H

/* out[i] = Euclidean distance (spacing-weighted) from voxel i to the nearest voxel with mask != 0 (0 on those voxels).
   Returns the number of non-zero voxels; when 0, out is filled with INFINITY. Layout: idx = w + W*(h + H*d).
   Exact (Felzenszwalb-Huttenlocher lower envelope of parabolas along w, then h, then d; double arithmetic
   inside the envelope, squared distances kept in float between passes), the same definition as
   scipy.ndimage.distance_transform_edt(mask == 0, sampling=spacing). OpenMP over lines.
   Returns -1 (out untouched) on bad arguments (NULL pointers, a size < 1, spacing <= 0) or out of memory. */
int edt3d(const unsigned char *mask, int D, int H, int W, const float spacing[3] /* along d, h, w */, float *out);

/* Same, but returns SQUARED distances (no sqrt): what callers comparing distances need, and cheaper. */
int edt3d_sq(const unsigned char *mask, int D, int H, int W, const float spacing[3], float *out);

#endif
