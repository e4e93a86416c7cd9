#!/bin/sh
# Forward+backward of LA-mini's thin full-resolution [conv3d] layers, the direct AVX-512 loops against the general path (oneDNN or vol2col + GEMM), interleaved in one process; last line conv3d_direct_ratio=<direct/general>.
# Usage: sh bench/bench_conv3d_direct.sh [build dir, default build/cpu] [timed repetitions, default 5] [batch, default 4]
# BENCH_CONV3D=bench_conv3d_wgrad builds and runs that bench instead (bench/bench_conv3d_wgrad.sh).
set -e
cd "$(dirname "$0")/.."
B=${1:-build/cpu}
N=${BENCH_CONV3D:-bench_conv3d_direct}
mkdir -p tests/out
# A GPU library's layer struct has the GPU (and cuDNN) fields: the bench must be compiled with the library's settings,
# or it reads the layer at the wrong offsets.
GF=""
GL=""
if ar t "$B/libdarknet3d.a" | grep -q '\.cu\.o$'; then
    GF="-DGPU -I/usr/local/cuda/include"
    GL="-L/usr/local/cuda/lib64 -L/usr/local/cuda/lib64/stubs -lcudart -lcublas -lcurand -lcuda -lstdc++"
    if nm "$B/libdarknet3d.a" 2>/dev/null | grep -q ' U cudnn'; then GF="$GF -DCUDNN"; GL="$GL -lcudnn"; fi
fi
${CC:-cc} -O3 -fopenmp -Idarknet-src/include -Idarknet-src/src -Isrc -Ilayers -Icore $GF bench/$N.c -o tests/out/$N "$B/libdarknet3d.a" \
  -lopenblas -lnifti2 -lznz -lhdf5_serial -lcairo -lz -lm -pthread -fopenmp \
  $(nm "$B/libdarknet3d.a" 2>/dev/null | grep -q ' U dnnl_' && echo -ldnnl) $GL
echo "$N: best of ${2:-5}, batch ${3:-4}, OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
tests/out/$N "${2:-5}" "${3:-4}" 2>/dev/null
