#!/bin/sh
# Shared buffers change no bit: shared gradient buffers (src/delta_share.h, [net] share_deltas), in-place [shortcut]s (src/shortcut_share.h, [net] inplace_shortcut) and outputs rebuilt before backward (src/output_recompute.h, [net] recompute_outputs) give byte-identical weights, .state and predictions with the key at 1 (the default) and 0, and the log and seg3d params show the buffers shrink.
DARKNET=${DARKNET:-./darknet}
cd "$(dirname "$0")/.."
T=tests/out/buffer_share
rm -rf "$T"; mkdir -p "$T"
export OMP_NUM_THREADS=2
"$DARKNET" seg3d synth "$T/small" 6 -size 16 32 32 -seed 5 > /dev/null 2>&1 && "$DARKNET" seg3d synth "$T/mini" 6 -size 32 48 48 -seed 7 > /dev/null 2>&1 \
  || { echo "FAIL buffer_share_setup: seg3d synth failed"; exit 0; }
# same <key> <log line> <name> <cfg> <data dir> <iterations>: trains the cfg with <key>=1 and <key>=0, compares the
# final weights and .state, and the predictions of one validation phantom; <log line> is printed at 1 only
same() {
  key=$1; logline=$2; name=$3; cfg=$4; data=$5; it=$6; d="$T/$key"
  for v in 1 0; do
    mkdir -p "$d/$name$v"
    sed "s/^\[net\]$/[net]\n$key=$v/" "$cfg" > "$d/$name$v/$name.cfg"
    sed "s|^backup.*|backup = $(pwd)/$d/$name$v|" "$data/synth.data" > "$d/$name$v/s.data"
    sed -i "s|^root = .*|root = $(pwd)/$data|; s|= \([a-z]*\.list\)$|= $(pwd)/$data/\1|" "$d/$name$v/s.data"
    "$DARKNET" seg3d train "$d/$name$v/s.data" "$d/$name$v/$name.cfg" -seed 3 -max_batches "$it" -clear > "$d/$name$v/out" 2> "$d/$name$v/err"
    img="$data/$(head -1 "$data/valid.list")/image.nii.gz"
    "$DARKNET" seg3d predict "$d/$name$v/$name.cfg" "$d/$name$v/${name}_final.weights" "$img" "$d/$name$v/pred.nii.gz" \
      > /dev/null 2>> "$d/$name$v/err"
  done
  line=$(grep "^$logline" "$d/${name}1/err" | head -1)
  if [ -f "$d/${name}1/${name}_final.weights" ] && cmp -s "$d/${name}1/${name}_final.weights" "$d/${name}0/${name}_final.weights" \
     && cmp -s "$d/${name}1/${name}_final.weights.state" "$d/${name}0/${name}_final.weights.state" \
     && [ -f "$d/${name}1/pred.nii.gz" ] && cmp -s "$d/${name}1/pred.nii.gz" "$d/${name}0/pred.nii.gz" \
     && [ -n "$line" ] && ! grep -q "^$logline" "$d/${name}0/err"; then
    echo "PASS buffer_share_${key}_identical_$name ($it iterations; $line)"
  else echo "FAIL buffer_share_${key}_identical_$name: $(tail -1 "$d/${name}1/err") / $(tail -1 "$d/${name}0/err")"; fi
}
# mini <same arguments>: a case on the la-mini cfgs (32x48x48 phantoms); a sanitizer build (make asan) runs the
# dbisl-tiny cases of each key, which take every code path of the three mechanisms, and leaves these to make test
mini() {
  case ${BUILD:-} in *-san*) echo "SKIP buffer_share_$1_identical_$3: sanitizer build (the dbisl-tiny case of the key runs here; this one in make test)";;
  *) same "$@";; esac
}
same share_deltas 'gradient buffers:' tiny cfg/dbisl-tiny.cfg "$T/small" 10
mini share_deltas 'gradient buffers:' minisup cfg/la-mini-sup.cfg "$T/mini" 4
same inplace_shortcut '\[shortcut\] in place:' tiny cfg/dbisl-tiny.cfg "$T/small" 10
mini inplace_shortcut '\[shortcut\] in place:' minidbisl cfg/la-mini-dbisl.cfg "$T/mini" 4
same recompute_outputs 'outputs rebuilt before backward:' tiny cfg/dbisl-tiny.cfg "$T/small" 10
mini recompute_outputs 'outputs rebuilt before backward:' minidbisl cfg/la-mini-dbisl.cfg "$T/mini" 4
mini recompute_outputs 'outputs rebuilt before backward:' minisup cfg/la-mini-sup.cfg "$T/mini" 4
# the predictions above came from inference networks whose outputs share one buffer by forward lifetime at 1 only
d="$T/recompute_outputs/minidbisl"
[ -f "${d}1/err" ] || d="$T/recompute_outputs/tiny"
if grep -q '^outputs of the forward pass: ' "${d}1/err" && ! grep -q '^outputs of the forward pass' "${d}0/err" && cmp -s "${d}1/pred.nii.gz" "${d}0/pred.nii.gz"; then
  echo "PASS output_recompute_inference_identical ($(grep -m1 '^outputs of the forward pass' "${d}1/err"))"
else echo "FAIL output_recompute_inference_identical: $(grep -m1 '^outputs of the forward pass' "${d}1/err")"; fi
# the paper model's inventories below build its full-size network a dozen times: under a sanitizer build (make asan)
# that is most of this file's time, and seg3d params builds it under the sanitizers in test_model_cfgs.sh
case ${BUILD:-} in *-san*) echo "SKIP buffer_share_vnet_inventories: sanitizer build (make test runs them)"; exit 0;; esac
# inventory <key> <field> [<other key>=<value>]: the paper model's <field> MiB in seg3d params with the key at 1 and
# at 0 (and the other key set in both)
inventory() {
  sed "s/^\[net\]$/[net]\n$1=1\n$3/" cfg/dbisl-vnet.cfg > "$T/vnet-$1-1.cfg"
  sed "s/^\[net\]$/[net]\n$1=0\n$3/" cfg/dbisl-vnet.cfg > "$T/vnet-$1-0.cfg"
  for c in "$T/vnet-$1-1.cfg" "$T/vnet-$1-0.cfg"; do
    "$DARKNET" seg3d params "$c" 2>/dev/null | sed -n "s/^buffers at batch .* $2 \([0-9]*\),.*/\1/p"
  done | tr '\n' ' '
}
# the paper's model: gradients shrink to less than half
set -- $(inventory share_deltas gradients)
if [ -n "$2" ] && [ $((2 * $1)) -lt "$2" ]; then echo "PASS delta_share_vnet_inventory (gradients $2 -> $1 MiB)"
else echo "FAIL delta_share_vnet_inventory (gradients '$2' -> '$1' MiB)"; fi
# the placement reaches the bound: the arena is as large as the deltas alive at the busiest backward step
line=$("$DARKNET" seg3d params cfg/dbisl-vnet.cfg 2>&1 | grep '^gradient buffers:')
a=$(printf '%s\n' "$line" | sed -n 's/^gradient buffers: \([0-9.]*\) MiB shared.*/\1/p')
m=$(printf '%s\n' "$line" | sed -n 's/.*alive at once at most: \([0-9.]*\) MiB.*/\1/p')
if [ -n "$a" ] && [ "$a" = "$m" ]; then echo "PASS delta_share_vnet_at_bound ($line)"; else echo "FAIL delta_share_vnet_at_bound ($line)"; fi
# in-place [shortcut]s: the outputs shrink by what the log line reports (the 8 decoder [shortcut]s, 650.8 MiB)
set -- $(inventory inplace_shortcut outputs recompute_outputs=0)
line=$("$DARKNET" seg3d params cfg/dbisl-vnet.cfg 2>&1 | grep '^\[shortcut\] in place:')
s=$(printf '%s\n' "$line" | sed -n 's/.*(\([0-9]*\)\.[0-9] MiB fewer outputs).*/\1/p')
if [ -n "$2" ] && [ -n "$s" ] && [ $(($2 - $1 - s)) -ge -1 ] && [ $(($2 - $1 - s)) -le 1 ] && [ "$s" -gt 600 ]; then
  echo "PASS shortcut_share_vnet_inventory (outputs $2 -> $1 MiB; $line)"
else echo "FAIL shortcut_share_vnet_inventory (outputs '$2' -> '$1' MiB; $line)"; fi
# outputs rebuilt before backward: the outputs shrink by what the log line reports (moved minus the arena), the
# arena is as large as the moved outputs alive at the busiest step, and the whole inventory is at most 5,300 MiB (5,290
# with the skip connections rebuilt between their reads; 5,535 without)
set -- $(inventory recompute_outputs outputs)
line=$("$DARKNET" seg3d params cfg/dbisl-vnet.cfg 2>&1 | grep '^outputs rebuilt before backward:')
a=$(printf '%s\n' "$line" | sed -n 's/^outputs rebuilt before backward: \([0-9]*\)\.[0-9] MiB shared.*/\1/p')
m=$(printf '%s\n' "$line" | sed -n 's/.*one per layer: \([0-9]*\)\.[0-9] MiB;.*/\1/p')
b=$(printf '%s\n' "$line" | sed -n 's/.*alive at once at most: \([0-9]*\)\.[0-9] MiB.*/\1/p')
total=$("$DARKNET" seg3d params cfg/dbisl-vnet.cfg 2>/dev/null | sed -n 's/^buffers at batch .* total \([0-9]*\)$/\1/p')
if [ -n "$2" ] && [ -n "$a" ] && [ -n "$m" ] && [ "$a" = "$b" ] && [ $(($2 - $1 - (m - a))) -ge -2 ] && [ $(($2 - $1 - (m - a))) -le 2 ] \
   && [ $((m - a)) -gt 500 ] && [ -n "$total" ] && [ "$total" -le 4800 ]; then
  echo "PASS output_recompute_vnet_inventory (outputs $2 -> $1 MiB, total $total MiB; $line)"
else echo "FAIL output_recompute_vnet_inventory (outputs '$2' -> '$1' MiB, total '$total' MiB; $line)"; fi
# at precision fp16|bf16 the GPU keeps batch norm's x_norm in 16 bits: seg3d params -precision counts it at half;
# x_norm is most of what is kept for backward (the rest: dropout masks, batch statistics), so the count drops by 45-50 %
kept=$("$DARKNET" seg3d params cfg/dbisl-vnet.cfg 2>/dev/null | sed -n 's/^buffers at batch .* kept for backward \([0-9]*\),.*/\1/p')
h=$("$DARKNET" seg3d params cfg/dbisl-vnet.cfg -precision bf16 2>/dev/null | sed -n 's/^on the GPU at precision bf16: kept for backward \([0-9]*\) MiB.*/\1/p')
n32=$("$DARKNET" seg3d params cfg/dbisl-vnet.cfg -precision tf32 2>/dev/null | grep -c '^on the GPU')
if [ -n "$kept" ] && [ -n "$h" ] && [ $((2 * h)) -ge "$kept" ] && [ $((20 * (kept - h))) -ge $((9 * kept)) ] && [ "$n32" = 0 ]; then
  echo "PASS x_norm_16bit_count (kept for backward $kept MiB, $h MiB at bf16 on the GPU)"
else echo "FAIL x_norm_16bit_count (kept '$kept', at bf16 '$h', lines at tf32 '$n32')"; fi
