/* Tests of [deconv3d]: the [conv3d] test program compiled for the transposed layer (same checks, ConvTranspose3d fixtures). */
#define C3_TRANSPOSED 1
#include "test_conv3d.c"
