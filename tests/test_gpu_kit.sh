#!/bin/sh
# scripts/gpu_kit.sh on this machine's build: pack, unpack into a scratch root, and the unpacked darknet and a test program run with the LD_LIBRARY_PATH that unpack prints; the kit holds every library ldd names except the C library's and CUDA's. scripts/gpu_checks.sh runs its det section with that kit.
BUILD=${BUILD:-build/cpu}
cd "$(dirname "$0")/.."
if [ ! -x "$BUILD/darknet" ]; then echo "SKIP gpu_kit: no build at $BUILD"; exit 0; fi
case $BUILD in *-san*) echo "SKIP gpu_kit: a sanitizer build is not what a kit carries (the bench drivers link without -fsanitize)"; exit 0;; esac
for c in strip ldd xz; do command -v $c > /dev/null 2>&1 || { echo "SKIP gpu_kit: no $c here"; exit 0; }; done
T=tests/out/gpu_kit
rm -rf "$T"; mkdir -p "$T"
if ! GPU_KIT_XZ=-0 sh scripts/gpu_kit.sh pack "$BUILD" "$T/kit.tar.xz" > "$T/pack.out" 2>&1; then
  echo "FAIL gpu_kit_pack: $(tail -3 "$T/pack.out" | tr '\n' ';')"; exit 0
fi
xz -dc "$T/kit.tar.xz" | tar -tf - > "$T/list"
# every library the build's darknet loads, the C library's and CUDA's aside, is in the kit
miss=$(ldd "$BUILD/darknet" | awk '$2 == "=>" && $3 ~ /^\// { print $1 }' \
       | grep -v -E '^(libc|libm|libdl|libpthread|librt|libresolv)\.so|^libcu(da|dart|blas|blasLt|rand|dnn)' \
       | while read -r l; do grep -q "^kit/lib/$l\$" "$T/list" || echo "$l"; done | tr '\n' ' ')
if [ -z "$miss" ] && grep -q '^kit/darknet$' "$T/list" && grep -q '^kit/bench/bench_train$' "$T/list" \
   && [ "$(grep -c '^kit/tests/test_' "$T/list")" -eq "$(ls "$BUILD"/tests/test_* | wc -l)" ]; then
  echo "PASS gpu_kit_pack ($(head -1 "$T/pack.out"))"
else echo "FAIL gpu_kit_pack (libraries not in the kit: '$miss')"; fi
E=$(GPU_KIT_ROOT="$T/root" sh scripts/gpu_kit.sh unpack "$T/kit.tar.xz" 2> "$T/unpack.err"); rc=$?
out=$(eval "$E" && "$T/root/darknet" seg3d synth "$T/syn" 2 -size 16 32 32 -seed 1 2>&1)
npass=$(eval "$E" && "$T/root/build/gpu/tests/test_registry" 2>&1 | grep -c '^PASS')
if [ $rc -eq 0 ] && printf '%s\n' "$E" | grep -q '^export LD_LIBRARY_PATH=.*build/gpu-kit/lib' && [ -f "$T/syn/synth.data" ] \
   && [ "$npass" -gt 0 ] && [ -L "$T/root/darknet" ] && grep -q "gpu_kit: commit" "$T/unpack.err"; then
  echo "PASS gpu_kit_unpack_runs (test_registry: $npass passed; $(tail -1 "$T/unpack.err"))"
else echo "FAIL gpu_kit_unpack_runs (rc=$rc: $(tail -2 "$T/unpack.err" | tr '\n' ';') $out)"; fi
# env on the unpacked kit prints the same line again (later calls on the same machine)
if [ "$(GPU_KIT_ROOT="$T/root" sh scripts/gpu_kit.sh env 2>/dev/null)" = "$E" ]; then echo "PASS gpu_kit_env"
else echo "FAIL gpu_kit_env"; fi
# scripts/gpu_checks.sh's det section with this kit (the CPU fallback where there is no GPU): its control flow, and
# determinism, exact resume and predict against -nogpu on whatever device the kit runs
if GPU_KIT="$T/kit.tar.xz" GPU_KIT_ROOT="$T/root" GPU_CHECK_SECTIONS=det GPU_CHECK_ITERS=4 OUT= \
   sh scripts/gpu_checks.sh "$T/checks" > "$T/checks.out" 2>&1 \
   && grep -q '^deterministic: two runs identical' "$T/checks/summary.txt" \
   && grep -q '^resume (deterministic): identical' "$T/checks/summary.txt" \
   && grep -q '^shared gradient buffers: identical' "$T/checks/summary.txt" \
   && grep -q 'max |p_gpu - p_cpu| 0 over' "$T/checks/summary.txt" \
   && ! grep -q '^C tests' "$T/checks/summary.txt"; then
  echo "PASS gpu_checks_det_section ($(grep -c '' "$T/checks/summary.txt") summary lines)"
else echo "FAIL gpu_checks_det_section: $(tail -4 "$T/checks.out" | tr '\n' ';')"; fi
