/* Public entry points of darknet3d: plugin registration, GPU detection, the seg3d command and the type ids of our layers. */
#ifndef DARKNET3D_H
#define DARKNET3D_H
#include "darknet.h"
#include "layers3d.h"   /* the LAYER_TYPE ids of our layers, darknet3d_deterministic */

/* Registers every darknet3d layer type with Darknet's cfg parser. Call once before parsing a cfg. */
void darknet3d_init(void);

/* 1 when this is a GPU build and a CUDA device answers; otherwise sets gpu_index = -1 and,
 * for a GPU build with notice != 0, prints one notice line. */
int darknet3d_gpu_available(int notice);

/* ./darknet seg3d <command> ... ; returns the process exit code */
int seg3d_main(int argc, char **argv);

/* Reads [net] precision of cfg, overridden by flag when not NULL (the -precision value), sets darknet3d_precision
 * (layers/layers3d.h) and writes its name into name ("fp32 (CPU)" on the CPU). 0, or -1 with err naming the
 * file, line and key. */
int darknet3d_set_precision(const char *cfg, const char *flag, char *name, size_t namelen, char *err, size_t errlen);

/* Trainable parameters of one layer / a whole network (BN scales and biases counted, rolling statistics not) */
size_t layer_param_count(layer l);
size_t network_param_count(network *net);
void layer_buffer_bytes(network *net, int i, size_t b[5]);
void network_buffer_bytes(network *net, size_t b[5]);

/* The index of the first float that is not finite from f's position to its end, -1 when every one is finite */
long floats_first_nonfinite(FILE *f);

/* Loads a cfg without exiting: returns NULL and prints the error (file:line: [section] key: ...). Weights with a
 * value that is not finite (a diverged run's file) are refused, naming the file and the value's position. */
network *load_network_checked(char *cfg, char *weights, int clear);

/* The same network shaped for forward passes only (predict, test): no delta on any layer, no weight/bias/scale
 * updates and no backward-only buffers, on the CPU and the GPU; net->inference = 1, so backward_network and
 * update_network print an error and do nothing. batch > 0: that many samples (sliding windows) per forward
 * pass, in place of [net] batch/subdivisions. Weights and predictions are those of load_network_checked. Layers
 * that only the [dbisl] loss reads (s2r transforms, sdf heads, [r2s]) are not run: their outputs stay zero. */
network *load_network_infer(char *cfg, char *weights, int batch);

#endif
