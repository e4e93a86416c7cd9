#!/bin/sh
# [dtransform] forward+backward time and peak memory against the PyTorch autograd reference (scripts/dtransform_reference.py), same input, same machine, same thread count.
# Usage: sh bench/bench_dtransform.sh [BUILD dir, default build/cpu] [threads, default 2]
set -e
cd "$(dirname "$0")/.."
B=${1:-build/cpu}
T=${2:-2}
mkdir -p tests/out
CF="-O3 -fopenmp -Idarknet-src/include -Idarknet-src/src -Isrc -Ilayers -Icore"
LIBS="-lopenblas -lnifti2 -lznz -lhdf5_serial -lpng -lz -lm -pthread"
[ -f "$B/libdarknet3d.a" ] || { echo "build $B first (make BUILDDIR=$B $B/libdarknet3d.a)"; exit 1; }
. bench/lib_flags.sh
lib_flags "$B/libdarknet3d.a"
gcc $CF $LIB_CFLAGS bench/bench_dtransform.c -o $B/bench_dtransform $B/libdarknet3d.a $LIBS $LIB_LIBS
/usr/bin/python3 -c "
import sys; sys.path.insert(0, 'scripts')
import torch, dtransform_reference as r
g = torch.Generator().manual_seed(1)
r.blob_prob(g, (4, 1, 80, 112, 112), nblobs=3).numpy().tofile('tests/out/bench_dtransform_prob.bin')"
echo "machine: $(nproc) cores, $T threads each, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for sc in 0.5 1.0; do
  reps=3; [ "$sc" = "1.0" ] && reps=1
  OMP_NUM_THREADS=$T $B/bench_dtransform tests/out/bench_dtransform_prob.bin 4 80 112 112 $sc $reps ste | tee tests/out/bench_c_$sc.txt
  OMP_NUM_THREADS=$T /usr/bin/python3 -c "
import sys; sys.path.insert(0, 'scripts')
import numpy as np, torch, time, resource, dtransform_reference as r
torch.set_num_threads($T)
P0 = torch.from_numpy(np.fromfile('tests/out/bench_dtransform_prob.bin', dtype=np.float32).reshape(4, 1, 80, 112, 112))
best = 1e30
for _ in range($reps):
    P = P0.clone().requires_grad_(True)
    t = time.perf_counter(); R, it = r.s2r(P, scale=$sc); R.sum().backward(); best = min(best, time.perf_counter() - t)
print(f'torch s2r 4x1x80x112x112 scale=$sc ste: fwd+bwd {best:.3f} s (min of $reps), iters {it}, peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024:.0f} MiB')
" | tee tests/out/bench_t_$sc.txt
  python3 -c "
import re
c = open('tests/out/bench_c_$sc.txt').read(); t = open('tests/out/bench_t_$sc.txt').read()
tc = float(re.search(r'fwd\+bwd ([0-9.]+)', c).group(1)); tt = float(re.search(r'fwd\+bwd ([0-9.]+)', t).group(1))
mc = float(re.search(r'peak RSS ([0-9.]+)', c).group(1)); mt = float(re.search(r'peak RSS ([0-9.]+)', t).group(1))
print(f'scale $sc: time ratio torch/ours {tt/tc:.1f}x, peak RSS ratio torch/ours {mt/mc:.1f}x')"
done
