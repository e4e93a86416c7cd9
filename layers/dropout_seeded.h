/* Reproducible GPU forward for Darknet's stock [dropout]: the mask's generator is re-seeded from rand() on every call (seg3d train -deterministic). */
#ifndef DROPOUT_SEEDED_H
#define DROPOUT_SEEDED_H
#include "darknet.h"

#ifdef GPU
/* Stock [dropout]'s forward_gpu draws its mask from a cuRAND generator seeded with the time. This one draws a
 * 64-bit seed from rand() (the stream that checkpoints save) and fills l.rand_gpu from a Philox generator with
 * that seed, so the masks repeat from run to run and after a resume. Darknet's backward_gpu is used unchanged
 * (it reads the same l.rand_gpu). */
void forward_dropout_seeded_gpu(layer l, network net);
#endif
#endif
