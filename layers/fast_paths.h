/* Installs darknet3d's CPU fast paths on the stock Darknet layers of a parsed network ([dropout], [route], [shortcut]). */
#ifndef FAST_PATHS_H
#define FAST_PATHS_H
#include "darknet.h"

/* On every [dropout] layer: forward/backward from layers/dropout_seeded.h (counter-based masks seeded from rand()
 * instead of one rand() per element). On every [shortcut] with equal shapes (layers/shortcut_fast.h): the fused
 * pass, whose results are identical to Darknet's. A [route] of one layer shares that layer's buffers on the CPU and
 * the GPU (route_share_input: no copy, no add, the same bits); every other [route] (layers/route_fast.h): threaded
 * copies and adds, identical to Darknet's. Apart from the shared [route]s, only the CPU function pointers change
 * (forward_gpu/backward_gpu stay). Call once after parsing, before training; returns the number of layers changed. */
int darknet3d_install_fast_paths(network *net);
#endif
