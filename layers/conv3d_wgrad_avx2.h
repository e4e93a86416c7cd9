/* The weight gradient of stride-1 [conv3d] layers on CPUs with AVX2 but without AVX-512, where oneDNN's weight gradient of a 3x3x3 convolution is im2col + GEMM at a fraction of the machine's rate. */
#ifndef CONV3D_WGRAD_AVX2_H
#define CONV3D_WGRAD_AVX2_H
#include <stddef.h>
#include "darknet.h"

/* 0: never; 1 (default): where the rule below holds, on a CPU with AVX2 and FMA but without AVX-512F, and where
 * oneDNN chose im2col + GEMM for the layer's weight gradient; 2: wherever the rule holds on a CPU with AVX2 and FMA
 * (the tests compare the kernel with the general path on any such CPU). */
extern int conv3d_wgrad_avx2_mode;
/* samples are copied together while their channels-last copies take at most this many floats (default 8 Mi, 32 MB);
 * the result does not depend on it */
extern size_t conv3d_wgrad_avx2_group_floats;

/* 1 when the kernel can take l's weight gradient under conv3d_wgrad_avx2_mode: a [conv3d] (not [deconv3d]) of
 * stride 1, kernels up to 3 on every side, padding up to k - 1. Each weight's gradient is summed in one vector lane
 * over samples, rows and voxels in that order, so the result does not depend on the thread count. */
int conv3d_wgrad_avx2_applies(layer l);
/* l.weight_updates += dW from net.input and l.delta (already through the activation and batch-norm). -1 when short
 * of memory, before anything is changed. */
int conv3d_wgrad_avx2(layer l, network net);
#endif
