/* Public entry points of darknet3d: plugin registration, GPU detection, the seg3d command and the type ids of our layers. */
#ifndef DARKNET3D_H
#define DARKNET3D_H
#include "darknet.h"

/* Registers every darknet3d layer type with Darknet's cfg parser. Call once before parsing a cfg. */
void darknet3d_init(void);

/* 1 when this is a GPU build and a CUDA device answers; otherwise sets gpu_index = -1 and,
 * for a GPU build with notice != 0, prints one notice line. */
int darknet3d_gpu_available(int notice);

/* ./darknet seg3d <command> ... ; returns the process exit code */
int seg3d_main(int argc, char **argv);

/* LAYER_TYPE values given by the registry (valid after darknet3d_init) */
extern LAYER_TYPE CONV3D, DECONV3D, UPSAMPLE3D, MAXPOOL3D, R2S, DTRANSFORM, DUALSPLIT, DBISL;

/* 1: GPU runs choose deterministic cuDNN algorithms (seg3d train -deterministic or [net] deterministic=1). 0 by default. */
extern int darknet3d_deterministic;

/* Numerics of the GPU's convolutions: DARKNET3D_FP32 (exact FP32 FMA, results match the CPU) or DARKNET3D_TF32
 * (tensor cores with 10-bit mantissa inputs, PyTorch's default for cuDNN convolutions). The library's default is
 * FP32; the seg3d commands set it from [net] precision or -precision (GPU default tf32). The CPU always computes FP32. */
enum { DARKNET3D_FP32 = 0, DARKNET3D_TF32 = 1 };
extern int darknet3d_precision;
/* Reads [net] precision of cfg, overridden by flag when not NULL (the -precision value), sets darknet3d_precision,
 * and writes its name into name ("fp32 (CPU)" on the CPU). 0, or -1 with err naming the file, line and key. */
int darknet3d_set_precision(const char *cfg, const char *flag, char *name, size_t namelen, char *err, size_t errlen);

/* Trainable parameters of one layer / a whole network (BN scales and biases counted, rolling statistics not) */
size_t layer_param_count(layer l);
size_t network_param_count(network *net);

/* Loads a cfg without exiting: returns NULL and prints the error (file:line: [section] key: ...) */
network *load_network_checked(char *cfg, char *weights, int clear);

#endif
