#!/bin/sh
# Forward+backward of LA-mini's thin full-resolution [conv3d] layers, the direct AVX-512 loops against the general path (oneDNN or vol2col + GEMM), interleaved in one process; last line conv3d_direct_ratio=<direct/general>.
# Usage: sh bench/bench_conv3d_direct.sh [build dir, default build/cpu] [timed repetitions, default 5] [batch, default 4]
# BENCH_CONV3D=bench_conv3d_wgrad builds and runs that bench instead (bench/bench_conv3d_wgrad.sh).
set -e
cd "$(dirname "$0")/.."
B=${1:-build/cpu}
N=${BENCH_CONV3D:-bench_conv3d_direct}
mkdir -p tests/out
. bench/lib_flags.sh
lib_flags "$B/libdarknet3d.a"
${CC:-cc} -O3 -fopenmp -Idarknet-src/include -Idarknet-src/src -Isrc -Ilayers -Icore $LIB_CFLAGS bench/$N.c -o tests/out/$N "$B/libdarknet3d.a" \
  -lopenblas -lnifti2 -lznz -lhdf5_serial -lcairo -lz -lm -pthread -fopenmp $LIB_LIBS
echo "$N: best of ${2:-5}, batch ${3:-4}, OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
tests/out/$N "${2:-5}" "${3:-4}" 2>/dev/null
