#!/bin/sh
# Backward of stride-1 3x3x3 [conv3d] layers, the AVX2 weight-gradient kernel against the general path (oneDNN or vol2col + GEMM), interleaved in one process; last line conv3d_wgrad_ratio=<kernel/general>.
# Usage: sh bench/bench_conv3d_wgrad.sh [build dir, default build/cpu] [timed repetitions, default 5] [batch, default 4]
set -e
cd "$(dirname "$0")/.."
B=${1:-build/cpu}
mkdir -p tests/out
${CC:-cc} -O3 -fopenmp -Idarknet-src/include -Idarknet-src/src -Isrc -Ilayers -Icore bench/bench_conv3d_wgrad.c -o tests/out/bench_conv3d_wgrad "$B/libdarknet3d.a" \
  -lopenblas -lnifti2 -lznz -lhdf5_serial -lcairo -lz -lm -pthread -fopenmp \
  $(nm "$B/libdarknet3d.a" 2>/dev/null | grep -q ' U dnnl_' && echo -ldnnl) \
  $(ar t "$B/libdarknet3d.a" | grep -q '\.cu\.o$' && echo "-L/usr/local/cuda/lib64 -L/usr/local/cuda/lib64/stubs -lcudart -lcublas -lcurand -lcuda -lcudnn -lstdc++")
echo "bench_conv3d_wgrad: best of ${2:-5}, batch ${3:-4}, OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
tests/out/bench_conv3d_wgrad "${2:-5}" "${3:-4}" 2>/dev/null
