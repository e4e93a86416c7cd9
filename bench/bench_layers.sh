#!/bin/sh
# Forward+backward time of conv3d/deconv3d (and maxpool3d/upsample3d) at the V-Net's shapes, batch 2, ours vs PyTorch in the same run: per-layer ratio and GFLOP/s.
# Usage: sh bench/bench_layers.sh [build dir, default build/cpu] [timed repetitions after one warm-up, default 1: keeps the run under 2 minutes on 2 cores] [cpu|gpu]
#   gpu: a GPU build's layers on the device against PyTorch on cuda (TORCH_PYTHON: a CUDA-enabled python, default python3)
set -e
cd "$(dirname "$0")/.."
B=${1:-build/cpu}
REPS=${2:-1}
DEV=${3:-cpu}
THREADS=$(nproc)
mkdir -p tests/out
${CC:-cc} -O3 -fopenmp -Idarknet-src/include -Idarknet-src/src -Isrc -Ilayers -Icore bench/bench_layers.c -o tests/out/bench_layers "$B/libdarknet3d.a" \
  -lopenblas -lnifti2 -lznz -lhdf5_serial -lpng -lz -lm -pthread -fopenmp \
  $(nm "$B/libdarknet3d.a" 2>/dev/null | grep -q ' U dnnl_' && echo -ldnnl) \
  $(ar t "$B/libdarknet3d.a" | grep -q '\.cu\.o$' && echo "-L/usr/local/cuda/lib64 -L/usr/local/cuda/lib64/stubs -lcudart -lcublas -lcurand -lcuda -lcudnn -lstdc++")
if [ "$DEV" = gpu ]; then
  echo "bench_layers: forward+backward, batch 2, best of $REPS, GPU $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  tests/out/bench_layers "$REPS" -gpu 2>/dev/null > tests/out/bench_layers_ours.txt
  ${TORCH_PYTHON:-python3} bench/bench_layers_torch.py "$REPS" "$THREADS" cuda > tests/out/bench_layers_torch.txt
else
  echo "bench_layers: forward+backward, batch 2, best of $REPS, $THREADS CPU threads (CPU path; load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  tests/out/bench_layers "$REPS" 2>/dev/null > tests/out/bench_layers_ours.txt
  /usr/bin/python3 bench/bench_layers_torch.py "$REPS" "$THREADS" > tests/out/bench_layers_torch.txt
fi
awk 'NR == FNR { t[$1] = $2; next }
     FNR == 1 { printf "%-32s %10s %10s %8s %10s\n", "layer", "ours ms", "torch ms", "torch/us", "ours GF/s" }
     { g = ($3 > 0) ? sprintf("%10.1f", $3 / ($2 / 1e3)) : sprintf("%10s", "-");
       printf "%-32s %10.1f %10.1f %8.2f %s\n", $1, $2, t[$1], t[$1] / $2, g;
       so += $2; st += t[$1] }
     END { printf "%-32s %10.1f %10.1f %8.2f\n", "total", so, st, st / so }' \
  tests/out/bench_layers_torch.txt tests/out/bench_layers_ours.txt
