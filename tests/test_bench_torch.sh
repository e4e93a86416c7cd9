#!/bin/sh
# The PyTorch side of `make bench` on the CPU: training in FP32 and under the mixed-precision recipe of the GPU anchor (autocast bf16, channels_last_3d; fp16 with a GradScaler where the CPU torch has fp16 autocast), and its refusals.
PY=${TORCH_PYTHON:-/usr/bin/python3}
case ${BUILD:-} in *-san*) echo "SKIP bench_torch: sanitizer build (PyTorch alone runs here, none of our code; make test runs it)"; exit 0;; esac
if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
  echo "SKIP bench_torch: $PY cannot import torch and numpy (Debian: apt-get install python3-torch)"; exit 0
fi
T=tests/out/bench_torch.$$
rm -rf "$T"; mkdir -p "$T"
B=bench/dbisl_torch.py
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }
finite() { awk -v x="$1" 'BEGIN{ exit !(x + 0 == x + 0 && x != "" && x != "nan" && x != "inf" && x != "-inf") }'; }
"$PY" "$B" batches 16 16 16 4 2 2 "$T/b.f32" 2>"$T/batches.err"
n=$(wc -c < "$T/b.f32" 2>/dev/null || echo 0)
# 2 batches x (4 images of 16^3 + 4 truth rows of 16^3 + 1) floats
if [ "$n" = $(( 2 * (4 * 4096 + 4 * 4097) * 4 )) ]; then echo "PASS bench_torch_batches"
else echo "FAIL bench_torch_batches: $n bytes ($(tail -1 "$T/batches.err"))"; fi
for amp in none bf16 fp16; do
  e=""; [ "$amp" != none ] && e=$amp
  out=$(TORCH_AMP=$e "$PY" "$B" train 16 16 16 4 4 2 2 1 1 cpu "$T/b.f32" 2 2>"$T/train-$amp.err" | tail -1)
  if [ "$amp" = fp16 ] && grep -q "AutocastCPU only support Bfloat16" "$T/train-$amp.err"; then
    echo "SKIP bench_torch_train_fp16: this torch ($("$PY" -c 'import torch; print(torch.__version__)')) has no fp16 autocast on the CPU"; continue
  fi
  s=$(kv "$out" s_per_iter) l=$(kv "$out" loss) a=$(kv "$out" amp)
  if finite "$s" && finite "$l" && [ "$a" = "$amp" ] && [ "$(kv "$out" params)" = 773908 ] \
     && awk -v r="$(kv "$out" rss_mib)" 'BEGIN{ exit !(r + 0 > 100) }'; then echo "PASS bench_torch_train_$amp ($out)"
  else echo "FAIL bench_torch_train_$amp: '$out' $(tail -2 "$T/train-$amp.err" | tr '\n' ' ')"; fi
done
out=$(TORCH_AMP=fp8 "$PY" "$B" train 16 16 16 4 4 2 1 0 1 cpu "$T/b.f32" 2 2>/dev/null); rc=$?
if [ $rc = 2 ] && [ "$(kv "$out" error)" = bad_TORCH_AMP_fp8 ]; then echo "PASS bench_torch_bad_amp"
else echo "FAIL bench_torch_bad_amp: exit $rc, '$out'"; fi
rm -rf "$T"
