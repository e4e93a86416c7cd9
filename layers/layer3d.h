/* Shared helpers of the darknet3d layers: the NCDHW shape convention, buffer allocation on CPU/GPU and parse-time checks. */
#ifndef LAYER3D_H
#define LAYER3D_H
#include <stdio.h>
#include "darknet.h"

/* Layout: NCDHW, idx = w + W*(h + H*(d + D*(c + C*n))).
 * In the layer struct a 3D tensor is seen by stock Darknet as C x (D*H) x W:
 *   l.c, l.d, l.h = D*H, l.w   (input)     l.out_c, l.out_d, l.out_h = D*H, l.out_w (output)
 * so route (channel concat), shortcut (equal shapes), dropout and cost work unchanged.
 * The true height is h/d; use these helpers rather than dividing by hand. */
typedef struct { int c, d, h, w; } dims3d;

static inline dims3d in_dims(layer l)  { dims3d s = { l.c, l.d, l.d ? l.h / l.d : l.h, l.w }; return s; }
static inline dims3d out_dims(layer l) { dims3d s = { l.out_c, l.out_d, l.out_d ? l.out_h / l.out_d : l.out_h, l.out_w }; return s; }
static inline size_t dims_volume(dims3d s) { return (size_t)s.d * s.h * s.w; }

/* Reads the input shape from the parser's params; fails (with a message) on an inconsistent depth. */
int params_dims(size_params params, dims3d *in, char *err, size_t errlen);

/* 1 while a network for forward passes only is parsed (src/darknet3d.h load_network_infer): make_ and parse
 * functions allocate no delta, no weight/bias/scale updates and no buffer that only backward reads. */
extern int layer3d_inference;

/* 1 while a GPU network is parsed and its buffers are shared (src/darknet3d.c): layer3d_set_shapes makes no device
 * twins of output and delta, the sharings plan on the host buffers alone, and network_mirror_buffers
 * (src/buffer_mirror.h) then makes each twin once, so that the device never holds the per-layer buffers the
 * sharings replace. */
extern int layer3d_defer_device;

/* Fills batch/in/out shape fields and allocates output and delta (no delta when layer3d_inference) (CPU, and GPU when gpu_index >= 0 and not layer3d_defer_device).
 * 0, or -1 when memory is short (a failed GPU allocation is recorded for cuda3d_take_error, core/cuda3d.h). */
int layer3d_set_shapes(layer *l, int batch, dims3d in, dims3d out);

/* 1 when output and delta (not needed when layer3d_inference) exist on the CPU and, for a GPU run, on the GPU (unless deferred) */
int layer3d_buffers_ok(const layer *l);
/* A make_ function's failure as a parse error: "out of GPU memory: file:line: call: error" after a recorded failed
 * GPU allocation, "the GPU refused the layer: ..." after another recorded GPU failure (core/cuda3d.h), else "out of
 * memory". Returns -1. */
int layer3d_alloc_error(char *err, size_t errlen);

/* calloc that the tests can make fail; never returns NULL silently: callers check. */
float *layer3d_alloc(size_t n);

/* Reads exactly n floats; -1 on a short read (truncated weights file). */
int read_floats(float *x, size_t n, FILE *fp);
/* Writes exactly n floats; -1 when the write fails (full disk, I/O error). */
int write_floats(const float *x, size_t n, FILE *fp);

#ifdef GPU
/* Push/pull n floats if both pointers exist. */
void layer3d_push(float *x_gpu, float *x, size_t n);
void layer3d_pull(float *x_gpu, float *x, size_t n);
#endif
#endif
