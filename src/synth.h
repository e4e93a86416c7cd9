/* Synthetic phantom data sets (`./darknet seg3d synth`): blob-shaped targets among look-alike distractors, bias field and noise, in the LA layout. */
#ifndef SYNTH_H
#define SYNTH_H
#include <stddef.h>
#include <stdint.h>
#include "volume_io.h"

/* One phantom case. Image: a smooth lumpy target (union of 3 overlapping ellipsoids near the centre)
 * and 2..4 distractors (small spheres and one tube along k, away from the target) of the same mean
 * intensity, soft edges, a textured background, a multiplicative smooth bias field and Gaussian
 * noise, then z-scored (as LA's images are). Label: 1 on the target only. So a threshold cannot
 * segment it: shape and position decide. nx = w, ny = h, nz = d. Deterministic in seed.
 * img/lab must be zeroed volume_alloc'ed volumes of the same size. */
void synth_case(volume *img, volume *lab, uint64_t seed);

/* Writes n cases <outdir>/case_NNN/{image,label}.nii.gz, labeled.list / unlabeled.list / valid.list
 * (20% labeled, 20% valid, at least one each, the rest unlabeled) and <outdir>/synth.data.
 * Creates outdir. 0 or -1 with err. */
int synth_write_dataset(const char *outdir, int n, int d, int h, int w, uint64_t seed, char *err, size_t errlen);
/* The same phantoms in the nnU-Net raw layout (dataset.json, imagesTr/<id>_0000.nii.gz, labelsTr, and n/5 (at least 1)
 * cases in imagesTs with labels in labelsTs) under <outdir>/Dataset900_Synth, and <outdir>/msd.data of two lines:
 * msd = Dataset900_Synth, test = imagesTs. Needs n >= 2. Returns 0 or -1 with err. */
int synth_write_msd(const char *outdir, int n, int d, int h, int w, uint64_t seed, char *err, size_t errlen);

/* ./darknet seg3d synth <outdir> <n> [-size D H W] [-seed S]; returns the exit code */
int synth_main(int argc, char **argv);

#endif
