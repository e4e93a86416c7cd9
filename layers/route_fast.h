/* CPU forward and backward of stock [route] as threaded copies and adds (Darknet's are one-thread loops, 5-15 ms per full-resolution route at batch 4), and a single-input [route] sharing its input's buffers. */
#ifndef ROUTE_FAST_H
#define ROUTE_FAST_H
#include "darknet.h"

/* The output is the inputs' outputs one after another per sample, as stock forward_route_layer; the copies are
 * split over OpenMP threads. */
void forward_route_fast(layer l, network net);
/* Each input's delta += its part of l.delta: stock backward_route_layer's axpy with alpha 1 (1 * x is exact, so
 * the sums are the same bits), threaded. */
void backward_route_fast(layer l, network net);
/* A [route] of one layer shares that layer's output and delta (CPU and GPU) instead of copying them, and its forward
 * and backward do nothing: the layers after it read the same values, and their gradients add into the input's delta
 * directly. The bits equal the copying route's when the route's delta gets one contribution and no layer after the
 * route adds into the input's delta itself (every shipped cfg); otherwise only the order of the sum differs. Not done when the next
 * layer is [dropout], which scales its input in place. Returns 1 when the buffers are shared. free_network frees a
 * buffer that several layers hold once (patches/darknet3d.patch). */
int route_share_input(network *net, int i);
#endif
