/* Mixed precision on the GPU ([net] precision = fp16 | bf16): half-precision copies for cuDNN's tensor-core convolutions and the dynamic loss scale of an fp16 training step. */
#ifndef AMP_H
#define AMP_H
#include <stddef.h>
#include "darknet.h"

/* Numerics of the GPU's convolutions ([net] precision / -precision; the seg3d commands set it, GPU default tf32):
 *   DARKNET3D_FP32  exact FP32 FMA, results match the CPU
 *   DARKNET3D_TF32  tensor cores with 10-bit mantissa inputs, PyTorch's default for cuDNN convolutions
 *   DARKNET3D_FP16  operands in fp16, FP32 accumulation; training scales the loss dynamically
 *   DARKNET3D_BF16  operands in bf16 (8-bit mantissa, FP32's range), FP32 accumulation
 * The library's default is FP32. The CPU always computes FP32. */
enum { DARKNET3D_FP32 = 0, DARKNET3D_TF32 = 1, DARKNET3D_FP16 = 2, DARKNET3D_BF16 = 3 };
extern int darknet3d_precision;
/* [net] channels_last (default 1): at fp16|bf16 the 16-bit copies of a convolution's activations are laid out
 * channels-last (NDHWC, weights KDHWC), the layout cuDNN's tensor-core kernels run on without transposing, as
 * PyTorch's channels_last_3d; 0 keeps them in Darknet's NCDHW. The FP32 buffers are NCDHW either way. */
extern int darknet3d_channels_last;

/* Rules (docs/design.md, "Mixed precision"):
 * - Parameters, their updates (and momentum), activations, deltas, batch-norm statistics and the loss stay FP32;
 *   batch norm's x_norm, kept for backward, is kept in the 16-bit type (layers/conv3d_common.h, xn_type).
 *   A convolution converts its operands to fp16/bf16 in net.workspace, runs cuDNN with FP32 accumulation on tensor
 *   cores, and converts the result back into its FP32 buffer (overwriting or adding, as the FP32 path does).
 * - fp16 training scales the loss by S (the [dbisl] deltas are multiplied by amp_loss_scale), as torch.amp's
 *   GradScaler: S starts at 65536; a step whose parameter gradients are not all finite is skipped (the update
 *   buffers are restored to their momentum, the weights are not touched) and S is halved; after 2000 steps in a
 *   row without overflow S doubles, and S never goes below 1: a step that overflows at S = 1 has non-finite
 *   gradients of its own, and training stops there as it does on a non-finite loss. bf16 has FP32's exponent range
 *   and runs with S = 1. */

#define AMP_INIT_SCALE 65536.f
#define AMP_GROWTH_INTERVAL 2000
#define AMP_MIN_SCALE 1.f
#define AMP_MAX_SCALE 1e30f   /* growth stops here; a .state with a scale outside [MIN, MAX] is refused */

/* The loss scale the loss layers multiply their deltas by (1 unless an fp16 training step is running). */
extern float amp_loss_scale;

/* Host side of the dynamic loss scale. */
typedef struct {
    float scale;         /* S */
    int good_steps;      /* steps since the last overflow or growth */
    long skipped;        /* steps skipped since the run began, carried across resumes by the .state (logged) */
} amp_scaler;
void amp_scaler_init(amp_scaler *s);
/* After a step's gradients were checked: returns 1 when the step is to be applied, 0 when it is skipped
 * (overflow); updates S as described above. */
int amp_scaler_step(amp_scaler *s, int overflow);

/* 1 when the current precision converts convolution operands to 16 bits (fp16 or bf16). */
int amp_half(void);
/* Bytes of one element of the 16-bit type (2). */
#define AMP_ELT 2
/* Bytes of n 16-bit elements, rounded up to 256 (the alignment of each scratch part of net.workspace). */
size_t amp_bytes(size_t n);

/* The saved update buffers of an fp16 training step (GPU builds; below). */
typedef struct amp_params amp_params;

#ifdef GPU
/* dst (16-bit, the current precision's type) = src (n floats) */
void amp_to_half_gpu(const float *src, void *dst, size_t n);
/* dst = beta * dst + src (n 16-bit values of the current type), beta 0 or 1 */
void amp_from_half_gpu(const void *src, float *dst, size_t n, float beta);
/* The same with a change of layout: src holds batch blocks of rows x cols values and dst the same blocks transposed
 * (cols x rows). NCDHW -> NDHWC is rows = channels, cols = voxels; NDHWC -> NCDHW is rows = voxels, cols = channels. */
void amp_to_half_t_gpu(const float *src, void *dst, int batch, int rows, size_t cols);
void amp_from_half_t_gpu(const void *src, float *dst, int batch, size_t rows, int cols, float beta);

/* The parameter-update buffers of an fp16 training step (device arrays of n[i] floats; the caller lists every
 * update buffer of the network). amp_step_begin saves them (their momentum) before the backward passes of a step;
 * amp_step_finish checks the new gradients for overflow and either unscales them (update = saved + (update - saved)
 * / S) or restores the saved values, and returns 1 (apply the update) or 0 (skip). make: NULL with err when device
 * memory is short. */
amp_params *amp_params_make(float **arrays, const size_t *n, int count, char *err, size_t errlen);
void amp_params_free(amp_params *p);
void amp_step_begin(amp_params *p);
int amp_step_finish(amp_params *p, amp_scaler *s);
#endif
#endif
