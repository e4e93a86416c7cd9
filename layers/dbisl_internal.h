/* State of a [dbisl] layer shared by its CPU file (dbisl_layer.c) and its CUDA twin (dbisl_kernels.cu); not a public API. */
#ifndef DBISL_INTERNAL_H
#define DBISL_INTERNAL_H
#include "dbisl_layer.h"
#include "dtransform_layer.h"

/* Device sums of one forward, in double (dbisl_kernels.cu): per decoder w at w * DBISL_ACC_DEC + ...
 * (Dice intersection, Dice squares, CE of sup_seg; the same of sup_r2s; the squared errors of
 * sup_reg, sup_s2r, con_s2r, con_r2s), then the cross-decoder ones at DBISL_ACC_X + ...
 * (con_seg, con_reg, mask count, masked CE of decoder 0, of decoder 1). */
enum { DBISL_ACC_DEC = 10, DBISL_ACC_X = 2 * DBISL_ACC_DEC, DBISL_NACC = DBISL_ACC_X + 5 };

/* con_side bits: the segmentation side of a consistency term (T_s2r(Y) of con_s2r, Y of con_r2s) and the
 * distance side (R^ of con_s2r, T_r2s(R^) of con_r2s) */
enum { DBISL_SIDE_SEG = 1, DBISL_SIDE_SDF = 2, DBISL_SIDE_BOTH = 3 };

typedef struct {
    int ndec;
    int seg[2], sdf[2];
    int s2r[2], r2s[2];              /* the [dtransform] / [r2s] layers the loss reads (-1: none named) */
    float w[DBISL_NTERMS];
    float lambda, beta;
    int rampup, ramp_shape;
    int con_rampup, con_ramp_shape;  /* gamma(t) of the con_* terms, shaped as beta(t) */
    int con_side[2];                 /* con_s2r, con_r2s: which heads take the gradient (DBISL_SIDE_* bits) */
    float k_seg, dice_w, ce_w;        /* k_seg: T_r2s's k inside sup_r2s (the CE needs the logit k_seg*R^) */
    int pse_labeled, pseudo_hard, pse_mask; /* pse_mask 1: all four heads agree, 2: the two seg heads, 0: every voxel */
    dtransform_params lp;            /* transform of the labels: the s2r sections' settings, exact = label_exact */
    size_t V;                        /* voxels per sample */
    int D, H, W;
    int batch;
    /* host buffers (CPU path), batch*V floats each; dS and gP: the gradients w.r.t. the [dtransform] and
     * [r2s] outputs */
    float *Y[2], *Rh[2], *dS[2], *gP[2], *gY[2], *gz[2], *gR[2];
    float *lab, *ybar, *msk, *tmp;
    dtransform_state *tl;            /* NULL without s2r sections */
    float term[DBISL_NTERMS];
    float pse_cover;                 /* share of the pseudo-supervised samples' voxels in the confidence mask, -1: pse off */
    /* device copies (GPU path, allocated only when gpu_index >= 0 at parse; dev says so):
     * batch*V floats each for decoders w < ndec; R_gpu the labels' distance map; acc_gpu DBISL_NACC
     * doubles; res_gpu DBISL_NTERMS + 2 floats (term values, the cost, the confidence mask's voxel count) */
    int dev;
    float *Y_gpu[2], *Rh_gpu[2], *gP_gpu[2], *dS_gpu[2], *gY_gpu[2], *gz_gpu[2], *gR_gpu[2];
    float *lab_gpu, *R_gpu, *res_gpu;
    double *acc_gpu;
    double *part_gpu;                /* deterministic sums: DBISL_NACC x DBISL_MAX_SUM_BLOCKS block sums */
    dtransform_state *tl_gpu;
} dbisl_state;

/* Host copies of what the loss reads, per decoder: the heads' outputs (logits z, pre-activations s) and the
 * outputs of the [dtransform] (S = T_s2r(sigmoid(z))) and [r2s] (P = T_r2s(tanh(s))) sections, NULL without them. */
typedef struct { float *seg[2], *sdf[2], *S[2], *P[2]; } dbisl_inputs;

/* CPU computation of every term and gradient from host copies of the inputs (dbisl_layer.c). */
void dbisl_compute(layer l, network net, const dbisl_inputs *in);
#ifdef GPU
/* Device buffers and device transform states of s (dbisl_kernels.cu): 0, or -1 (partial allocations
 * stay recorded in s, so dbisl_free_gpu releases them). */
int dbisl_alloc_gpu(dbisl_state *s);
void dbisl_free_gpu(dbisl_state *s);
#endif
#endif
