/* Installs darknet3d's CPU fast paths on the stock Darknet layers of a parsed network ([dropout], [route], [shortcut]). */
#ifndef FAST_PATHS_H
#define FAST_PATHS_H
#include "darknet.h"

/* On every [dropout] layer: forward/backward from layers/dropout_seeded.h (counter-based masks seeded from rand()
 * instead of one rand() per element). On every [shortcut] with equal shapes (layers/shortcut_fast.h): the fused
 * pass, whose results are identical to Darknet's. On every [route] (layers/route_fast.h): threaded copies and adds,
 * identical to Darknet's. Only the CPU function pointers change (forward_gpu/backward_gpu
 * stay). Call once after parsing, before training; returns the number of layers changed. */
int darknet3d_install_fast_paths(network *net);
#endif
