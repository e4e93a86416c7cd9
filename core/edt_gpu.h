/* GPU twin of the exact 3D Euclidean distance transform of core/edt.h (device pointers). */
#ifndef EDT_GPU_H
#define EDT_GPU_H
#ifdef GPU
/* Same contract as edt3d (core/edt.h) with mask_gpu/out_gpu on the device: out = distance (spacing-weighted)
   to the nearest voxel with mask != 0, 0 on those; returns the number of non-zero voxels, and fills out with
   INFINITY when there are none; -1 on bad arguments or out of device memory. Same algorithm (binary scan along w,
   parabola lower envelope along h then d, double inside the envelope, float between passes) so results match
   the CPU to rounding of the final sqrt. One thread per line. */
int edt3d_gpu(const unsigned char *mask_gpu, int D, int H, int W, const float spacing[3], float *out_gpu);
int edt3d_sq_gpu(const unsigned char *mask_gpu, int D, int H, int W, const float spacing[3], float *out_gpu);
#endif
#endif
