#!/bin/sh
# Shared gradient buffers (src/delta_share.h, [net] share_deltas) change no bit of training: cfg/dbisl-tiny.cfg and cfg/la-mini-sup.cfg on phantoms give byte-identical weights and .state with share_deltas=1 (the default) and 0, and the log and seg3d params show the buffers shrink.
DARKNET=${DARKNET:-./darknet}
cd "$(dirname "$0")/.."
T=tests/out/delta_share
rm -rf "$T"; mkdir -p "$T"
export OMP_NUM_THREADS=2
"$DARKNET" seg3d synth "$T/small" 6 -size 16 32 32 -seed 5 > /dev/null 2>&1 && "$DARKNET" seg3d synth "$T/mini" 6 -size 32 48 48 -seed 7 > /dev/null 2>&1 \
  || { echo "FAIL delta_share_setup: seg3d synth failed"; exit 0; }
# same <name> <cfg> <data dir> <iterations>: trains the cfg as it is and with share_deltas=0, compares the results
same() {
  name=$1; cfg=$2; data=$3; it=$4
  for v in 1 0; do
    mkdir -p "$T/$name$v"
    sed "s/^\[net\]$/[net]\nshare_deltas=$v/" "$cfg" > "$T/$name$v/$name.cfg"
    sed "s|^backup.*|backup = $(pwd)/$T/$name$v|" "$data/synth.data" > "$T/$name$v/s.data"
    sed -i "s|^root = .*|root = $(pwd)/$data|; s|= \([a-z]*\.list\)$|= $(pwd)/$data/\1|" "$T/$name$v/s.data"
    "$DARKNET" seg3d train "$T/$name$v/s.data" "$T/$name$v/$name.cfg" -seed 3 -max_batches "$it" -clear > "$T/$name$v/out" 2> "$T/$name$v/err"
  done
  line=$(grep '^gradient buffers:' "$T/${name}1/err")
  if [ -f "$T/${name}1/${name}_final.weights" ] && cmp -s "$T/${name}1/${name}_final.weights" "$T/${name}0/${name}_final.weights" \
     && cmp -s "$T/${name}1/${name}_final.weights.state" "$T/${name}0/${name}_final.weights.state" \
     && [ -n "$line" ] && ! grep -q '^gradient buffers:' "$T/${name}0/err"; then
    echo "PASS delta_share_identical_$name ($it iterations; $line)"
  else echo "FAIL delta_share_identical_$name: $(tail -1 "$T/${name}1/err") / $(tail -1 "$T/${name}0/err")"; fi
}
same tiny cfg/dbisl-tiny.cfg "$T/small" 10
same minisup cfg/la-mini-sup.cfg "$T/mini" 4
# the paper's model: gradients shrink to less than half in seg3d params' inventory
g=$("$DARKNET" seg3d params cfg/dbisl-vnet.cfg 2>/dev/null | sed -n 's/^buffers at batch .*gradients \([0-9]*\),.*/\1/p')
sed "s/^\[net\]$/[net]\nshare_deltas=0/" cfg/dbisl-vnet.cfg > "$T/vnet0.cfg"
g0=$("$DARKNET" seg3d params "$T/vnet0.cfg" 2>/dev/null | sed -n 's/^buffers at batch .*gradients \([0-9]*\),.*/\1/p')
if [ -n "$g" ] && [ -n "$g0" ] && [ $((2 * g)) -lt "$g0" ]; then echo "PASS delta_share_vnet_inventory (gradients $g0 -> $g MiB)"
else echo "FAIL delta_share_vnet_inventory (gradients '$g0' -> '$g' MiB)"; fi
# the placement reaches the bound: the arena is as large as the deltas alive at the busiest backward step
line=$("$DARKNET" seg3d params cfg/dbisl-vnet.cfg 2>&1 | grep '^gradient buffers:')
a=$(printf '%s\n' "$line" | sed -n 's/^gradient buffers: \([0-9.]*\) MiB shared.*/\1/p')
m=$(printf '%s\n' "$line" | sed -n 's/.*alive at once at most: \([0-9.]*\) MiB.*/\1/p')
if [ -n "$a" ] && [ "$a" = "$m" ]; then echo "PASS delta_share_vnet_at_bound ($line)"; else echo "FAIL delta_share_vnet_at_bound ($line)"; fi
