/* The weight gradient of stride-1 [conv3d] layers on CPUs with AVX2 but without AVX-512, where oneDNN's weight gradient of a 3x3x3 convolution is im2col + GEMM at a fraction of the machine's rate. */
#ifndef CONV3D_WGRAD_AVX2_H
#define CONV3D_WGRAD_AVX2_H
#include <stddef.h>
#include "darknet.h"

/* 0: never; 1 (default): where the rule below holds, on a CPU with AVX2 and FMA but without AVX-512F (or with it
 * capped by ONEDNN_MAX_CPU_ISA=AVX2, cpu_isa_level), and where oneDNN chose im2col + GEMM for the layer's weight
 * gradient; 2: wherever the rule holds on a CPU with AVX2 and FMA (the tests compare both kernels with the general
 * path on any such CPU). */
extern int conv3d_wgrad_avx2_mode;
/* 0 (default): by row length, the row loops from rows of 32 voxels and the outer-product kernel below; 1: the row
 * loops wherever rows hold a vector (8 voxels); 2: the outer-product kernel. Both give the same sums up to rounding. */
extern int conv3d_wgrad_avx2_kernel;
/* the outer-product kernel copies samples together while their channels-last copies take at most this many floats
 * (default 8 Mi, 32 MB); the result does not depend on it */
extern size_t conv3d_wgrad_avx2_group_floats;

/* 1 when the kernels can take l's weight gradient under conv3d_wgrad_avx2_mode: a [conv3d] (not [deconv3d]) of
 * stride 1, kernels up to 3 on every side, padding up to k - 1. Every sum runs in a fixed order (the row loops: over
 * samples, slices, rows and 8 lanes, then the lanes in order; the outer-product kernel: each weight in one lane over
 * samples, rows and voxels), so the result does not depend on the thread count. */
int conv3d_wgrad_avx2_applies(layer l);
/* l.weight_updates += dW from net.input and l.delta (already through the activation and batch-norm). -1 when short
 * of memory, before anything is changed. */
int conv3d_wgrad_avx2(layer l, network net);
/* the same by the outer-product kernel (conv3d_wgrad_avx2_cl.c), whatever conv3d_wgrad_avx2_kernel says */
int conv3d_wgrad_avx2_cl(layer l, network net);
#endif
