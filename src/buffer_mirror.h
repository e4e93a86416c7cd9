/* The device twins of a GPU network's layer outputs and deltas, made once after the buffer sharings have planned on the host buffers alone, so that the device never holds the per-layer buffers the sharings replace. */
#ifndef BUFFER_MIRROR_H
#define BUFFER_MIRROR_H
#include <stddef.h>
#include "darknet.h"

#ifdef GPU
/* Where the twins come from: alloc makes n zeroed floats at *p (0, or -1 with err set); release frees what alloc
 * made (and what Darknet's parser made for the stock layers). NULL in load_network_checked: the device's. */
typedef struct {
    int (*alloc)(float **p, size_t n, void *ctx, char *err, size_t errlen);
    void (*release)(float *p, void *ctx);
    void *ctx;
} mirror_ops;

/* Frees the device output and delta of every layer whose host twin is batch * outputs floats (the layer types the
 * sharings know, [dbisl]'s few values excepted), each buffer once however many layers hold it, and leaves those
 * pointers null: Darknet's parser makes them for the stock layers, ours defer theirs (layer3d_defer_device). */
void network_drop_device_buffers(network *net, const mirror_ops *ops);

/* Gives every host output and delta that has no device twin one. A buffer inside net->output_arena or
 * net->delta_arena gets the same offset inside the arena's twin (made here when the arena has none); every other
 * host buffer gets one device buffer, held by every layer that holds the host buffer, of the largest batch * outputs
 * among them. net->output_gpu follows net->output. 0, or -1 with err (what was made stays with the network, which
 * free_network frees). */
int network_mirror_buffers(network *net, const mirror_ops *ops, char *err, size_t errlen);

/* The twins load_network_checked and load_network_infer (src/darknet3d.h) make: NULL, the device's when a GPU is in
 * use. A test sets host ones to run the deferred planning and the mirror on a machine without a GPU. */
extern const mirror_ops *darknet3d_mirror_ops;
#endif
#endif
