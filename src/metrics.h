/* Segmentation metrics as medpy.metric.binary computes them (dc, jc, hd95, asd), in voxels and in mm, for the test command and the trainer's validation. */
#ifndef METRICS_H
#define METRICS_H
#include <stddef.h>

/* Definitions (medpy 0.4, medpy.metric.binary):
 *   masks     A = pred != 0, B = ref != 0 (label volumes; probabilities are thresholded by the caller,
 *             predict uses prob > 0.5 like DTC/UA-MT's test_single_case)
 *   dice      2|A&B| / (|A|+|B|)          jaccard  |A&B| / |A|B|
 *   surface   S(X) = X XOR binary_erosion(X, 6-connected cross, border_value=0): voxels on the array
 *             edge count as surface
 *   d(S1,S2)  for each voxel of S1 the exact Euclidean distance (spacing-weighted) to the nearest voxel of S2
 *   hd95      95th percentile, linear interpolation (numpy's default), of d(S(A),S(B)) and d(S(B),S(A))
 *             concatenated (medpy's hd95)
 *   asd       mean of d(S(A),S(B)) (medpy's asd: directed, prediction -> reference; NOT the symmetric assd)
 *   *_mm use the voxel spacing, hd95/asd use spacing 1 (voxel units).
 * Empty masks (medpy raises for hd95/asd; its dc gives 0 when both are empty). Our convention:
 *   both empty:  dice = jaccard = 1, hd95 = asd = 0 (nothing to find, nothing found)
 *   one empty:   dice = jaccard = 0, hd95 = asd = NaN (undefined; printed "nan", skipped by means
 *                that say how many cases they average)
 * Computation is restricted to the bounding box of A|B grown by one voxel (clipped to the array),
 * which gives identical surfaces and distances. */
typedef struct {
    double dice, jaccard, hd95, asd, hd95_mm, asd_mm;
    long npred, nref, ninter;   /* |A|, |B|, |A&B| */
} seg_metrics;

/* Overlap only (cheap; the trainer's validation Dice): fills dice, jaccard, npred, nref, ninter;
   distance fields set to NaN. */
void seg_overlap(const unsigned char *pred, const unsigned char *ref, size_t n, seg_metrics *m);

/* Everything. Layout idx = w + W*(h + H*d), spacing along (d, h, w) in mm.
   Returns 0, or -1 on bad arguments or out of memory (m then holds NaNs). */
int seg_metrics_compute(const unsigned char *pred, const unsigned char *ref, int D, int H, int W,
                        const float spacing[3], seg_metrics *m);

/* Dice of a thresholded probability map (p > thresh) against a label (truth != 0); empty/empty = 1. */
double dice_prob(const float *prob, const float *truth, size_t n, float thresh);

/* Surface of a mask (S(X) above): out[i] = 1 on surface voxels. */
void mask_surface(const unsigned char *mask, int D, int H, int W, unsigned char *out);

/* numpy.percentile(x, q) with linear interpolation; reorders x. NaN for n == 0. */
double percentile_linear(float *x, size_t n, double q);

#endif
