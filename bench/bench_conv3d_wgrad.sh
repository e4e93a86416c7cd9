#!/bin/sh
# Backward of stride-1 3x3x3 [conv3d] layers, the AVX2 weight-gradient kernels against the general path (oneDNN or vol2col + GEMM), interleaved in one process; last line conv3d_wgrad_ratio=<kernels/general>.
# Usage: sh bench/bench_conv3d_wgrad.sh [build dir, default build/cpu] [timed repetitions, default 5] [batch, default 4]
BENCH_CONV3D=bench_conv3d_wgrad exec sh "$(dirname "$0")/bench_conv3d_direct.sh" "$@"
