#!/bin/sh
# The GPU checks that CPU-only work leaves owed, as one script for one device slot (at most 10 minutes): the test suite on the GPU (fp16/bf16 convolutions against the CPU included), the key table's edge values on the GPU, deterministic mode, exact resume, mixed-precision training, and the speed of fp32, tf32, fp16, bf16 and of -deterministic.
# usage: sh scripts/gpu_checks.sh [work dir]   (default out/gpu_checks); writes summary.txt there, one line per check, and
#   when $OUT is set (a device call) copies it and the text logs (gpu_checks_logs.tar.gz) into $OUT at the end
#   GPU_KIT (.slot/gpu-kit.tar.xz): the build packed here by scripts/gpu_kit.sh pack, used instead of building when present
#   GPU_KIT_ROOT (.): where the kit is unpacked and so whose build/gpu runs (tests/test_gpu_kit.sh runs the det section
#   of a CPU build's kit in a scratch folder)
#   GPU_CHECK_ITERS (20) iterations of the timed runs; each check is bounded by `timeout`, so a hung check costs at most its limit
#   GPU_CHECK_BUDGET (540: a device call's 600 s less a minute) seconds for the whole script: the checks run in order of
#   priority (build, tests, determinism, resume, mixed precision, speed at the four precisions, predict memory, bench,
#   then the speed of -deterministic and of each buffer key off), and a check that would start after the budget is
#   spent is reported as "skipped (time budget)" instead of run; the bench gets what the checks before it leave
#   GPU_CHECK_SECTIONS ("tests det mixed speed bench"): the sections to run, in this order whatever the order given:
#   tests (the C tests), det (deterministic mode, shared buffers, exact resume, predict against the CPU), mixed (fp16 and
#   bf16 training), speed (s/iter and peak memory at the paper's configuration, predict memory), bench (make bench's
#   GPU rows). On an H200 (2026-12-04) they took 452 s, before the speed runs with each buffer key off were added
#   (docs/performance.md, "Running the GPU checks")
set -u
T0=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET:-540}
left() { echo $((BUDGET - ($(date +%s) - T0))); }
# in_budget <seconds the check needs at least> <name>: 0 when there is time, else says the check is skipped
want() { case " ${GPU_CHECK_SECTIONS:-tests det mixed speed bench} " in *" $1 "*) return 0;; esac; return 1; }
in_budget() { [ "$(left)" -ge "$1" ] && return 0; say "$2: skipped (time budget: $(left) s left of $BUDGET)"; return 1; }
cd "$(dirname "$0")/.."
O=${1:-out/gpu_checks}
mkdir -p "$O"
S="$O/summary.txt"
: > "$S"
# on a device call ($OUT set), whatever way the script ends: summary.txt and the text logs as one archive (a call
# brings back at most 8 files; weights, volumes and batches stay behind)
bring_back() {
  [ -n "${OUT:-}" ] || return 0
  cp "$S" "$OUT/summary.txt"
  (cd "$O" && find . -type f \( -name '*.log' -o -name '*.out' -o -name '*.err' -o -name 'out' -o -name 'err' -o -name 'out2' \
     -o -name 'err2' -o -name '*.txt' -o -name '*.cfg' -o -name '*.data' \) -size -4M) \
    | tar -C "$O" -czf "$OUT/gpu_checks_logs.tar.gz" -T - 2>/dev/null
}
trap bring_back EXIT
# dash runs no EXIT trap on a signal, and runs a signal's trap only once its foreground command returns: the long
# checks run in the background under fgw, so that a SIGTERM (the call's limit) ends the check and exits at once
CH=""
trap '[ -z "$CH" ] || kill -TERM "$CH" 2>/dev/null; exit 143' TERM INT HUP
fgw() { "$@" & CH=$!; wait "$CH"; fr=$?; CH=""; return $fr; }
IT=${GPU_CHECK_ITERS:-20}
# each line goes to $OUT at once too, so that a call cut off at its limit (no EXIT trap then) still brings it back
say() { echo "$*" | tee -a "$S"; [ -z "${OUT:-}" ] || cp "$S" "$OUT/summary.txt" 2>/dev/null || true; }
# watch <pid> [samples file]: the largest memory.used (MiB, whole GPU) while that process runs, sampled every 0.1 s
# (each sample also appended to the file when one is named); waits for it and leaves its exit code in $rc
watch() {
  m=n/a
  [ -z "${2:-}" ] || : > "$2"
  while kill -0 "$1" 2>/dev/null; do
    u=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1)
    case $u in ''|*[!0-9]*) sleep 0.1; continue;; esac   # "[N/A]" (MIG) or nothing: no sample
    [ -z "${2:-}" ] || echo "$u" >> "$2"
    { [ "$m" = n/a ] || [ "$u" -gt "$m" ]; } && m=$u; sleep 0.1
  done
  wait "$1"; rc=$?
  echo "$m"
}
# late_peak <samples file>: the largest sample of the last third (the steady iterations, after start-up and the
# cuDNN algorithm search); n/a without samples
late_peak() { awk '{ v[NR] = $1 } END { m = "n/a"; for(i = int(2 * NR / 3) + 1; i <= NR; ++i) if(m == "n/a" || v[i] > m) m = v[i]; print m }' "$1" 2>/dev/null || echo n/a; }
say "machine: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1); $(nproc) cores; $(date -u)"

# 0. the GPU build: from the kit that scripts/gpu_kit.sh packed elsewhere when there is one (a GPU machine without
#    OpenBLAS, NIfTI, HDF5 and cairo cannot build), else built here (the CUDA toolkit, cuDNN and those -dev packages)
KIT=${GPU_KIT:-.slot/gpu-kit.tar.xz}
R=${GPU_KIT_ROOT:-.}   # where the kit is unpacked (scripts/gpu_kit.sh); the build used is $R/build/gpu
PREBUILT=""
PRE_LD=${LD_LIBRARY_PATH-}   # what PyTorch runs with in the bench (the kit's path below is for our programs)
if [ -f "$KIT" ]; then
  if ! E=$(sh scripts/gpu_kit.sh unpack "$KIT" 2> "$O/build.log"); then say "build: kit $KIT FAILED to unpack (see build.log)"; exit 1; fi
  eval "$E"
  PREBUILT=$R/build/gpu-kit/kit/bench
  say "build: from the kit ($(tail -1 "$O/build.log"))"
  KC=$(sed -n 's/^commit //p' "$R/build/gpu-kit/kit/MANIFEST" 2>/dev/null); HC=$(git rev-parse --short HEAD 2>/dev/null || true)
  # the files between the two commits that the build does not read (docs/, *.md) do not stale the kit
  if [ -n "$KC" ] && [ -n "$HC" ] && [ "$KC" != "$HC" ]; then
    if KD=$(git diff --name-only "$KC" HEAD -- 2>/dev/null) && [ -z "$(printf '%s\n' "$KD" | grep -vE '^(docs/|.*\.md$)' | grep .)" ]; then
      say "build: the kit was packed at commit $KC; the tree is at $HC, which differs from it only in documentation"
    else say "build: WARNING: the kit was packed at commit $KC, the tree is at $HC (repack: sh scripts/gpu_kit.sh pack)"; fi
  fi
elif ! timeout 300 make -j"$(nproc)" GPU=1 > "$O/build.log" 2>&1; then
  say "build: FAILED (see build.log; without compiler libraries here, carry a kit: sh scripts/gpu_kit.sh pack)"; exit 1
else say "build: ok"; fi
D=$R/build/gpu/darknet
if ldd "$D" | grep -q 'not found'; then say "build: libraries not found: $(ldd "$D" | grep 'not found' | tr -d '\t' | tr '\n' ';')"; exit 1; fi

# 1. the C tests with the GPU build (the layer tests compare each CUDA kernel with the CPU reference; test_keys runs
#    the key table's edge values through ./darknet, on the GPU); the shell tests exercise the CPU side and stay in CI
: > "$O/tests.log"
if want tests; then
[ -n "$PREBUILT" ] || make -j"$(nproc)" GPU=1 tests-build > "$O/tests-build.log" 2>&1
for t in "$R"/build/gpu/tests/test_*; do
  echo "== $t" >> "$O/tests.log"
  # line-buffered, so that Darknet's "CUDA Error" line before its abort reaches the log
  fgw timeout 180 stdbuf -oL "$t" >> "$O/tests.log" 2>> "$O/tests.err" || { trc=$?; echo "FAIL ${t##*/}: exit $trc" >> "$O/tests.log"; }
done
say "C tests on the GPU: $(grep -c '^PASS' "$O/tests.log") passed, $(grep -c '^FAIL' "$O/tests.log") failed, $(grep -c '^SKIP' "$O/tests.log") skipped"
grep '^FAIL' "$O/tests.log" | head -20 >> "$S"
fi

# 2. a tiny data set and the demo model
$D seg3d synth "$O/data" 6 -size 16 32 32 -seed 5 > /dev/null 2>&1
# a constant learning rate, so a run stopped with -max_batches and resumed follows the same schedule as one left alone
sed -e 's/^policy=.*/policy=constant/' cfg/dbisl-tiny.cfg > "$O/tiny.cfg"
run() { # name, extra flags...: dbisl-tiny on the tiny set, weights into $O/<name>
  n=$1; shift
  mkdir -p "$O/$n"
  A=$(cd "$O/data" && pwd)
  printf 'labeled = %s/labeled.list\nunlabeled = %s/unlabeled.list\nvalid = %s/valid.list\nroot = %s\nimage = %%s/image.nii.gz\nlabel = %%s/label.nii.gz\nbackup = %s\n' \
    "$A" "$A" "$A" "$A" "$(cd "$O/$n" && pwd)" > "$O/$n/d.data"
  timeout 120 $D seg3d train "$O/$n/d.data" "$O/tiny.cfg" -clear -seed 5 "$@" > "$O/$n/out" 2> "$O/$n/err"
}

# keyoff <key> <folder> <what> <log pattern> [<run to compare with> <flags>...]: dbisl-tiny with <key>=0 against det1
# (or the run named), deterministic, byte compare of the final weights (used by the det and mixed sections)
keyoff() {
  k=$1; f=$2; w=$3; p=$4; ref=${5:-det1}; [ $# -ge 5 ] && shift 5 || shift $#
  sed -e "s/^\[net\]$/[net]\n$k=0/" "$O/tiny.cfg" > "$O/tiny-$f.cfg"
  mkdir -p "$O/$f"
  sed "s|^backup = .*|backup = $(cd "$O/$f" && pwd)|" "$O/$ref/d.data" > "$O/$f/d.data"
  timeout 120 $D seg3d train "$O/$f/d.data" "$O/tiny-$f.cfg" -clear -seed 5 -deterministic -max_batches "$IT" "$@" > "$O/$f/out" 2> "$O/$f/err"
  if cmp -s "$O/$f/tiny-${f}_final.weights" "$O/$ref/tiny_final.weights"; then say "$w: identical to separate buffers ($(grep -o "$p" "$O/$ref/err" | head -1))"
  else say "$w: DIFFER from separate buffers (deterministic, $(ls "$O/$f" | tr '\n' ' '))"; fi
}

if want det; then
# the softmin transform at the largest kernel on the GPU (it was refused before the kernel limit had one home)
sed -e 's/^max_batches=.*/max_batches=4/; s/^kernel=3$/kernel=15/' cfg/dbisl-tiny.cfg > "$O/dt15.cfg"
timeout 60 $D seg3d train "$O/data/synth.data" "$O/dt15.cfg" -clear > "$O/dt15.out" 2> "$O/dt15.err"
say "softmin kernel 15 on the GPU: exit $? ($(grep -c '^[0-9]*:' "$O/dt15.out") iterations)"

# 3. deterministic mode: two runs at the same seed, byte-identical weights
run det1 -deterministic -max_batches "$IT"
run det2 -deterministic -max_batches "$IT"
if cmp -s "$O/det1/tiny_final.weights" "$O/det2/tiny_final.weights"; then say "deterministic: two runs identical"
else say "deterministic: runs DIFFER"; fi
run nondet1 -max_batches "$IT"
run nondet2 -max_batches "$IT"
if cmp -s "$O/nondet1/tiny_final.weights" "$O/nondet2/tiny_final.weights"; then say "default mode: two runs identical"
else say "default mode: two runs differ (expected without -deterministic)"; fi

# 3a. when a C test failed or the deterministic run left no final weights: compute-sanitizer's memcheck on 2 iterations
#     of dbisl-tiny (deterministic, so no cudnnFind trials), its first reports into the summary
CS=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null | head -1)
if [ -n "$CS" ] && { grep -q '^FAIL' "$O/tests.log" || [ ! -f "$O/det1/tiny_final.weights" ]; } && in_budget 150 "memcheck"; then
  mkdir -p "$O/memcheck"
  sed "s|^backup = .*|backup = $(cd "$O/memcheck" && pwd)|" "$O/det1/d.data" > "$O/memcheck/d.data"
  timeout 120 "$CS" --tool memcheck --error-exitcode 9 --print-limit 20 $D seg3d train "$O/memcheck/d.data" "$O/tiny.cfg" \
    -clear -seed 5 -deterministic -max_batches 2 > "$O/memcheck/out" 2> "$O/memcheck/err"
  say "memcheck (dbisl-tiny, 2 iterations): exit $?; $(grep -h -m4 -E 'Invalid|Program hit|ERROR SUMMARY' "$O/memcheck/out" "$O/memcheck/err" | tr '\n' ';')"
fi

# 3b/3c/3d. buffer sharing on the GPU, each against separate buffers in deterministic mode: shared gradient buffers
#     (src/delta_share.h), in-place [shortcut]s (src/shortcut_share.h; the conv before each takes its activation
#     gradient from x_norm on the GPU) and outputs rebuilt before backward (src/output_recompute.h: the rebuild
#     kernels c3_recompute_output_gpu and rebuild_dropout_seeded_gpu)
keyoff share_deltas noshare "shared gradient buffers" '[0-9.]* MiB shared.*'
keyoff inplace_shortcut noinplace "in-place [shortcut]s" 'in place: .*'
keyoff recompute_outputs norecompute "outputs rebuilt before backward" 'rebuilt before backward: [0-9.]* MiB shared by lifetime (one per layer: [0-9.]* MiB'

# 3e. training on the GPU against the CPU (dbisl-tiny, fp32, deterministic, the same seed): the losses of the first
#     iterations agree to float precision when every device buffer is wired as its host twin (src/buffer_mirror.h)
run gpu32 -deterministic -max_batches 3 -precision fp32
run cpu32 -deterministic -max_batches 3 -nogpu
losses() { sed -n 's/^\([123]\): \([-0-9.]*\),.*/\2/p' "$O/$1/out" | tr '\n' ' '; }
LG=$(losses gpu32) LC=$(losses cpu32)
say "training on the GPU (fp32) vs the CPU, losses of iterations 1-3: gpu $LG; cpu $LC; largest relative difference $(
  printf '%s\n%s\n' "$LG" "$LC" | awk 'NR == 1 { n = split($0, g) } NR == 2 { m = split($0, c); d = -1
    for(i = 1; i <= n && i <= m; ++i){ r = (g[i] - c[i]) / (c[i] < 0 ? -c[i] : c[i] + 1e-30); if(r < 0) r = -r; if(r > d) d = r }
    print (n == 3 && m == 3) ? sprintf("%.2g", d) : "n/a (a run did not train 3 iterations)" }')"

# 4. exact resume on the GPU in deterministic mode: stop at IT/2, resume to IT
run part -deterministic -max_batches $((IT / 2))
cp "$O/part/tiny_last.weights" "$O/part/w.weights"; cp "$O/part/tiny_last.weights.state" "$O/part/w.weights.state" 2>/dev/null
timeout 120 $D seg3d train "$O/part/d.data" "$O/tiny.cfg" "$O/part/w.weights" -seed 5 -deterministic -max_batches "$IT" > "$O/part/out2" 2> "$O/part/err2"
if cmp -s "$O/part/tiny_final.weights" "$O/det1/tiny_final.weights"; then say "resume (deterministic): identical to the uninterrupted run"
else say "resume (deterministic): DIFFERS from the uninterrupted run ($(grep -o 'resuming [a-z]*' "$O/part/err2" | head -1))"; fi

# 4a. seg3d predict on the GPU (the inference-shaped network, never run on a device) against the CPU: dbisl-tiny's
#     deterministic weights, fp32, the cfg's batch and 1 window per pass; the largest probability difference
if [ -f "$O/det1/tiny_final.weights" ]; then
  IMG=$(ls "$O"/data/case_*/image.nii.gz | head -1)
  pr() { n=$1; shift; timeout 60 $D seg3d predict "$O/tiny.cfg" "$O/det1/tiny_final.weights" "$IMG" "$O/pred-$n.nii.gz" -prob "$O/prob-$n.nii" "$@" > "$O/pred-$n.out" 2>&1; echo $?; }
  e1=$(pr cpu -nogpu); e2=$(pr gpu -precision fp32); e3=$(pr gpu1 -precision fp32 -batch 1)
  pd() { python3 - "$O/prob-$1.nii" "$O/prob-cpu.nii" 2>&1 <<'PY' | tail -1
import array, struct, sys
def r(p):
    b = open(p, "rb").read(); a = array.array("f"); a.frombytes(b[int(struct.unpack("<f", b[108:112])[0]):]); return a
a, b = r(sys.argv[1]), r(sys.argv[2])
print("max |p_gpu - p_cpu| %.3g over %d voxels" % (max(abs(x - y) for x, y in zip(a, b)), len(a)) if len(a) == len(b) else "sizes differ")
PY
  }
  say "predict on the GPU vs the CPU (dbisl-tiny, fp32; exit codes cpu $e1, gpu $e2, gpu -batch 1 $e3): $(pd gpu); -batch 1: $(pd gpu1)"
fi

fi

if want mixed && in_budget 60 "mixed precision"; then
# 4b. mixed precision on dbisl-tiny: the final loss of fp16 (dynamic loss scale) and bf16 against fp32, the steps
#     fp16 skipped, and exact resume in fp16 deterministic mode (the loss scale travels in the .state)
final_loss() { awk -F', ' '/^[0-9]+:/ { split($1, a, " "); l = a[2] } END { print l }' "$O/$1/out"; }
run p32 -deterministic -precision fp32 -max_batches "$IT"
run p16 -deterministic -precision fp16 -max_batches "$IT"
run pb16 -deterministic -precision bf16 -max_batches "$IT"
say "dbisl-tiny final loss after $IT iterations: fp32 $(final_loss p32), fp16 $(final_loss p16) ($(grep -o '[0-9]* steps skipped' "$O/p16/err" || echo 'no summary')), bf16 $(final_loss pb16)"
# batch norm's 16-bit x_norm at bf16: the outputs rebuilt from it are the forward's, so the same bits as separate buffers
keyoff recompute_outputs norecompute16 "outputs rebuilt from 16-bit x_norm (bf16)" 'rebuilt before backward: [0-9.]* MiB shared' pb16 -precision bf16
run p16part -deterministic -precision fp16 -max_batches $((IT / 2))
cp "$O/p16part/tiny_last.weights" "$O/p16part/w.weights"; cp "$O/p16part/tiny_last.weights.state" "$O/p16part/w.weights.state" 2>/dev/null
timeout 120 $D seg3d train "$O/p16part/d.data" "$O/tiny.cfg" "$O/p16part/w.weights" -seed 5 -deterministic -precision fp16 -max_batches "$IT" > "$O/p16part/out2" 2> "$O/p16part/err2"
if cmp -s "$O/p16part/tiny_final.weights" "$O/p16/tiny_final.weights"; then say "resume (fp16, deterministic): identical to the uninterrupted run"
else say "resume (fp16, deterministic): DIFFERS from the uninterrupted run"; fi

fi

if ! nvidia-smi -L > /dev/null 2>&1; then say "no GPU: speed checks skipped"; exit 0; fi
if want speed && in_budget 120 "speed at the paper's configuration"; then
# 5. speed at the paper's configuration: fp32, tf32, fp16, bf16 (seconds per iteration after warm-up; the cost of
#    -deterministic, of the buffer keys and of NCDHW copies in section 7, after the bench)
$D seg3d synth "$O/big" 4 -size 80 112 112 -seed 6 > /dev/null 2>&1
sed -e 's/^max_batches=.*/max_batches=1000/' cfg/dbisl-vnet.cfg > "$O/vnet.cfg"
speed() { # label, cfg, flags...: s/iter; the run's peak GPU memory into $O/speed-<label>.peak
  l=$1; c=$2; shift 2
  timeout 75 $D seg3d train "$O/big/synth.data" "$c" -clear -max_batches "$IT" "$@" > "$O/speed-$l.out" 2> "$O/speed-$l.err" &
  watch $! "$O/speed-$l.samples" > "$O/speed-$l.peak"
  # mean of the per-iteration seconds (5th field) after the first 5 iterations (after the first half of a run of
  # fewer than 10, GPU_CHECK_ITERS; n/a without iterations)
  awk -F', ' '/^[0-9]+:/ { split($4, a, " "); v[++n] = a[1] } END { w = n >= 10 ? 5 : int(n / 2); for(i = w + 1; i <= n; ++i) t += v[i]; if(n > w) printf "%.3f", t / (n - w); else printf "n/a" }' "$O/speed-$l.out"
}
# where an iteration's GPU time goes (-benchmark_layers times the second iteration, synchronised per layer, which the
# mean above leaves out): milliseconds per layer type, forward + backward, largest first, then the totals line
profile() {
  awk '/^benchmark_layers:/ { on = 1; next } on && $1 ~ /^[0-9]+$/ { t[$2] += $3 + $4 } /^total forward/ { tot = $0; on = 0 }
       END { for(k in t) printf "%s %.1f\n", k, t[k]; print "~ " tot }' "$O/speed-$1.out" | sort -k2,2nr | tr '\n' ';' | sed 's/~ //'
}
V="$O/vnet.cfg"
f32=$(speed fp32 "$V" -precision fp32); t32=$(speed tf32 "$V" -precision tf32 -benchmark_layers)
h16=$(speed fp16 "$V" -precision fp16 -benchmark_layers); b16=$(speed bf16 "$V" -precision bf16)
pk() { echo "$(cat "$O/speed-$1.peak" 2>/dev/null) (last third of the run $(late_peak "$O/speed-$1.samples"))"; }
say "dbisl-vnet 112x112x80 batch 2+2 s/iter: fp32 $f32, tf32 $t32, fp16 $h16, bf16 $b16"
say "dbisl-vnet peak GPU memory.used, MiB (idle $(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)): fp32 $(pk fp32), tf32 $(pk tf32), fp16 $(pk fp16), bf16 $(pk bf16)"
srch() { sed -n 's/^cuDNN algorithm search: //p' "$O/speed-$1.err" | head -1; }
say "cuDNN algorithm search at start-up: fp32 $(srch fp32); tf32 $(srch tf32); fp16 $(srch fp16); bf16 $(srch bf16)"
thn() { sed -n 's/^direct kernels for thin layers: //p' "$O/speed-$1.err" | head -1; }
say "direct kernels for thin layers (layers/conv3d_thin.h), taken against cuDNN's choice: fp32 $(thn fp32); tf32 $(thn tf32); fp16 $(thn fp16); bf16 $(thn bf16)"
mem() { sed -n 's/^GPU memory in use on the device (whole device, CUDA context included): \([0-9-]*\) MiB once the network was built, \([0-9-]*\) MiB after the first iteration$/\1 built, \2 after iteration 1/p' "$O/speed-$1.err" | head -1; }
say "device memory in use (cudaMemGetInfo, whole device), MiB: fp32 $(mem fp32); tf32 $(mem tf32); fp16 $(mem fp16); bf16 $(mem bf16)"
say "fp16 layers that fell back from channels-last to NCDHW copies: $(grep -c 'keeps NCDHW copies' "$O/speed-fp16.err"); bf16: $(grep -c 'keeps NCDHW copies' "$O/speed-bf16.err")"
say "tf32 per layer type, ms of the second iteration: $(profile tf32)"
say "fp16 per layer type, ms of the second iteration: $(profile fp16)"
SPEED_RAN=1
fi

VW=$(ls -t "$O"/big/backup/vnet_final.weights "$O"/big/backup/vnet_*.weights 2>/dev/null | head -1)   # a timed-out speed run leaves no _final
if want speed && [ -n "$VW" ] && [ -f "$O/vnet.cfg" ] && in_budget 60 "predict peak memory"; then
# 5b. peak GPU memory of predict (the inference-shaped network: no deltas, no updates) on an 88x256x256 volume with
#     the weights of the speed runs: the cfg's 4 windows per forward pass and -batch 1 (memory.used sampled each 0.1 s)
$D seg3d synth "$O/vol" 1 -size 88 256 256 -seed 7 > /dev/null 2>&1
peak() { # flags...: the largest memory.used (MiB) while predict runs, and its exit code and time
  s0=$(date +%s.%N)
  timeout 60 $D seg3d predict "$O/vnet.cfg" "$VW" "$O/vol/case_000/image.nii.gz" "$O/vol/pred$2.nii.gz" "$@" > "$O/predict$2.out" 2> "$O/predict$2.err" &
  watch $! > "$O/predict$2.peak"
  echo "$(cat "$O/predict$2.peak") MiB (exit $rc, $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $s0 }") s)"
}
say "predict 88x256x256 peak GPU memory (idle $(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1) MiB): -batch 4 $(peak -batch 4), -batch 1 $(peak -batch 1)"
fi

# 6. make bench's GPU rows (ours vs PyTorch: FP32, TF32, AMP bf16/fp16 with channels_last_3d; peak memory; sliding
#    window; gpu_train_ratio), with the torch already on the machine (no PyPI there)
if want bench && in_budget 90 "bench GPU rows"; then
fgw timeout "$(left)" env BENCH_TORCH_LD="$PRE_LD" BENCH_GPU_ONLY=1 BENCH_BUILD="$R/build/gpu" BENCH_PREBUILT="$PREBUILT" BENCH_TORCH_INSTALL="${BENCH_TORCH_INSTALL:-0}" sh bench/run.sh > "$O/bench.txt" 2> "$O/bench.err"
say "bench GPU rows: exit $? ($(sed -n 's/^== make bench: //p' "$O/bench.txt"))"
mkdir -p "$O/bench-logs" && cp tests/out/bench/*.log tests/out/bench/*.txt "$O/bench-logs/" 2>/dev/null
grep -E '^(gpu|# torch)' "$O/bench.txt" >> "$S"
[ -s "$O/bench.txt" ] || grep '^bench result ' "$O/bench.err" >> "$S"   # cut short: the results it had
[ -z "${OUT:-}" ] || cp "$S" "$OUT/summary.txt"
fi

# 7. what the time left allows, each run said as it ends: the cost of -deterministic, of separate buffers (all three
#    sharing keys off, then each alone) and of NCDHW 16-bit copies
if [ "${SPEED_RAN:-0}" = 1 ]; then
extra() { # label, cfg, what, flags...: one speed run when 30 s are left
  in_budget 30 "speed, $3" || return 0
  l=$1; c=$2; w=$3; shift 3
  say "dbisl-vnet s/iter, $w: $(speed "$l" "$c" "$@") (peak MiB: $(pk "$l"))"
}
extra det "$V" "tf32 -deterministic (tf32: $t32)" -precision tf32 -deterministic
sed -e 's/^\[net\]$/[net]\nshare_deltas=0\ninplace_shortcut=0\nrecompute_outputs=0/' "$V" > "$O/vnet0.cfg"
extra tf32sep "$O/vnet0.cfg" "tf32 with separate buffers (share_deltas=0 inplace_shortcut=0 recompute_outputs=0)" -precision tf32
sed -e 's/^\[net\]$/[net]\nchannels_last=0/' "$V" > "$O/vnetnc.cfg"
extra fp16nc "$O/vnetnc.cfg" "fp16 with NCDHW 16-bit copies (channels_last=0; fp16: $h16)" -precision fp16
for k in share_deltas inplace_shortcut recompute_outputs; do
  sed -e "s/^\[net\]$/[net]\n$k=0/" "$V" > "$O/vnet-$k.cfg"
  extra "tf32-$k" "$O/vnet-$k.cfg" "tf32 with $k=0 alone" -precision tf32
done
fi
