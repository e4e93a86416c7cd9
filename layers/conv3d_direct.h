/* Direct AVX-512 loops for [conv3d] layers with few channels (at most 8 filters and 16 input channels, stride 1, kernels up to 3x3x3: LA-mini's and the demo's full-resolution layers), where oneDNN pads the channels to blocks of 16 and GEMMs have too few rows. */
#ifndef CONV3D_DIRECT_H
#define CONV3D_DIRECT_H
#include "darknet.h"

#define CONV3D_DIRECT_OC 8     /* most filters */
#define CONV3D_DIRECT_C 16     /* most input channels */

/* 1 when forward_/backward_conv3d_layer take the direct loops for l: the shape rule above, a CPU with AVX-512F (not
 * capped by ONEDNN_MAX_CPU_ISA, cpu_isa_level) and conv3d_direct_enabled. Every sum runs in a fixed order (the weight
 * gradient per (channel, tap row) over samples, rows and voxels in order), so results do not depend on the thread
 * count. */
int conv3d_direct_applies(layer l);
/* 0 turns the direct loops off (the tests compare them with the general path); default 1 */
extern int conv3d_direct_enabled;

/* y = W * x into l.output (before batch-norm and activation). -1 when short of memory (nothing written). */
int conv3d_direct_forward(layer l, network net);
/* l.weight_updates += dW and, when net.delta, net.delta += dX, from l.delta (already through the activation and
 * batch-norm). -1 when short of memory (nothing changed). */
int conv3d_direct_backward(layer l, network net);
#endif
