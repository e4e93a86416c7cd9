/* Winograd F(2x2x2, 3x3x3) for [conv3d] layers of 3x3x3 kernels, stride 1 and padding 1 on CPUs with AVX2: 3.4x fewer multiplications than a direct or GEMM convolution, for the full-resolution layers where oneDNN's AVX2 convolutions run at about half the machine's rate. */
#ifndef CONV3D_WINOGRAD_H
#define CONV3D_WINOGRAD_H
#include "darknet.h"

/* 0: never; 1 (default): where the rule below holds on a CPU with AVX2 and FMA but without AVX-512F (or with it capped
 * by ONEDNN_MAX_CPU_ISA=AVX2, cpu_isa_level); 2: wherever the rule holds on a CPU with AVX2 and FMA (the tests compare
 * it with the general path on any such CPU). */
extern int conv3d_winograd_mode;

/* The layers they take: [conv3d] (not [deconv3d]) of 3x3x3 kernels, stride 1, padding 1 on every axis, rows of at
 * least 16 voxels, under conv3d_winograd_mode; the channel rules below are where they ran faster than the general
 * path (docs/performance.md, "Winograd"). Every sum runs in a fixed order (the weight gradient: 8 fixed groups of
 * blocks of tiles, each in order, then the groups in order), so the results do not depend on the thread count. */
/* forward_conv3d_layer: at least 8 input channels (with 1, the first layer's, the 64 products have one term each) and
 * out_c * c <= 4096 */
int conv3d_winograd_forward_applies(layer l);
/* backward_conv3d_layer: out_c * c <= 2048 (the weight gradient keeps 8 groups x 64 x 8 sums per weight; at 64 -> 64
 * channels the general path's backward ran faster) */
int conv3d_winograd_backward_applies(layer l);
/* y = W * x into l.output (before batch-norm and activation). -1 when short of memory (nothing written). */
int conv3d_winograd_forward(layer l, network net);
/* l.weight_updates += dW and, when net.delta, net.delta += dX, from l.delta (already through the activation and
 * batch-norm). -1 when short of memory (nothing changed). */
int conv3d_winograd_backward(layer l, network net);
#endif
