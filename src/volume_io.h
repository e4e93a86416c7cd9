/* Reading and writing 3D volumes (NIfTI-1/2 .nii/.nii.gz through nifti_clib, UA-MT/DTC style .h5 through HDF5) as float32 arrays. */
#ifndef VOLUME_IO_H
#define VOLUME_IO_H
#include <stddef.h>

/* A 3D scalar volume.
 * Index of voxel (i, j, k): i + nx*(j + ny*k)  (NIfTI order, i fastest).
 * In darknet3d's NCDHW layout a volume is one channel with W = nx, H = ny, D = nz,
 * so the same flat index is w + W*(h + H*d).
 *
 * .h5 files (UA-MT / DTC / SSL4MIS preprocessing of LA): datasets are C-order arrays of
 * shape (X, Y, Z) = (h5 dims[0], dims[1], dims[2]), the last one fastest in the file, written
 * from the same (x, y, z) array that the NIfTI of the case stores with x fastest. volume_read
 * therefore maps nx = dims[0], ny = dims[1], nz = dims[2] and transposes:
 *     v->data[i + nx*(j + ny*k)] = h5[i][j][k]
 * so an .h5 case and the .nii.gz of the same case give identical volumes (checked by
 * tests/test_volume_io.c on ../shared/data/LA_h5). .h5 carries no spacing: dx = dy = dz = 1. */
typedef struct {
    int nx, ny, nz;      /* NIfTI i (fastest), j, k; in darknet3d's NCDHW layout W = nx, H = ny, D = nz */
    float dx, dy, dz;    /* voxel spacing (mm) along i, j, k */
    float *data;         /* nx*ny*nz floats, i fastest (NIfTI order), scl_slope/scl_inter applied */
    void *geom;          /* opaque geometry (header without data) copied when writing a derived volume; NULL when unknown (e.g. .h5).
                            Owned by the volume: volume_free releases it; do not share one geom between two volumes. */
} volume;

/* the volume of one voxel in mL (spacing in mm) */
static inline double volume_voxel_ml(const volume *v) { return (double)v->dx * v->dy * v->dz / 1000.0; }

/* Reads .nii, .nii.gz (any int/float datatype -> float32) or .h5 (dataset `h5_dataset`, NULL means "image").
   A 4D file with one frame is accepted, more frames is an error; so is a NaN or infinite voxel. Returns 0, or -1 with err naming the file and the problem.
   On error *v is left zeroed (nothing to free). */
int volume_read(const char *path, const char *h5_dataset, volume *v, char *err, size_t errlen);

/* The check training applies to a label volume: the image's shape (nx x ny x nz voxels) and every voxel an integer in
 * 0..255. 0, or -1 with err naming the label file and what was expected (and the image file, on a shape mismatch). */
int volume_label_check(const volume *lab, const char *label_path, int nx, int ny, int nz, const char *image_path,
                       char *err, size_t errlen);

/* Writes .nii/.nii.gz with the geometry (qform/sform, spacing) of `geometry_from` when given (else of v->geom, else identity with v's spacing).
   as_uint8 != 0 writes DT_UINT8 (labels; values rounded and clamped to 0..255), else DT_FLOAT32. Returns 0 or -1 with err.
   The file is written as NIfTI-1 single file; the name must end in .nii or .nii.gz. */
int volume_write(const char *path, const volume *v, const volume *geometry_from, int as_uint8, char *err, size_t errlen);

/* Whether volume_write could write path, checked before any work: a .nii or .nii.gz name, and not an existing
 * device, pipe or folder. 0, or -1 with err naming the file and what is expected. */
int volume_write_name_check(const char *path, char *err, size_t errlen);

int volume_alloc(volume *v, int nx, int ny, int nz);  /* zeroed data, spacing 1, geom NULL; 0 or -1 (bad size / out of memory) */
void volume_free(volume *v);                          /* frees data and geom, zeroes *v; safe on a zeroed volume */

/* Gives out (already allocated, spacing set to f times in's) in's geometry for a grid coarsened by the integer factor f:
   output voxel i covers input voxels f*i .. f*i+f-1 along each axis, so its centre is input index f*i + (f-1)/2.
   The qform keeps its quaternion, qfac and code, with the spacing scaled and the origin moved; the sform keeps its
   code, with its columns scaled by f and its origin moved. out->geom stays NULL when in has no geometry (.h5).
   0, or -1 when out of memory. */
int volume_geom_coarsen(volume *out, const volume *in, int f);

/* In place: mean 0, standard deviation 1 over the whole volume (a constant volume becomes 0). */
void volume_zscore(volume *v);
#endif
