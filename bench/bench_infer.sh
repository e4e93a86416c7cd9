#!/bin/sh
# Times edt3d (576x576x88) and the metrics (an LA label vs a shifted copy) against scipy/medpy-definition references in the same script; prints the ratios.
set -e
cd "$(dirname "$0")/.."
B=${1:-build/cpu}
LABEL=${2:-../shared/data/LA/06SR5RBREL16DQ6M8LWS/label.nii.gz}
if [ ! -f "$LABEL" ]; then echo "bench_infer: $LABEL not found: skipped"; exit 0; fi
mkdir -p tests/out
${CC:-cc} -O3 -fopenmp -Idarknet-src/include -Isrc -Ilayers -Icore bench/bench_infer.c -o tests/out/bench_infer "$B/libdarknet3d.a" \
  -lopenblas -lnifti2 -lznz -lhdf5_serial -lpng -lz -lm -pthread -fopenmp \
  $(nm "$B/libdarknet3d.a" 2>/dev/null | grep -q ' U dnnl_' && echo -ldnnl) \
  $(ar t "$B/libdarknet3d.a" | grep -q '\.cu\.o$' && echo "-L/usr/local/cuda/lib64 -L/usr/local/cuda/lib64/stubs -lcudart -lcublas -lcurand -lcuda -lcudnn -lstdc++")
tests/out/bench_infer "$LABEL" tests/out | tee tests/out/bench_infer.txt
/usr/bin/python3 - <<'PY'
import time, re, numpy as np
from scipy import ndimage
txt = open("tests/out/bench_infer.txt").read()
t_edt = float(re.search(r"edt3d .*: ([0-9.]+) s", txt).group(1))
t_met = float(re.search(r"metrics .*: ([0-9.]+) s", txt).group(1))
m = np.fromfile("tests/out/bench_edt_mask.u8", np.uint8).reshape(88, 576, 576).astype(bool)
t = time.time(); ref = ndimage.distance_transform_edt(~m, sampling=(0.625,) * 3); t_sp = time.time() - t
ours = np.fromfile("tests/out/bench_edt_dist.f32", np.float32).reshape(ref.shape)
print("scipy distance_transform_edt 576x576x88: %.3f s; ours %.3f s: ratio scipy/ours %.2f; max abs diff %.2g mm"
      % (t_sp, t_edt, t_sp / t_edt, np.abs(ours - ref).max()))
raw = open("tests/out/bench_metrics_pair.u8", "rb").read()
dims = np.frombuffer(raw[:12], np.int32); sp = tuple(np.frombuffer(raw[12:24], np.float32).astype(float))
n = int(np.prod(dims)); a = np.frombuffer(raw[24:24 + n], np.uint8).reshape(dims).astype(bool); b = np.frombuffer(raw[24 + n:], np.uint8).reshape(dims).astype(bool)
def sd(r, f, s):
    fp = ndimage.generate_binary_structure(3, 1)
    rb = r ^ ndimage.binary_erosion(r, structure=fp, iterations=1); fb = f ^ ndimage.binary_erosion(f, structure=fp, iterations=1)
    return ndimage.distance_transform_edt(~fb, sampling=s)[rb]
t = time.time()
d1, d2 = sd(a, b, sp), sd(b, a, sp)
hd95_mm, asd_mm = np.percentile(np.hstack((d1, d2)), 95), d1.mean()
t_py = time.time() - t
print("medpy-definition (scipy) hd95_mm+asd_mm: %.3f s (one spacing; ours computes voxels and mm: %.3f s): ratio %.2f; hd95_mm=%.6f asd_mm=%.6f"
      % (t_py, t_met, t_py / t_met, hd95_mm, asd_mm))
PY
