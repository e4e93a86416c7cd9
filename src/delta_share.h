/* Shares the gradient (delta) memory of a training network between layers whose deltas are never needed at the same time in the backward pass. */
#ifndef DELTA_SHARE_H
#define DELTA_SHARE_H
#include <stddef.h>
#include "darknet.h"

/* Darknet keeps one delta per layer for the whole backward pass. Layer i's delta is needed only from the first
 * backward step that writes into it (the backward of the highest-index layer that reads layer i: the next layer,
 * a [route]/[dualsplit]/[shortcut] that names it, or, for the heads of [dbisl], the whole pass) down to layer i's
 * own backward. The deltas are placed in one arena (net->delta_arena; on a GPU its device twin, made by
 * src/buffer_mirror.h), largest first, each where it overlaps no delta needed at the same time; the layer that last uses memory that
 * another delta takes over later gets delta_release, so backward_network zeroes its delta after that layer's
 * backward (patches/darknet3d.patch), and every delta starts from zeros as before. free_network frees the arena.
 * Sums are added in the same order as with separate buffers, so training gives the same bits.
 * A network with a layer type outside the known list (whose writes into deltas are not known here) or with
 * stopbackward keeps its deltas. Returns 0 with *before / *after the delta bytes and *bound the bytes of the deltas
 * alive at the busiest backward step (what no placement can go below), 1 when the network was left as it is, -1 when
 * a buffer could not be allocated (err says which; the network is left as it was). */
int network_share_deltas(network *net, size_t *before, size_t *after, size_t *bound, char *err, size_t errlen);
#endif
