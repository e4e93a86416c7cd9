/* [dbisl]: the DBiSL composite loss (paper §3.3-3.5, docs/design.md §4) as a multi-input Darknet loss layer over the heads of one or two decoders. */
#ifndef DBISL_LAYER_H
#define DBISL_LAYER_H
#include "darknet.h"

/* Inputs (by layer index, like [route]):
 *   seg = a[, c]   segmentation heads of decoder Phi[, Psi]: 1 channel of LOGITS z (linear activation);
 *                  the layer applies Y = sigmoid(z) itself (so every cross-entropy is computed stably from z).
 *   sdf = b[, d]   distance heads: 1 channel of pre-activations s; the layer applies R^ = tanh(s) itself.
 *   s2r = e[, f]   per decoder, a [dtransform] section with input=logits that reads seg head a (c): directly after
 *                  it, or after a [route] of it. Its output is T_s2r(Y_w); the distance labels use its settings
 *                  (both sections must have the same), with exact = label_exact. Needed when w_sup_reg, w_sup_s2r
 *                  or w_con_s2r is not 0.
 *   r2s = g[, h]   per decoder, an [r2s] section with input=preact that reads sdf head b (d) the same way. Its
 *                  output is T_r2s(R^_w) = sigmoid(k tanh(s)) with the section's k. Needed when w_con_r2s is not 0.
 * The loss reads the outputs of the s2r/r2s sections and ADDS its gradient w.r.t. them into their delta, so their
 * backward carries it to the heads; the [dtransform] sections it reads run in training only.
 * One decoder (supervised V-Net with a distance head) or two (DBiSL). All inputs have the shape of the
 * network input (1 x D x H x W per sample).
 *
 * Truth (net.truth, l.truths = D*H*W + 1 per sample): the label volume (0/1 floats, NCDHW order)
 * followed by one flag, 1 = labeled sample, 0 = unlabeled (its label values are ignored).
 *
 * Terms (each with a weight key; 0 switches it off) — L = labeled samples, A = all samples:
 *   sup_seg  L  Lseg(Y_w, Y)                      Lseg = dice_weight*Dice + ce_weight*CE
 *   sup_reg  L  MSE(R^_w, R)                      R = T_s2r(Y) generated online per patch (no gradient)
 *   sup_s2r  L  MSE(T_s2r(Y_w), R)
 *   sup_r2s  L  Lseg(T_r2s(R^_w), Y)             T_r2s(R) = sigmoid(k_seg * R), CE from the logit k_seg*R
 *                                                 (k_seg a [dbisl] key, default the [r2s] sections' k, else -1500)
 *   con_seg  A  MSE(Y_Phi, Y_Psi)                 (two decoders only)
 *   con_reg  A  MSE(R^_Phi, R^_Psi)               (two decoders only)
 *   con_s2r  A  MSE(T_s2r(Y_w), R^_w)
 *   con_r2s  A  MSE(T_r2s(R^_w), Y_w)             T_r2s: the [r2s] section's output
 *   pse      A (or unlabeled only)  CE(Y_w, Ybar) averaged over the confidence mask M
 *            Ybar = (Y_Phi + Y_Psi)/2 (no gradient), M = [Y_Phi>.5]==[Y_Psi>.5]==[R^_Phi<0]==[R^_Psi<0]
 *            (pse_mask=2: M = [Y_Phi>.5]==[Y_Psi>.5], the mask without distance heads, for w/o reg_task;
 *            pse_mask=0: M = every voxel; pseudo_hard=1: Ybar thresholded at .5)
 *   L_all = lambda * (sup + gamma(t) * con) + beta(t) * pse,  beta(t) = beta * exp(-5 (1 - t/rampup)^2) for
 *   t < rampup (ramp=sigmoid; linear: beta * t/rampup; none: beta), gamma(t) the same shape with con_rampup and
 *   con_ramp and 1 at the end (con_rampup=0, the default: gamma = 1).
 *   con_s2r_grad, con_r2s_grad = both | seg | sdf: which side of that consistency term takes its gradient (seg:
 *   T_s2r(Y_w) of con_s2r, Y_w of con_r2s; sdf: R^_w of con_s2r, T_r2s(R^_w) of con_r2s); the other side is
 *   its stop-gradient target. Default both, as the paper and DTC.
 * Sums over w in {Phi, Psi}; MSE/CE are means over the voxels of the samples they apply to, Dice is
 * batch-wise over those samples (1 - (2 sum PG + eps)/(sum P^2 + sum G^2 + eps), eps = 1e-5).
 *
 * Contract: forward (net.train only) computes every term, l.cost[0] = L_all, l.output[0..DBISL_NTERMS-1]
 * = the unweighted term values (see dbisl_term_names) and the gradients; backward ADDS
 * -batch * dL_all/d(input) into the delta of each layer it reads (Darknet's sign and scale convention).
 * With net.train == 0 forward does nothing (inference reads the heads). */

enum { DBISL_SUP_SEG, DBISL_SUP_REG, DBISL_SUP_S2R, DBISL_SUP_R2S, DBISL_CON_SEG, DBISL_CON_REG,
       DBISL_CON_S2R, DBISL_CON_R2S, DBISL_PSE, DBISL_NTERMS };
extern const char *dbisl_term_names[DBISL_NTERMS];

int parse_dbisl_section(list *options, size_params params, layer *l, char *err, size_t errlen);
void forward_dbisl_layer(const layer l, network net);
/* registry free hook: the transform workspaces and the state block */
void free_dbisl_layer(layer l);
void backward_dbisl_layer(const layer l, network net);
#ifdef GPU
void forward_dbisl_layer_gpu(const layer l, network net);
void backward_dbisl_layer_gpu(const layer l, network net);
#endif

/* The share of the pseudo-supervised samples' voxels inside the confidence mask M at the last training forward
 * (0..1), or -1 when the pse term was off (one decoder, w_pse = 0, or no forward yet). A mask near 0 leaves pse to
 * a handful of voxels, each with a gradient of order 1/|M|; near 1 with pse_mask=1 the four heads agree. */
float dbisl_pse_cover(layer l);
/* The current pseudo-supervision weight beta(t) of a [dbisl] layer at iteration t. */
float dbisl_beta(layer l, int t);
/* The factor of every term at iteration t: lambda (sup_*), lambda * gamma(t) (con_*), beta(t) (pse);
 * a term's loss weight is its factor times its w_* key. */
void dbisl_factors(layer l, int t, float f[DBISL_NTERMS]);
/* Number of decoders (1 or 2) and the seg/sdf input layer indices of decoder i. */
int dbisl_decoders(layer l);
int dbisl_seg_input(layer l, int i);
int dbisl_sdf_input(layer l, int i);
/* The [dtransform] / [r2s] layer decoder i's loss reads (s2r, r2s), -1 when none is named. */
int dbisl_s2r_input(layer l, int i);
int dbisl_r2s_input(layer l, int i);
#endif
