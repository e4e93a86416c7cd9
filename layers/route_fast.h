/* CPU forward and backward of stock [route] as threaded copies and adds (Darknet's are one-thread loops, 5-15 ms per full-resolution route at batch 4). */
#ifndef ROUTE_FAST_H
#define ROUTE_FAST_H
#include "darknet.h"

/* The output is the inputs' outputs one after another per sample, as stock forward_route_layer; the copies are
 * split over OpenMP threads. */
void forward_route_fast(layer l, network net);
/* Each input's delta += its part of l.delta: stock backward_route_layer's axpy with alpha 1 (1 * x is exact, so
 * the sums are the same bits), threaded. */
void backward_route_fast(layer l, network net);
#endif
