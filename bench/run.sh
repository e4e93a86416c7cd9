#!/bin/sh
# `make bench`: darknet3d against a PyTorch reference of the same DBiSL model, loss, s2r transform and sliding window, measured in this one run on this machine; prints one table (rows end in ratio=<ours/theirs>, last line cpu_train_ratio=<x>).
# Environment: BENCH_BUILD (build dir of our library, default: the one ./darknet links to), TORCH_PYTHON (default
# /usr/bin/python3: Debian's python3-torch, CPU only; point it at a CUDA-enabled torch for the PyTorch GPU rows),
# BENCH_THREADS (2), BENCH_ITERS (5) / BENCH_WARMUP (1): timed / untimed CPU training iterations per side,
# BENCH_PROFILE_ITERS (1): per-layer profile iterations of ours, BENCH_GPU_ITERS (10) / BENCH_GPU_WARMUP (3).
# Defaults keep the CPU part near 5 minutes on 2 idle cores (one training iteration is a few seconds per side).
set -e
cd "$(dirname "$0")/.."
B=${BENCH_BUILD:-$(dirname "$(readlink darknet 2>/dev/null || echo build/cpu/darknet)")}
PY=${TORCH_PYTHON:-/usr/bin/python3}
T=${BENCH_THREADS:-2}
ITERS=${BENCH_ITERS:-5}
WARM=${BENCH_WARMUP:-1}
PROF=${BENCH_PROFILE_ITERS:-1}
GITERS=${BENCH_GPU_ITERS:-10}
GWARM=${BENCH_GPU_WARMUP:-3}
O=tests/out/bench
mkdir -p "$O"
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$T OPENBLAS_NUM_THREADS=$T MKL_NUM_THREADS=$T
LIB="$B/libdarknet3d.a"
[ -f "$LIB" ] || { echo "bench: $LIB not found (run make first)"; exit 1; }
LIBS="-lopenblas -lnifti2 -lznz -lhdf5_serial -lpng -lz -lm -pthread -fopenmp"
# a library built with ONEDNN (the Makefile's default when libdnnl-dev is installed) needs oneDNN
if nm "$LIB" 2>/dev/null | grep -q ' U dnnl_'; then LIBS="$LIBS -ldnnl"; fi
GPULIB=0
if ar t "$LIB" | grep -q '\.cu\.o$'; then
    GPULIB=1
    CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
    GFLAGS="-DGPU -I$CUDA_HOME/include"
    LIBS="$LIBS -L$CUDA_HOME/lib64 -L$CUDA_HOME/lib64/stubs -lcudart -lcublas -lcurand -lcuda -lstdc++"
    # Darknet's layer struct has cuDNN fields: the driver must be compiled with the library's CUDNN setting
    if nm "$LIB" 2>/dev/null | grep -q ' U cudnn'; then GFLAGS="$GFLAGS -DCUDNN"; LIBS="$LIBS -lcudnn"; fi
fi
CFL="-O3 -g -fopenmp -Idarknet-src/include -Idarknet-src/src -Isrc -Ilayers -Icore ${GFLAGS:-}"
cc $CFL bench/bench_train.c -o "$O/bench_train" "$LIB" $LIBS
cc $CFL bench/bench_dtransform_c.c -o "$O/bench_dtransform_c" "$LIB" $LIBS

# value of key=... in a result line
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if(a+0 > 0 && b+0 > 0) printf "%.2f", a / b; else printf "n/a" }'; }
last() { grep -E "$1" "$2" | tail -1; }

CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
GPUNAME=""
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    GPUNAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
fi
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
TORCHV=$($PY -c 'import torch; print(torch.__version__ + (" cuda " + torch.version.cuda if torch.version.cuda else " cpu-only"))')

# --- CPU configuration: 64x64x32 (W x H x D) crops, batch 4 (2 labeled + 2 unlabeled), 16 base filters ---
$PY - <<'EOF'
import sys
sys.path.insert(0, "scripts")
import make_cfgs as m
t = "bench cfg (bench/run.sh): dbisl-vnet.cfg at %s"
open("tests/out/bench/bench-cpu.cfg", "w").write(m.model(16, 64, 64, 32, 4, 0.01, 100000, "16,32,32", 100, title=t % "64x64x32") + "\n")
open("tests/out/bench/bench-gpu.cfg", "w").write(m.model(16, 112, 112, 80, 4, 0.01, 100000, "4,18,18", 6000, title=t % "112x112x80") + "\n")
EOF
"$B/darknet" seg3d synth "$O/synth-cpu" 5 -size 40 80 80 -seed 1 >"$O/synth.log" 2>&1
P_OURS=$("$B/darknet" seg3d params "$O/bench-cpu.cfg" 2>/dev/null | sed -n 's/^params=//p')
P_TORCH=$($PY bench/dbisl_torch.py params 64 64 32 16 | sed -n 's/^params=//p')
MAC_CPU=$($PY bench/dbisl_torch.py macs 64 64 32 16)
MAC_GPU=$($PY bench/dbisl_torch.py macs 112 112 80 16)

echo "bench: CPU training, ours ($((ITERS + WARM + PROF)) iterations) ..." >&2
"$O/bench_train" train "$O/bench-cpu.cfg" "$O/synth-cpu/synth.data" "$ITERS" "$WARM" "$O/batches-cpu.f32" "$PROF" >"$O/train-cpu-ours.txt" 2>"$O/train-cpu-ours.log"
R_OURS=$(last '^s_per_iter=' "$O/train-cpu-ours.txt")
echo "bench: CPU training, PyTorch ($((ITERS + WARM)) iterations) ..." >&2
R_TORCH=$($PY bench/dbisl_torch.py train 64 64 32 16 4 2 "$ITERS" "$WARM" "$T" cpu "$O/batches-cpu.f32" 4 2>"$O/train-cpu-torch.log" | tail -1)

echo "bench: s2r ..." >&2
S2R_ROWS=""
for shape in "40 56 56" "80 112 112"; do
    set -- $shape
    ST=$($PY bench/dbisl_torch.py s2r 4 "$1" "$2" "$3" 0.5 2 "$T" "$O/s2r-prob.f32")
    SO=$("$O/bench_dtransform_c" s2r "$O/s2r-prob.f32" 4 "$1" "$2" "$3" 0.5 3)
    S2R_ROWS="$S2R_ROWS
cpu s2r fwd+bwd 4x1x$3x$2x$1 (NxCxWxHxD) scale 0.5 ste, s | ours=$(kv "$SO" seconds) torch=$(kv "$ST" seconds) (iterations $(kv "$SO" iters)/$(kv "$ST" iters)) | ratio=$(ratio "$(kv "$SO" seconds)" "$(kv "$ST" seconds)")"
done
DT_NOTE=""
if [ -f bench/bench_dtransform.sh ]; then
    # the [dtransform] owner's benchmark (scale 0.5 and 1, peak memory); its ratios are torch/ours, so they are
    # quoted as notes, not rows
    echo "bench: bench/bench_dtransform.sh ..." >&2
    if sh bench/bench_dtransform.sh "$B" "$T" >"$O/bench_dtransform.txt" 2>&1; then
        DT_NOTE=$(grep 'ratio torch/ours' "$O/bench_dtransform.txt" | sed 's/^/# bench_dtransform.sh: /')
    else
        DT_NOTE="# bench_dtransform.sh failed: see $O/bench_dtransform.txt"
    fi
fi

echo "bench: sliding window ..." >&2
IO=$("$O/bench_train" infer "$O/bench-cpu.cfg" "$O/vol-cpu.f32" 44 144 144 16 32 32 2>"$O/infer-cpu-ours.log" | tail -1)
IT=$($PY bench/dbisl_torch.py infer 64 64 32 16 4 "$T" cpu "$O/vol-cpu.f32" 44 144 144 16 32 32 2>"$O/infer-cpu-torch.log" | tail -1)

echo "bench: sgemm floor ..." >&2
GEMM=$("$O/bench_dtransform_c" sgemm 64 32768 864 5)
GF=$(kv "$GEMM" gflops)

# --- GPU configuration (paper): 112x112x80, batch 4 ---
GPU_ROWS=""
if [ -z "$GPUNAME" ]; then
    GPU_ROWS="gpu train 112x112x80 b4 f16, FP32, s/iter | no GPU | ratio=n/a
gpu train 112x112x80 b4 f16, TF32 convolutions, s/iter | no GPU | ratio=n/a
gpu train peak memory, MiB | no GPU | ratio=n/a
gpu sliding window 88x256x256 | no GPU | ratio=n/a"
elif [ "$GPULIB" = 0 ]; then
    GPU_ROWS="gpu ($GPUNAME) | $LIB is a CPU build: run make (GPU=1) first | ratio=n/a"
else
    echo "bench: GPU training and inference ..." >&2
    "$B/darknet" seg3d synth "$O/synth-gpu" 5 -size 88 128 128 -seed 1 >>"$O/synth.log" 2>&1
    # two numeric regimes, each against PyTorch in the same one: exact FP32 (ours' default; torch with TF32 off)
    # and TF32 tensor-core convolutions (precision=tf32, our GPU default; torch's default for cuDNN convolutions)
    GO=$("$O/bench_train" train "$O/bench-gpu.cfg" "$O/synth-gpu/synth.data" "$GITERS" "$GWARM" "$O/batches-gpu.f32" 0 -gpu fp32 2>"$O/train-gpu-ours.log" | tail -1) || true
    GT=$(TORCH_TF32=0 $PY bench/dbisl_torch.py train 112 112 80 16 4 2 "$GITERS" "$GWARM" "$T" cuda "$O/batches-gpu.f32" 4 2>"$O/train-gpu-torch.log" | tail -1) || true
    GO32=$("$O/bench_train" train "$O/bench-gpu.cfg" "$O/synth-gpu/synth.data" "$GITERS" "$GWARM" - 0 -gpu tf32 2>"$O/train-gpu-ours-tf32.log" | tail -1) || true
    GT32=$(TORCH_TF32=1 $PY bench/dbisl_torch.py train 112 112 80 16 4 2 "$GITERS" "$GWARM" "$T" cuda "$O/batches-gpu.f32" 4 2>"$O/train-gpu-torch-tf32.log" | tail -1) || true
    GIO=$("$O/bench_train" infer "$O/bench-gpu.cfg" "$O/vol-gpu.f32" 88 256 256 4 18 18 -gpu 2>"$O/infer-gpu-ours.log" | tail -1) || true
    GIT=$($PY bench/dbisl_torch.py infer 112 112 80 16 4 "$T" cuda "$O/vol-gpu.f32" 88 256 256 4 18 18 2>"$O/infer-gpu-torch.log" | tail -1) || true
    GPU_ROWS="gpu train 112x112x80 (WxHxD) b4 (2L+2U) f16 synth, FP32 both, s/iter (synchronised, mean of $GITERS after $GWARM) | ours=$(kv "$GO" s_per_iter) $(kv "$GO" error) torch=$(kv "$GT" s_per_iter) $(kv "$GT" error) | ratio=$(ratio "$(kv "$GO" s_per_iter)" "$(kv "$GT" s_per_iter)")
gpu train 112x112x80 b4 f16 synth, TF32 convolutions both, s/iter | ours=$(kv "$GO32" s_per_iter) $(kv "$GO32" error) torch=$(kv "$GT32" s_per_iter) $(kv "$GT32" error) | ratio=$(ratio "$(kv "$GO32" s_per_iter)" "$(kv "$GT32" s_per_iter)")
gpu train peak memory, MiB (ours: cudaMemGetInfo growth; torch: max_memory_allocated, its cache and context not counted) | ours=$(kv "$GO" peak_mib) torch=$(kv "$GT" peak_mib) | ratio=$(ratio "$(kv "$GO" peak_mib)" "$(kv "$GT" peak_mib)")
gpu sliding window 88x256x256 (DxHxW) window 112x112x80 stride 4,18,18 (DTC), $(kv "$GIO" windows) windows, s | ours=$(kv "$GIO" seconds) $(kv "$GIO" error) torch=$(kv "$GIT" seconds) $(kv "$GIT" error) | ratio=$(ratio "$(kv "$GIO" seconds)" "$(kv "$GIT" seconds)")"
fi

TO=$(kv "$R_OURS" s_per_iter)
TT=$(kv "$R_TORCH" s_per_iter)
FW=$(kv "$MAC_CPU" fwd_gmac_per_sample)
FLOP=$(awk -v m="$FW" 'BEGIN{ printf "%.0f", m * 4 * 3 * 2 }')   # batch 4, fwd + 2x bwd, 2 FLOPs per MAC
FLOOR=$(awk -v f="$FLOP" -v g="$GF" 'BEGIN{ if(g > 0) printf "%.2f", f / g; else print "n/a" }')
MATCH=no; [ "$P_OURS" = "$P_TORCH" ] && MATCH=yes

echo "== make bench: darknet3d vs PyTorch $TORCHV, same run, same machine =="
echo "# machine: CPU $CPU, $T threads used (of $(nproc)); GPU: ${GPUNAME:-none}; load average at start $LOAD0, at end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# CPU config: 64x64x32 crops (W x H x D), batch 4 (2 labeled + 2 unlabeled), 16 filters, synthetic phantoms (seg3d synth 40x80x80), full DBiSL loss (s2r scale 0.5, k3, h 0.35, softmin as the cfg default); $ITERS timed iterations after $WARM warm-up per side"
echo "# model: params ours=$P_OURS torch=$P_TORCH match=$MATCH; forward GMAC/sample: 64x64x32 $FW, 112x112x80 $(kv "$MAC_GPU" fwd_gmac_per_sample); training $FLOP GFLOP/iter at 64x64x32"
echo "# floor: OpenBLAS sgemm 64x32768x864 $GF GFLOP/s on $T threads -> conv floor $FLOOR s/iter at 64x64x32; per-layer profile of ours: $O/train-cpu-ours.txt"
awk '/^profile kind=/{ printf "#   ours per iteration: %s\n", substr($0, 9) }' "$O/train-cpu-ours.txt"
[ -n "$DT_NOTE" ] && printf '%s\n' "$DT_NOTE"
echo "measure | values | ratio (ours/theirs)"
echo "cpu train s/iter (mean; loader wait ours $(kv "$R_OURS" loader_wait) s) | ours=$TO torch=$TT (min $(kv "$R_OURS" min)/$(kv "$R_TORCH" min)) | ratio=$(ratio "$TO" "$TT")"
printf '%s\n' "$S2R_ROWS" | sed '/^$/d'
echo "cpu sliding window 44x144x144 (DxHxW) synth volume, window 64x64x32, stride 16,32,32, $(kv "$IO" windows) windows, 4 per pass, both decoders, s | ours=$(kv "$IO" seconds) torch=$(kv "$IT" seconds) | ratio=$(ratio "$(kv "$IO" seconds)" "$(kv "$IT" seconds)")"
printf '%s\n' "$GPU_ROWS"
echo "cpu_train_ratio=$(ratio "$TO" "$TT")"
