/* The weight gradient of stride-1 [conv3d] layers as direct AVX2 loops, for CPUs without AVX-512, where oneDNN's weight gradient of a 3x3x3 convolution is im2col + GEMM at a fraction of the machine's rate. */
#ifndef CONV3D_WGRAD_AVX2_H
#define CONV3D_WGRAD_AVX2_H
#include "darknet.h"

/* 0: never; 1 (default): where the rule below holds with rows of more than 16 output voxels, on a CPU with AVX2 and
 * FMA but without AVX-512F, and where oneDNN chose im2col + GEMM for the layer's weight gradient; 2: wherever the
 * rule holds on a CPU with AVX2 and FMA (the tests compare the loops with the general path on any such CPU). */
extern int conv3d_wgrad_avx2_mode;

/* 1 when the loops can take l's weight gradient under conv3d_wgrad_avx2_mode: a [conv3d] (not [deconv3d]) of
 * stride 1, kernels up to 3 on every side, padding up to k - 1, rows of at least 8 output voxels. Every sum runs in
 * a fixed order (per output channel, input channel and tap: over samples, slices, rows and 8 lanes, then the lanes
 * in order), so the result does not depend on the thread count. */
int conv3d_wgrad_avx2_applies(layer l);
/* l.weight_updates += dW from net.input and l.delta (already through the activation and batch-norm). -1 when short
 * of memory, before anything is changed. */
int conv3d_wgrad_avx2(layer l, network net);
#endif
