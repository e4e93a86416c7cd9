/* Prologue for darknet3d .cu files: CUDA/cuDNN headers with C++ linkage first, then Darknet's C headers. */
#ifndef CUDA3D_H
#define CUDA3D_H
#include "cuda_runtime.h"
#include "curand.h"
#include "cublas_v2.h"
#ifdef CUDNN
#include "cudnn.h"
#endif
extern "C" {
#include "darknet.h"
#include "cuda.h"
#include "blas.h"
}
#endif
