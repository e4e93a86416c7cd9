#!/bin/sh
# `make bench`: darknet3d against a PyTorch reference of the same DBiSL model, loss, s2r transform and sliding window, measured in this one run on this machine; prints one table (rows end in ratio=<ours/theirs>, last line cpu_train_ratio=<x>).
# Environment: BENCH_BUILD (build dir of our library, default: the one ./darknet links to), TORCH_PYTHON (the Python whose
# torch is the reference; default: build/bench-torch/bin/python, a virtual environment with the newest torch from PyPI
# that the bench installs itself when it is absent (BENCH_TORCH_INSTALL=0: never install); when that cannot be had,
# the newest torch among python3 and /usr/bin/python3 (Debian's python3-torch), named in the header),
# BENCH_THREADS (2), BENCH_ITERS (5) / BENCH_WARMUP (1): timed / untimed CPU training iterations per side,
# BENCH_PROFILE_ITERS (1): per-layer profile iterations of ours, BENCH_GPU_ITERS (10) / BENCH_GPU_WARMUP (3),
# BENCH_GPU_ONLY=1: only the GPU rows (scripts/gpu_checks.sh), BENCH_CPU_ONLY=1: no GPU rows, BENCH_DRIVERS_ONLY=1: build
# the drivers (bench_train, bench_dtransform_c) into tests/out/bench and stop, BENCH_PREBUILT=<dir>: take them from <dir>
# instead of building them (scripts/gpu_kit.sh packs them for a GPU machine without compiler libraries).
# ONEDNN_MAX_CPU_ISA=AVX2: both sides as on a CPU without AVX-512 (named in the machine line).
# Defaults keep the CPU part near 5 minutes on 2 idle cores (one training iteration is a few seconds per side).
# bench/cpu_before_after.sh compares two builds of ours and PyTorch on the CPU in interleaved rounds.
set -e
cd "$(dirname "$0")/.."
B=${BENCH_BUILD:-$(dirname "$(readlink darknet 2>/dev/null || echo build/cpu/darknet)")}
GPUONLY=${BENCH_GPU_ONLY:-0}
CPUONLY=${BENCH_CPU_ONLY:-0}
T=${BENCH_THREADS:-2}
ITERS=${BENCH_ITERS:-5}
WARM=${BENCH_WARMUP:-1}
PROF=${BENCH_PROFILE_ITERS:-1}
GITERS=${BENCH_GPU_ITERS:-10}
GWARM=${BENCH_GPU_WARMUP:-3}
O=tests/out/bench
mkdir -p "$O"
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$T OPENBLAS_NUM_THREADS=$T MKL_NUM_THREADS=$T
# ONEDNN_MAX_CPU_ISA=AVX2 measures both sides as on a CPU without AVX-512: it caps oneDNN (ours and PyTorch's) and our
# own kernels (core/cpu_isa.h); PyTorch's other kernels follow ATEN_CPU_CAPABILITY, set to match unless given
ISA_CAP=${ONEDNN_MAX_CPU_ISA:-${DNNL_MAX_CPU_ISA:-}}
case "$ISA_CAP" in
    [Aa][Vv][Xx]2|[Aa][Vv][Xx]2_*) export ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY:-avx2} ;;
    [Ss][Ss][Ee]41|[Aa][Vv][Xx]) export ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY:-default} ;;
esac
LIB="$B/libdarknet3d.a"
if [ -n "${BENCH_PREBUILT:-}" ]; then
    # the drivers as scripts/gpu_kit.sh packed them on another machine: no compiler or -dev packages are needed here
    cp "$BENCH_PREBUILT/bench_train" "$BENCH_PREBUILT/bench_dtransform_c" "$BENCH_PREBUILT/drivers.env" "$O/"
else
    [ -f "$LIB" ] || { echo "bench: $LIB not found (run make first)"; exit 1; }
    LIBS="-lopenblas -lnifti2 -lznz -lhdf5_serial -lpng -lcairo -lz -lm -pthread -fopenmp"
    . bench/lib_flags.sh
    lib_flags "$LIB"
    LIBS="$LIBS $LIB_LIBS"; GFLAGS=$LIB_CFLAGS; GPULIB=$LIB_GPU
    [ "$LIB_DNNL" = 0 ] || DNNL_DEF=-DBENCH_DNNL
    CFL="-O3 -g -fopenmp -Idarknet-src/include -Idarknet-src/src -Isrc -Ilayers -Icore ${GFLAGS:-}"
    cc $CFL bench/bench_train.c -o "$O/bench_train" "$LIB" $LIBS
    cc $CFL ${DNNL_DEF:-} bench/bench_dtransform_c.c -o "$O/bench_dtransform_c" "$LIB" $LIBS
    echo "GPULIB=$GPULIB" > "$O/drivers.env"
fi
. "$O/drivers.env"
[ "${BENCH_DRIVERS_ONLY:-0}" = 1 ] && exit 0
PY_NOTE=""
if [ -n "${TORCH_PYTHON:-}" ]; then
    PY=$TORCH_PYTHON
else
    PY=$(${BENCH_TORCH_LD+env LD_LIBRARY_PATH="$BENCH_TORCH_LD"} sh bench/torch_env.sh 2>"$O/torch_env.log") || true
    PY_NOTE=$(sed -n 's/^note: //p' "$O/torch_env.log")
    [ -n "$PY" ] || { echo "bench: no Python with torch found (see $O/torch_env.log)"; exit 1; }
fi

# BENCH_TORCH_LD (set by scripts/gpu_checks.sh): the LD_LIBRARY_PATH PyTorch runs with, so that the kit's CUDA path
# (scripts/gpu_kit.sh) cannot put another cuBLAS/cuDNN/nvJitLink under torch's own
if [ -n "${BENCH_TORCH_LD+x}" ]; then
    printf '#!/bin/sh\nLD_LIBRARY_PATH="%s" exec "%s" "$@"\n' "$BENCH_TORCH_LD" "$PY" > "$O/torch-python"
    chmod +x "$O/torch-python"; PY=$O/torch-python
fi
# each GPU result line as soon as it is measured (stderr), so that a run cut short by a time limit keeps what it had
res() { printf 'bench result %s: %s\n' "$1" "$2" >&2; }

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
# version, CUDA, and the oneDNN version its CPU convolutions use (from torch.__config__.show())
TORCHV=$($PY -c 'import re, torch
m = re.search(r"(?:oneDNN|MKL-DNN) v([0-9.]+)", torch.__config__.show())
print(torch.__version__ + (" cuda " + torch.version.cuda if torch.version.cuda else " cpu-only") + (", oneDNN " + m.group(1) if m else ""))')

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
P_OURS=$("$B/darknet" seg3d params "$O/bench-cpu.cfg" -nogpu 2>/dev/null | sed -n 's/^params=//p')
P_TORCH=$($PY bench/dbisl_torch.py params 64 64 32 16 | sed -n 's/^params=//p')
MAC_CPU=$($PY bench/dbisl_torch.py macs 64 64 32 16)
MAC_GPU=$($PY bench/dbisl_torch.py macs 112 112 80 16)

R_OURS="" R_TORCH="" R_TORCH_BF="" S2R_ROWS="" DT_NOTE="" IO="" IT="" GF="" GF_BLAS="" GF_DNNL="" GEMM=""
if [ "$GPUONLY" != 1 ]; then
    echo "bench: CPU training, ours ($((ITERS + WARM + PROF)) iterations) ..." >&2
    "$O/bench_train" train "$O/bench-cpu.cfg" "$O/synth-cpu/synth.data" "$ITERS" "$WARM" "$O/batches-cpu.f32" "$PROF" >"$O/train-cpu-ours.txt" 2>"$O/train-cpu-ours.log"
    R_OURS=$(last '^s_per_iter=' "$O/train-cpu-ours.txt")
    echo "bench: CPU training, PyTorch ($((ITERS + WARM)) iterations) ..." >&2
    R_TORCH=$($PY bench/dbisl_torch.py train 64 64 32 16 4 2 "$ITERS" "$WARM" "$T" cpu "$O/batches-cpu.f32" 4 2>"$O/train-cpu-torch.log" | tail -1)
    # the process's peak RSS under the mixed-precision recipe of the GPU anchor (autocast bf16, channels_last_3d): the
    # CPU's view of the memory target, which is set against PyTorch AMP
    echo "bench: CPU training, PyTorch autocast bf16 (1 iteration, peak memory) ..." >&2
    R_TORCH_BF=$(TORCH_AMP=bf16 $PY bench/dbisl_torch.py train 64 64 32 16 4 2 1 0 "$T" cpu "$O/batches-cpu.f32" 4 2>"$O/train-cpu-torch-bf16.log" | tail -1)

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
    GF_BLAS=$(kv "$GEMM" gflops)
    GF_DNNL=$(kv "$GEMM" dnnl_gflops)
    # the floor is the faster sgemm of the two libraries our convolutions can run on
    GF=$(awk -v a="$GF_BLAS" -v b="${GF_DNNL:-0}" 'BEGIN{ print (b + 0 > a + 0) ? b : a }')

fi

# --- GPU configuration (paper): 112x112x80, batch 4 ---
GPU_ROWS=""
GPU_RATIO=n/a
if [ "$CPUONLY" = 1 ]; then
    GPU_ROWS="gpu | skipped (BENCH_CPU_ONLY=1) | ratio=n/a"
elif [ -z "$GPUNAME" ]; then
    GPU_ROWS="gpu train 112x112x80 b4 f16, FP32, s/iter | no GPU | ratio=n/a
gpu train 112x112x80 b4 f16, TF32 convolutions, s/iter | no GPU | ratio=n/a
gpu train 112x112x80 b4 f16, ours precision=fp16 vs PyTorch AMP fp16, s/iter | no GPU | ratio=n/a
gpu train 112x112x80 b4 f16, ours precision=bf16 vs PyTorch AMP bf16, s/iter | no GPU | ratio=n/a
gpu train 112x112x80 b4 f16, ours TF32 vs PyTorch AMP bf16 (autocast, channels_last_3d, cudnn.benchmark), s/iter | no GPU | ratio=n/a
gpu train 112x112x80 b4 f16, ours TF32 vs PyTorch AMP fp16 (autocast + GradScaler, channels_last_3d, cudnn.benchmark), s/iter | no GPU | ratio=n/a
gpu train peak memory, MiB | no GPU | ratio=n/a
gpu sliding window 88x256x256 | no GPU | ratio=n/a"
elif [ "$GPULIB" = 0 ]; then
    GPU_ROWS="gpu ($GPUNAME) | $LIB is a CPU build: run make (GPU=1) first | ratio=n/a"
else
    echo "bench: GPU training and inference ..." >&2
    # smi_start / smi_stop / smi_peak: the whole GPU's memory.used as nvidia-smi reports it (what a user sees), sampled
    # about every 100 ms while one run goes on (CUDA context, the cuDNN algorithm search and caching allocators
    # included), one nvidia-smi call per sample so that each is written when it is taken (a killed `nvidia-smi -lms`
    # loses its buffered samples); smi_stop ends the sampler in this shell (wait on it from a $(...) subshell fails
    # under dash, and set -e would end the bench there); smi_peak prints the largest sample in MiB
    smi_start() { ( while :; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1; sleep 0.1; done ) > "$O/smi.txt" & SMI_PID=$!; }
    smi_stop() { kill "$SMI_PID" 2>/dev/null || true; wait "$SMI_PID" 2>/dev/null || true; }
    smi_peak() { grep -E '^[0-9]+$' "$O/smi.txt" | sort -n | tail -1; }
    "$B/darknet" seg3d synth "$O/synth-gpu" 5 -size 88 128 128 -seed 1 >>"$O/synth.log" 2>&1
    # numeric regimes, each against PyTorch in the same one: exact FP32 (ours' default on request; torch with TF32
    # off), TF32 tensor-core convolutions (precision=tf32, our GPU default; torch's default for cuDNN convolutions),
    # and PyTorch's mixed precision (the anchor of gpu_train_ratio): autocast bf16, and fp16 with a GradScaler, both
    # with channels_last_3d and cudnn.benchmark
    GO=$("$O/bench_train" train "$O/bench-gpu.cfg" "$O/synth-gpu/synth.data" "$GITERS" "$GWARM" "$O/batches-gpu.f32" 0 -gpu fp32 2>"$O/train-gpu-ours.log" | tail -1) || true
    res ours-fp32 "$GO"
    # PyTorch trains on the batches that run dumped; when it died before dumping any, on random ones (same layout)
    [ -s "$O/batches-gpu.f32" ] || $PY bench/dbisl_torch.py batches 112 112 80 4 2 4 "$O/batches-gpu.f32" 2>>"$O/train-gpu-torch.log" || true
    GT=$(TORCH_TF32=0 $PY bench/dbisl_torch.py train 112 112 80 16 4 2 "$GITERS" "$GWARM" "$T" cuda "$O/batches-gpu.f32" 4 2>"$O/train-gpu-torch.log" | tail -1) || true
    res torch-fp32 "$GT"
    GO32=$("$O/bench_train" train "$O/bench-gpu.cfg" "$O/synth-gpu/synth.data" "$GITERS" "$GWARM" - 0 -gpu tf32 2>"$O/train-gpu-ours-tf32.log" | tail -1) || true
    res ours-tf32 "$GO32"
    smi_start
    GO16=$("$O/bench_train" train "$O/bench-gpu.cfg" "$O/synth-gpu/synth.data" "$GITERS" "$GWARM" - 0 -gpu fp16 2>"$O/train-gpu-ours-fp16.log" | tail -1) || true
    smi_stop
    SO16=$(smi_peak) || true
    res ours-fp16 "$GO16"
    GOB=$("$O/bench_train" train "$O/bench-gpu.cfg" "$O/synth-gpu/synth.data" "$GITERS" "$GWARM" - 0 -gpu bf16 2>"$O/train-gpu-ours-bf16.log" | tail -1) || true
    res ours-bf16 "$GOB"
    GT32=$(TORCH_TF32=1 $PY bench/dbisl_torch.py train 112 112 80 16 4 2 "$GITERS" "$GWARM" "$T" cuda "$O/batches-gpu.f32" 4 2>"$O/train-gpu-torch-tf32.log" | tail -1) || true
    res torch-tf32 "$GT32"
    GTB=$(TORCH_TF32=1 TORCH_AMP=bf16 $PY bench/dbisl_torch.py train 112 112 80 16 4 2 "$GITERS" "$GWARM" "$T" cuda "$O/batches-gpu.f32" 4 2>"$O/train-gpu-torch-bf16.log" | tail -1) || true
    res torch-amp-bf16 "$GTB"
    smi_start
    GTH=$(TORCH_TF32=1 TORCH_AMP=fp16 $PY bench/dbisl_torch.py train 112 112 80 16 4 2 "$GITERS" "$GWARM" "$T" cuda "$O/batches-gpu.f32" 4 2>"$O/train-gpu-torch-fp16.log" | tail -1) || true
    smi_stop
    STH=$(smi_peak) || true
    res torch-amp-fp16 "$GTH"
    GIO=$("$O/bench_train" infer "$O/bench-gpu.cfg" "$O/vol-gpu.f32" 88 256 256 4 18 18 -gpu -precision tf32 2>"$O/infer-gpu-ours.log" | tail -1) || true
    res ours-infer "$GIO"
    GIT=$($PY bench/dbisl_torch.py infer 112 112 80 16 4 "$T" cuda "$O/vol-gpu.f32" 88 256 256 4 18 18 2>"$O/infer-gpu-torch.log" | tail -1) || true
    res torch-infer "$GIT"
    # the anchor: the faster of PyTorch's two AMP runs
    TB=$(kv "$GTB" s_per_iter) TH=$(kv "$GTH" s_per_iter)
    AMP_T=$(awk -v b="$TB" -v h="$TH" 'BEGIN{ if(b+0 > 0 && (h+0 <= 0 || b+0 <= h+0)) print b; else if(h+0 > 0) print h; else print "" }')
    AMP_L=$(awk -v b="$TB" -v h="$TH" 'BEGIN{ if(b+0 > 0 && (h+0 <= 0 || b+0 <= h+0)) print "bf16"; else if(h+0 > 0) print "fp16"; else print "none" }')
    AMP_M=$([ "$AMP_L" = fp16 ] && kv "$GTH" peak_mib || kv "$GTB" peak_mib)
    # ours: the fastest of tf32, fp16 and bf16 (the precision is named in the row)
    OB=$(printf 'tf32 %s\nfp16 %s\nbf16 %s\n' "$(kv "$GO32" s_per_iter)" "$(kv "$GO16" s_per_iter)" "$(kv "$GOB" s_per_iter)" |
         awk '$2 + 0 > 0 && (b == "" || $2 + 0 < b + 0) { b = $2; l = $1 } END { print l, b }')
    OB_L=${OB% *}; OB_T=${OB#* }
    GPU_RATIO=$(ratio "$OB_T" "$AMP_T")
    GPU_ROWS="gpu train 112x112x80 (WxHxD) b4 (2L+2U) f16 synth, FP32 both, s/iter (synchronised, mean of $GITERS after $GWARM) | ours=$(kv "$GO" s_per_iter) $(kv "$GO" error) torch=$(kv "$GT" s_per_iter) $(kv "$GT" error) | ratio=$(ratio "$(kv "$GO" s_per_iter)" "$(kv "$GT" s_per_iter)")
gpu train 112x112x80 b4 f16 synth, TF32 convolutions both, s/iter | ours=$(kv "$GO32" s_per_iter) $(kv "$GO32" error) torch=$(kv "$GT32" s_per_iter) $(kv "$GT32" error) | ratio=$(ratio "$(kv "$GO32" s_per_iter)" "$(kv "$GT32" s_per_iter)")
gpu train 112x112x80 b4 f16 synth, ours precision=fp16 (fp16 convolutions, FP32 accumulation, dynamic loss scale; $(kv "$GO16" skipped) steps skipped) vs PyTorch AMP fp16 (autocast + GradScaler, channels_last_3d, cudnn.benchmark), s/iter | ours=$(kv "$GO16" s_per_iter) $(kv "$GO16" error) torch=$TH | ratio=$(ratio "$(kv "$GO16" s_per_iter)" "$TH")
gpu train 112x112x80 b4 f16 synth, ours precision=bf16 vs PyTorch AMP bf16 (autocast, channels_last_3d, cudnn.benchmark), s/iter | ours=$(kv "$GOB" s_per_iter) $(kv "$GOB" error) torch=$TB | ratio=$(ratio "$(kv "$GOB" s_per_iter)" "$TB")
gpu train peak memory, MiB, ours fp16 / bf16 vs PyTorch AMP fp16 / bf16 | ours=$(kv "$GO16" peak_mib)/$(kv "$GOB" peak_mib) torch=$(kv "$GTH" peak_mib)/$(kv "$GTB" peak_mib) | ratio=$(ratio "$(kv "$GO16" peak_mib)" "$(kv "$GTH" peak_mib)")
gpu train peak memory of the whole GPU (nvidia-smi memory.used every 100 ms during the run), MiB, ours fp16 vs PyTorch AMP fp16 | ours=${SO16:-n/a} torch=${STH:-n/a} | ratio=$(ratio "${SO16:-}" "${STH:-}")
gpu train 112x112x80 b4 f16 synth, ours TF32 vs PyTorch AMP bf16 (autocast, channels_last_3d, cudnn.benchmark), s/iter | ours=$(kv "$GO32" s_per_iter) torch=$TB $(kv "$GTB" error) | ratio=$(ratio "$(kv "$GO32" s_per_iter)" "$TB")
gpu train 112x112x80 b4 f16 synth, ours TF32 vs PyTorch AMP fp16 (autocast + GradScaler, channels_last_3d, cudnn.benchmark), s/iter | ours=$(kv "$GO32" s_per_iter) torch=$TH $(kv "$GTH" error) | ratio=$(ratio "$(kv "$GO32" s_per_iter)" "$TH")
gpu train peak memory, MiB (both: device memory in use, cudaMemGetInfo total-free, after each iteration, minus the value before the model was built; CUDA context excluded, caches and workspaces included), ours TF32 vs PyTorch AMP $AMP_L | ours=$(kv "$GO32" peak_mib) torch=$AMP_M (FP32 both: $(kv "$GO" peak_mib)/$(kv "$GT" peak_mib), torch TF32 $(kv "$GT32" peak_mib)) | ratio=$(ratio "$(kv "$GO32" peak_mib)" "$AMP_M")
gpu sliding window 88x256x256 (DxHxW) window 112x112x80 stride 4,18,18 (DTC), $(kv "$GIO" windows) windows, ours $(kv "$GIO" precision) (its $(kv "$GIO" passes) passes alone: forward $(kv "$GIO" forward_seconds) s, with the heads brought back $(kv "$GIO" forward_heads_seconds) s) vs PyTorch TF32 convolutions (its default), s | ours=$(kv "$GIO" seconds) $(kv "$GIO" error) torch=$(kv "$GIT" seconds) $(kv "$GIT" error) | ratio=$(ratio "$(kv "$GIO" seconds)" "$(kv "$GIT" seconds)")"
fi

TO=$(kv "$R_OURS" s_per_iter)
TT=$(kv "$R_TORCH" s_per_iter)
FW=$(kv "$MAC_CPU" fwd_gmac_per_sample)
FLOP=$(awk -v m="$FW" 'BEGIN{ printf "%.0f", m * 4 * 3 * 2 }')   # batch 4, fwd + 2x bwd, 2 FLOPs per MAC
FLOOR=$(awk -v f="$FLOP" -v g="$GF" 'BEGIN{ if(g > 0) printf "%.2f", f / g; else print "n/a" }')
MATCH=no; [ "$P_OURS" = "$P_TORCH" ] && MATCH=yes

echo "== make bench: darknet3d vs PyTorch $TORCHV, same run, same machine =="
[ -n "$PY_NOTE" ] && echo "# torch: $PY_NOTE"
echo "# torch: $PY"
ISA=AVX2; grep -qw avx512f /proc/cpuinfo 2>/dev/null && ISA=AVX-512; grep -qw avx2 /proc/cpuinfo 2>/dev/null || ISA="no AVX2"
[ -z "$ISA_CAP" ] || ISA="$ISA, capped by ONEDNN_MAX_CPU_ISA=$ISA_CAP for both sides (ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY:-unset})"
# the level our own CPU kernels dispatched on (core/cpu_isa.h, as bench_train reported it)
[ -z "$(kv "$R_OURS" cpu_isa)" ] || ISA="$ISA; our kernels at $(kv "$R_OURS" cpu_isa)"
echo "# machine: CPU $CPU ($ISA), $T threads used (of $(nproc)); GPU: ${GPUNAME:-none}; load average at start $LOAD0, at end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# CPU config: 64x64x32 crops (W x H x D), batch 4 (2 labeled + 2 unlabeled), 16 filters, synthetic phantoms (seg3d synth 40x80x80), full DBiSL loss (s2r scale 0.5, k3, h 0.35, softmin as the cfg default); $ITERS timed iterations after $WARM warm-up per side"
echo "# model: params ours=$P_OURS torch=$P_TORCH match=$MATCH; forward GMAC/sample: 64x64x32 $FW, 112x112x80 $(kv "$MAC_GPU" fwd_gmac_per_sample); training $FLOP GFLOP/iter at 64x64x32"
echo "# floor: sgemm 64x32768x864 on $T threads: OpenBLAS $GF_BLAS GFLOP/s, oneDNN ${GF_DNNL:-n/a (not a oneDNN build)} GFLOP/s -> the conv FLOPs at the faster rate take $FLOOR s/iter at 64x64x32; per-layer profile of ours: $O/train-cpu-ours.txt"
[ "$GPUONLY" = 1 ] || awk '/^profile kind=/{ printf "#   ours per iteration: %s\n", substr($0, 9) }' "$O/train-cpu-ours.txt"
[ -n "$DT_NOTE" ] && printf '%s\n' "$DT_NOTE"
echo "measure | values | ratio (ours/theirs)"
if [ "$GPUONLY" = 1 ]; then
    echo "cpu | skipped (BENCH_GPU_ONLY=1) | ratio=n/a"
else
echo "cpu train s/iter (mean; loader wait ours $(kv "$R_OURS" loader_wait) s) | ours=$TO torch=$TT (min $(kv "$R_OURS" min)/$(kv "$R_TORCH" min)) | ratio=$(ratio "$TO" "$TT")"
echo "cpu train peak RSS of the process, MiB, FP32 both | ours=$(kv "$R_OURS" rss_mib) torch=$(kv "$R_TORCH" rss_mib) | ratio=$(ratio "$(kv "$R_OURS" rss_mib)" "$(kv "$R_TORCH" rss_mib)")"
echo "cpu train peak RSS of the process, MiB, ours FP32 vs PyTorch autocast bf16 + channels_last_3d (1 iteration) | ours=$(kv "$R_OURS" rss_mib) torch=$(kv "$R_TORCH_BF" rss_mib) | ratio=$(ratio "$(kv "$R_OURS" rss_mib)" "$(kv "$R_TORCH_BF" rss_mib)")"
printf '%s\n' "$S2R_ROWS" | sed '/^$/d'
echo "cpu sliding window 44x144x144 (DxHxW) synth volume, window 64x64x32, stride 16,32,32, $(kv "$IO" windows) windows, per pass ours $(kv "$IO" per_pass) (seg3d predict's default) torch 4, both decoders, s | ours=$(kv "$IO" seconds) torch=$(kv "$IT" seconds) | ratio=$(ratio "$(kv "$IO" seconds)" "$(kv "$IT" seconds)")"
fi
printf '%s\n' "$GPU_ROWS"
echo "gpu_train_ratio=$GPU_RATIO${OB_L:+ (ours $OB_L vs PyTorch AMP ${AMP_L:-})}"
echo "cpu_train_ratio=$(ratio "$TO" "$TT")"
