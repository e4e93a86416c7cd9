/* Writes tests/errors/tiny.h5 (datasets image float32 and label uint8, 6 x 5 x 4), the valid .h5 that tests/test_errors.sh truncates and corrupts; build: gcc tests/errors/make_h5.c -I/usr/include/hdf5/serial -lhdf5_serial */
#include <stdio.h>
#include "hdf5.h"

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "tests/errors/tiny.h5";
    hsize_t dims[3] = {6, 5, 4};
    float img[6 * 5 * 4];
    unsigned char lab[6 * 5 * 4];
    int i;
    for(i = 0; i < 6 * 5 * 4; ++i){ img[i] = (float)(i % 7) * 0.25f; lab[i] = (unsigned char)(i % 3 == 0); }
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = H5Screate_simple(3, dims, NULL);
    hid_t d1 = H5Dcreate2(f, "image", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d1, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, img);
    hid_t d2 = H5Dcreate2(f, "label", H5T_STD_U8LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d2, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab);
    H5Dclose(d1); H5Dclose(d2); H5Sclose(sp); H5Fclose(f);
    return 0;
}
