#!/bin/sh
# CPU training seconds per iteration of two builds of ours (this tree and a git revision) and of PyTorch, in interleaved rounds on this machine, so that a change is measured against its base under the same load.
# usage: sh bench/cpu_before_after.sh <rev> [rounds]      (rev: the "before" commit, e.g. main or HEAD~3; rounds: 3)
# Builds <rev> CPU-only into build/bench-before (git archive + this tree's darknet-src/), then each round runs this
# tree's build/cpu, the before build and PyTorch (bench/torch_env.sh) on bench/run.sh's CPU configuration, in an order
# that rotates per round. Environment: BENCH_THREADS (2), BENCH_ITERS (3), BENCH_WARMUP (1), TORCH_PYTHON.
# Prints one line per run, then means and ratios; the load average is printed with every run.
set -e
cd "$(dirname "$0")/.."
REV=${1:?usage: sh bench/cpu_before_after.sh <rev> [rounds]}
ROUNDS=${2:-3}
T=${BENCH_THREADS:-2}
ITERS=${BENCH_ITERS:-3}
WARM=${BENCH_WARMUP:-1}
O=tests/out/bench-ba
OLD=build/bench-before
mkdir -p "$O"
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$T OPENBLAS_NUM_THREADS=$T MKL_NUM_THREADS=$T
PY=${TORCH_PYTHON:-$(sh bench/torch_env.sh 2>"$O/torch_env.log")}
[ -f build/cpu/libdarknet3d.a ] || { echo "build/cpu/libdarknet3d.a not found: run make GPU=0 first"; exit 1; }
want=$(git rev-parse "$REV")
if [ "$(cat "$OLD/.rev" 2>/dev/null)" != "$want" ]; then
    echo "building $REV ($want) into $OLD ..." >&2
    rm -rf "$OLD"; mkdir -p "$OLD"
    git archive "$want" | tar -x -C "$OLD"
    cp -a darknet-src "$OLD/"
    (cd "$OLD" && make -j"$T" GPU=0 > build.log 2>&1) || { echo "build of $REV failed: $OLD/build.log"; exit 1; }
    echo "$want" > "$OLD/.rev"
fi
LIBS="-lopenblas -lnifti2 -lznz -lhdf5_serial -lpng -lcairo -lz -lm -pthread -fopenmp"
drv() { # drv <tree> <out>: that tree's bench driver against its own library
    l="$1/build/cpu/libdarknet3d.a" x=""
    nm "$l" 2>/dev/null | grep -q ' U dnnl_' && x=-ldnnl
    cc -O3 -g -fopenmp -I"$1/darknet-src/include" -I"$1/darknet-src/src" -I"$1/src" -I"$1/layers" -I"$1/core" \
        "$1/bench/bench_train.c" -o "$2" "$l" $LIBS $x
}
drv . "$O/bench_train_after"
drv "$OLD" "$O/bench_train_before"
cfg() { # cfg <tree> <out>: the bench cfg as that tree's scripts/make_cfgs.py writes it (the cfg syntax changes between revisions)
    "$PY" - "$1/scripts" "$2" <<'PYEOF'
import sys
sys.path.insert(0, sys.argv[1])
import make_cfgs as m
open(sys.argv[2], "w").write(m.model(16, 64, 64, 32, 4, 0.01, 100000, "16,32,32", 100, title="bench cfg (bench/cpu_before_after.sh)") + "\n")
PYEOF
}
cfg . "$O/bench-cpu-after.cfg"
cfg "$OLD" "$O/bench-cpu-before.cfg"
build/cpu/darknet seg3d synth "$O/synth" 5 -size 40 80 80 -seed 1 > "$O/synth.log" 2>&1
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }
# the batches PyTorch trains on come from the first run of ours
"$O/bench_train_after" train "$O/bench-cpu-after.cfg" "$O/synth/synth.data" 1 0 "$O/batches.f32" 0 > /dev/null 2>&1
run() { # run after|before|torch
    case $1 in
        torch) "$PY" bench/dbisl_torch.py train 64 64 32 16 4 2 "$ITERS" "$WARM" "$T" cpu "$O/batches.f32" 4 2>>"$O/torch.log" | tail -1 ;;
        *) "$O/bench_train_$1" train "$O/bench-cpu-$1.cfg" "$O/synth/synth.data" "$ITERS" "$WARM" - 0 2>>"$O/$1.log" | tail -1 ;;
    esac
}
: > "$O/runs.txt"
r=1
while [ "$r" -le "$ROUNDS" ]; do
    case $((r % 3)) in 1) order="after before torch";; 2) order="before torch after";; 0) order="torch after before";; esac
    for w in $order; do
        l0=$(cut -d' ' -f1 /proc/loadavg)
        res=$(run "$w")
        echo "round=$r side=$w s_per_iter=$(kv "$res" s_per_iter) min=$(kv "$res" min) load_before=$l0 load_after=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$O/runs.txt"
    done
    r=$((r + 1))
done
TV=$("$PY" -c 'import torch; print(torch.__version__)')
awk -v tv="$TV" -v rev="$REV" '
    { for(i = 1; i <= NF; ++i){ split($i, kv, "="); v[kv[1]] = kv[2] } s = v["side"]; t = v["s_per_iter"] + 0
      if(t > 0){ sum[s] += t; n[s]++; if(!(s in mn) || t < mn[s]) mn[s] = t } }
    END {
      for(s in sum) printf "mean side=%s s_per_iter=%.3f min=%.3f runs=%d\n", s, sum[s] / n[s], mn[s], n[s]
      a = n["after"] ? sum["after"] / n["after"] : 0; b = n["before"] ? sum["before"] / n["before"] : 0; t = n["torch"] ? sum["torch"] / n["torch"] : 0
      if(a > 0 && t > 0) printf "ratio after/torch=%.2f (torch %s)\n", a / t, tv
      if(b > 0 && t > 0) printf "ratio before/torch=%.2f (before = %s)\n", b / t, rev
      if(a > 0 && b > 0) printf "ratio after/before=%.2f\n", a / b
    }' "$O/runs.txt"
