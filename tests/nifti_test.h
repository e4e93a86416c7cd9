/* The oblique test geometry the NIfTI tests write: a rotated qform with qfac -1 and an offset. */
#ifndef NIFTI_TEST_H
#define NIFTI_TEST_H
#include "nifti2_io.h"

/* sets nim's voxel size to dx x dy x dz mm and its qform (scanner space) to a rotation with qfac -1 and an offset */
static inline void nifti_test_rotated_qform(nifti_image *nim, float dx, float dy, float dz)
{
    nim->pixdim[1] = nim->dx = dx; nim->pixdim[2] = nim->dy = dy; nim->pixdim[3] = nim->dz = dz;
    nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
    nim->quatern_b = 0.1; nim->quatern_c = -0.2; nim->quatern_d = 0.3;
    nim->qoffset_x = 10; nim->qoffset_y = -20; nim->qoffset_z = 30.5; nim->qfac = -1;
    nim->qto_xyz = nifti_quatern_to_dmat44(nim->quatern_b, nim->quatern_c, nim->quatern_d, nim->qoffset_x, nim->qoffset_y,
                                          nim->qoffset_z, nim->dx, nim->dy, nim->dz, nim->qfac);
}
#endif
