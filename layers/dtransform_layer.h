/* [dtransform] (s2r): the differentiable 3D distance transform of the DBiSL paper, probability map -> normalised signed distance R in [-1, 1], negative inside. */
#ifndef DTRANSFORM_LAYER_H
#define DTRANSFORM_LAYER_H
#include <stddef.h>
#include "darknet.h"
#include "cfg_keys.h"   /* DT_KERNEL_MAX */

/* The algorithm (per sample and channel; docs/design.md §4):
 *  1. resize: when scale < 1 the probability map P (D x H x W) is resized to
 *     d x h x w = max(1, floor(D*scale)) x ... by trilinear interpolation with
 *     align_corners = false (PyTorch's F.interpolate(size=...) rule: src = (dst+0.5)*in/out - 0.5,
 *     clamped at 0). For scale 0.5 and even sizes this is exactly the mean of each 2x2x2 block.
 *  2. binarise Ps -> B:
 *       ste     forward B = [Ps > 0.5] exactly, backward dB/dPs = 1 (straight-through);
 *       sigmoid B = sigmoid(tau*(Ps - 0.5)), exact gradient;
 *       softmin forward B = [Ps > 0.5] exactly (hard, as ste), but the distance is the
 *               log-sum-exp soft chamfer distance below, whose gradient reaches the boundary.
 *  3. DT(M) for M = B and M = 1 - B (kornia-style iteration, corrected offset):
 *       K(o) = exp(-|o|/h) on the k^3 grid, r = floor(k/2), iterations ceil(max(d,h,w)/r);
 *       bnd = M; at iteration i: conv = K (x) bnd (cross-correlation, replicate border);
 *       voxels not yet reached with 0 < conv < 1 are newly reached: S = i*r - h*log(conv)
 *       (log taken only there), then bnd = 1 on them (synchronously, after the iteration).
 *       Voxels never reached (and voxels of M) keep S = 0. With early_stop the loop ends
 *       at the first iteration that reaches no voxel: bit-exact, since nothing can change after.
 *     softmin: reached voxels keep bnd = exp(-S/h) instead of 1 and no offset is added, i.e.
 *       S_v = -h*log(sum_u K(u-v) * E_u) with E_u = M_u for unreached u and exp(-S_u/h) for
 *       reached u: a soft-min over paths of (seed cost + path length) computed in the log domain.
 *       Gradient: only through seeds (M_u = 1: dS/dM_u = -h * weight) and through the chain of
 *       reached voxels; unreached non-seed voxels (M_u = 0) get none (their derivative is e^{S/h}).
 *     exact = 1: S = exact Euclidean distance (voxel units at the transformed resolution),
 *       hard B; NOT differentiable: backward adds nothing (use it for labels and as reference).
 *  4. Rs = minmax(S_in) - minmax(S_out), S_in = DT(B) (0 inside, >0 outside), S_out = DT(1-B);
 *     minmax(S) = (S - min S)/(max S - min S), 0 for a constant S (so empty/full masks give 0);
 *     the gradient of min/max is spread evenly over ties (as torch.max()).
 *  5. R = trilinear upsample of Rs back to D x H x W (same rule as 1); identity when scale = 1.
 * The backward is the exact gradient of this forward (the transpose of each step).
 *
 * Memory (O(voxels), no per-iteration volume): per voxel at the transformed resolution
 * B (4 bytes), S_in and S_out (8), the reach iteration of each map (8, int32), a scratch that holds
 * the resized probability, then Rs, then dL/dRs (4), dL/dB (4) and dL/dS (4): 32 bytes per
 * transformed voxel, i.e. 4 bytes per input voxel at scale 0.5 (32 at scale 1), plus 8 floats
 * per volume, plus (CPU) a forward-only scratch of 12 bytes per voxel of ONE transformed volume
 * (frontier lists: iteration i > 0 evaluates only neighbours of the voxels reached at i - 1, which is
 * exact); dtransform_state_bytes() returns the total. A voxel's value is fixed in the
 * iteration that reaches it, so the backward recomputes its conv from its neighbours' reach
 * iterations (bnd at iteration i is 1 where reach < i,
 * else M). */

enum { DT_BIN_STE = 0, DT_BIN_SIGMOID = 1, DT_BIN_SOFTMIN = 2 };


typedef struct {
    int kernel;      /* odd, in [3, DT_KERNEL_MAX] (default 3) */
    float h;         /* kernel temperature (default 0.35) */
    float scale;     /* resize factor in (0, 1] before the transform (default 0.5) */
    int binarize;    /* DT_BIN_STE (default), DT_BIN_SIGMOID, DT_BIN_SOFTMIN */
    float tau;       /* sigmoid steepness (default 50) */
    int exact;       /* 1: exact EDT, no gradient (default 0) */
    int early_stop;  /* 1: stop at the first iteration that reaches nothing (default 1; bit-exact) */
} dtransform_params;

void dtransform_default_params(dtransform_params *p);

/* Workspace for `batch` independent single-channel volumes of D x H x W (on the GPU when gpu != 0
 * and the build has a GPU). NULL on bad parameters or out of memory. */
typedef struct dtransform_state dtransform_state;
dtransform_state *dtransform_alloc(const dtransform_params *p, int batch, int D, int H, int W, int gpu);
void dtransform_free(dtransform_state *s);

/* prob, R: batch*D*H*W floats (host pointers). forward OVERWRITES R and keeps what backward needs;
 * backward ADDS dL/dprob (given dL/dR in dR) into dprob; it must follow a forward on the same state.
 * Sign-agnostic: passing Darknet's delta (minus the gradient) gives minus the gradient. */
void dtransform_forward(dtransform_state *s, const float *prob, float *R);
void dtransform_backward(dtransform_state *s, const float *dR, float *dprob);
/* Number of iterations the last forward ran (max over volumes and both transforms). */
int dtransform_last_iterations(const dtransform_state *s);
/* Bytes held by the state (host or device), for reports. */
size_t dtransform_state_bytes(const dtransform_state *s);

#ifdef GPU
/* Same contract, device pointers; the state must have been allocated with gpu != 0. */
void dtransform_forward_gpu(dtransform_state *s, const float *prob_gpu, float *R_gpu);
void dtransform_backward_gpu(dtransform_state *s, const float *dR_gpu, float *dprob_gpu);
#endif

/* Reads kernel, h, scale, binarize (ste|sigmoid|softmin), tau, exact, early_stop with the strict
 * cfg readers (defaults above); 0, or -1 with err naming the key. */
int dtransform_parse_params(list *options, const char *sec, dtransform_params *p, char *err, size_t errlen);

/* The layer: input N x C x D x H x W, output the same shape, channels independent. Weightless.
 * forward overwrites l.output; backward ADDS into net.delta (when not NULL).
 * Key input = prob (default: the input is a probability map P) | logits (the input is a segmentation head's
 * logits z: the layer transforms P = sigmoid(z), kept in l.x, and its backward carries the gradient through
 * the sigmoid; l.activation is LOGISTIC then, LINEAR otherwise). A section a [dbisl] layer consumes (its s2r=)
 * runs in training only (net.train), as the loss does: dtransform_layer_set_train_only. */
layer make_dtransform_layer(int batch, int c, int d, int h, int w, const dtransform_params *p);
/* The transform settings of a [dtransform] layer; 1 when its input is logits. */
const dtransform_params *dtransform_layer_params(layer l);
int dtransform_layer_takes_logits(layer l);
void dtransform_layer_set_train_only(layer *l);
void forward_dtransform_layer(const layer l, network net);
void backward_dtransform_layer(const layer l, network net);
int parse_dtransform_section(list *options, size_params params, layer *l, char *err, size_t errlen);
/* registry free hook: releases the transform state held in plugin_state */
void free_dtransform_layer(layer l);
#ifdef GPU
void forward_dtransform_layer_gpu(const layer l, network net);
void backward_dtransform_layer_gpu(const layer l, network net);
#endif
#endif
