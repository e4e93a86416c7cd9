#!/bin/sh
# Exact resume and determinism of seg3d train on the CPU (cfg/dbisl-tiny.cfg, phantoms): two runs at one seed give identical weights; a run stopped at a checkpoint, or killed with SIGKILL between checkpoints, and resumed from _last ends with the uninterrupted run's weights byte for byte; -valid_every writes _best.weights, which reloads with the logged Dice.
DARKNET=${DARKNET:-./darknet}
cd "$(dirname "$0")/.."
T=tests/out/train_exact.$$
rm -rf "$T"; mkdir -p "$T"
# one thread count for every run of this test (results depend on it: README, "Training")
export OMP_NUM_THREADS=2
"$DARKNET" seg3d synth "$T/data" 6 -seed 5 > /dev/null 2>&1 || { echo "FAIL train_exact_setup: seg3d synth failed"; exit 1; }
# step policy: -max_batches then only says where to stop, not the learning rate; dropout is on in this cfg
sed -e 's/^policy=poly/policy=steps\nsteps=7\nscales=0.5/' -e 's/^max_batches=300/max_batches=20\nlast_every=4\nsave_every=8/' \
    cfg/dbisl-tiny.cfg > "$T/t.cfg"
grep -q '^last_every=4' "$T/t.cfg" && grep -q '^steps=7' "$T/t.cfg" && grep -q '^\[dropout\]' "$T/t.cfg" \
    || { echo "FAIL train_exact_cfg: cfg/dbisl-tiny.cfg no longer has policy=poly, max_batches=300 or [dropout]"; exit 1; }
BK="$T/data/backup"
fail=0
# run <out-name> [args]: trains into a fresh backup folder, keeps its final weights as $T/<name>.weights
run() {
  name=$1; shift
  "$DARKNET" seg3d train "$T/data/synth.data" "$T/t.cfg" "$@" > "$T/$name.out" 2> "$T/$name.err"
}
fresh() { rm -rf "$BK"; }

fresh; run a -seed 7; rc=$?
cp "$BK/t_final.weights" "$T/a.weights" 2>/dev/null
if [ $rc -ne 0 ] || [ ! -f "$T/a.weights" ] || [ ! -f "$BK/t_final.weights.state" ] || [ ! -f "$BK/t_8.weights.state" ]; then
  echo "FAIL train_exact_files: rc=$rc, backup has: $(ls "$BK" | tr '\n' ' ')"; tail -3 "$T/a.err"; exit 1
fi
echo "PASS train_exact_files (every checkpoint has its .state)"

fresh; run a2 -seed 7
if cmp -s "$T/a.weights" "$BK/t_final.weights"; then echo "PASS train_exact_same_seed_identical"
else echo "FAIL train_exact_same_seed_identical: two runs at -seed 7 and $OMP_NUM_THREADS threads differ"; fail=1; fi

# stopped exactly at a checkpoint (iteration 8), then the same command with _last
fresh; run b1 -seed 7 -max_batches 8
run b2 "$BK/t_last.weights" -seed 7
if grep -q "resuming exactly at iteration 8" "$T/b2.err" && cmp -s "$T/a.weights" "$BK/t_final.weights"; then echo "PASS train_exact_resume_at_checkpoint"
else echo "FAIL train_exact_resume_at_checkpoint: $(grep -E 'resum|error' "$T/b2.err" | head -2)"; cmp "$T/a.weights" "$BK/t_final.weights"; fail=1; fi
# the printed losses after the resume are the uninterrupted run's
if [ "$(grep -E '^(9|1[0-9]|20):' "$T/b2.out" | cut -d, -f1-2)" = "$(grep -E '^(9|1[0-9]|20):' "$T/a.out" | cut -d, -f1-2)" ]; then
  echo "PASS train_exact_resume_same_losses"
else echo "FAIL train_exact_resume_same_losses"; fail=1; fi

# killed with SIGKILL at a random iteration between checkpoints (k = 1 or 2 past a multiple of last_every=4)
r=$(od -An -tu2 -N2 /dev/urandom | tr -d ' ')
kill_at=$(( 4 * (1 + r % 3) + 1 + (r / 3) % 2 ))   # one of 5 6 9 10 13 14
fresh
"$DARKNET" seg3d train "$T/data/synth.data" "$T/t.cfg" -seed 7 > "$T/c1.out" 2> "$T/c1.err" &
pid=$!
i=0
while [ $i -lt 1200 ]; do
  last=$(grep -E '^[0-9]+:' "$T/c1.out" 2>/dev/null | tail -1 | cut -d: -f1)
  [ -n "$last" ] && [ "$last" -ge "$kill_at" ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.05; i=$((i + 1))
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
last=$(grep -E '^[0-9]+:' "$T/c1.out" | tail -1 | cut -d: -f1)
if [ ! -f "$BK/t_final.weights" ] && [ -f "$BK/t_last.weights" ]; then
  run c2 "$BK/t_last.weights" -seed 7
  from=$(sed -n 's/^resuming exactly at iteration \([0-9]*\).*/\1/p' "$T/c2.err")
  if [ -n "$from" ] && cmp -s "$T/a.weights" "$BK/t_final.weights"; then echo "PASS train_exact_resume_after_kill (killed after iteration $last, resumed at $from)"
  else echo "FAIL train_exact_resume_after_kill: killed after iteration $last: $(grep -E 'resum|error' "$T/c2.err" | head -2)"; fail=1; fi
else
  echo "FAIL train_exact_resume_after_kill: the run was not killed between checkpoints (last printed iteration ${last:-none}, target $kill_at)"; fail=1
fi

# a weights file without its state still resumes, approximately, and says so
fresh; run d1 -seed 7 -max_batches 4
rm -f "$BK/t_last.weights.state"
run d2 "$BK/t_last.weights" -seed 7 -max_batches 6; rc=$?
if [ $rc -eq 0 ] && grep -q "resuming approximately at iteration 4" "$T/d2.err"; then echo "PASS train_exact_no_state_approximate"
else echo "FAIL train_exact_no_state_approximate: rc=$rc $(grep -iE 'resum|error' "$T/d2.err" | head -2)"; fail=1; fi
# a state that belongs to other weights is refused, not half-used
fresh; run e1 -seed 7 -max_batches 4
cp "$BK/t_last.weights.state" "$T/e.state"
run e2 "$BK/t_last.weights" -seed 7 -max_batches 8
cp "$T/e.state" "$BK/t_last.weights.state"
run e3 "$BK/t_last.weights" -seed 7 -max_batches 10; rc=$?
if [ $rc -eq 0 ] && grep -q "resuming approximately at iteration 8: .*another" "$T/e3.err"; then echo "PASS train_exact_mismatched_state_refused"
else echo "FAIL train_exact_mismatched_state_refused: rc=$rc $(grep -iE 'resum|error' "$T/e3.err" | head -2)"; fail=1; fi

# a state whose checksum is right but whose loader part is not (a case index out of range) is refused whole
fresh; run g1 -seed 7 -max_batches 4
python3 - "$BK/t_last.weights.state" <<'PY'
import sys, struct
p = sys.argv[1]; d = bytearray(open(p, 'rb').read())
# layout (src/train_state.c, version 2): 84-byte header (the fp16 loss scale's 16 bytes at its end), 128 rand bytes,
# u64 loader bytes, loader state: u64 rng, then the labeled stream's n, pos, epoch and order: its first case index
# is at 212 + 8 + 8 + 12
d[240:244] = struct.pack('<i', 1 << 20)
h = 0xcbf29ce484222325
for b in d[:-8]:
    h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
d[-8:] = struct.pack('<Q', h)
open(p, 'wb').write(d)
PY
run g2 "$BK/t_last.weights" -seed 7 -max_batches 5; rc=$?
if [ $rc -eq 0 ] && grep -q "resuming approximately at iteration 4: .*bad case index" "$T/g2.err"; then echo "PASS train_exact_damaged_state_refused"
else echo "FAIL train_exact_damaged_state_refused: rc=$rc $(grep -iE 'resum|error' "$T/g2.err" | head -2)"; fail=1; fi

# the fp16 loss scale travels in the state (header bytes 64..80, version 2): a scale set in a state comes back in the
# next checkpoint's; a version-1 state (no loss-scale fields) still resumes exactly
fresh; run s1 -seed 7 -max_batches 4
python3 - "$BK/t_last.weights.state" "$T/v1.state" <<'PY'
import sys, struct
p, v1 = sys.argv[1], sys.argv[2]
d = bytearray(open(p, 'rb').read())
def seal(b):
    h = 0xcbf29ce484222325
    for x in b[:-8]:
        h = ((h ^ x) * 0x100000001b3) & 0xffffffffffffffff
    b[-8:] = struct.pack('<Q', h)
    return b
assert struct.unpack('<I', d[8:12])[0] == 2 and struct.unpack('<f', d[64:68])[0] == 65536.0, "layout changed"
old = bytearray(d[:64] + d[80:]); old[8:12] = struct.pack('<I', 1)
open(v1, 'wb').write(seal(old))
d[64:80] = struct.pack('<fiq', 1024.0, 17, 3)
open(p, 'wb').write(seal(d))
PY
cp "$BK/t_last.weights" "$T/s1.weights"
run s2 "$BK/t_last.weights" -seed 7 -max_batches 8
kept=$(python3 -c "import struct,sys; print('%g %d %d' % struct.unpack('<fiq', open(sys.argv[1], 'rb').read()[64:80]))" "$BK/t_last.weights.state" 2>/dev/null)
# the CPU trains at FP32: the scale and its counts are carried unchanged
if grep -q "resuming exactly at iteration 4" "$T/s2.err" && [ "$kept" = "1024 17 3" ]; then echo "PASS train_exact_loss_scale_saved"
else echo "FAIL train_exact_loss_scale_saved: saved '$kept', expected '1024 17 3'; $(grep -E 'resum|error' "$T/s2.err" | head -1)"; fail=1; fi
fresh; run s3 -seed 7 -max_batches 8; cp "$BK/t_final.weights" "$T/s8.weights"
fresh; mkdir -p "$BK"; cp "$T/s1.weights" "$BK/t_last.weights"; cp "$T/v1.state" "$BK/t_last.weights.state"
run s4 "$BK/t_last.weights" -seed 7 -max_batches 8
if grep -q "resuming exactly at iteration 4" "$T/s4.err" && cmp -s "$T/s8.weights" "$BK/t_final.weights"; then echo "PASS train_exact_state_version1_reads"
else echo "FAIL train_exact_state_version1_reads: $(grep -E 'resum|error' "$T/s4.err" | head -1)"; fail=1; fi

# -valid_every: _best.weights is written when the mean Dice improves; seg3d test on it gives the logged Dice
fresh; run v -seed 7 -valid_every 5
best_line=$(grep '^best: mean_dice=' "$T/v.err" | tail -1)
logged=$(echo "$best_line" | sed 's/^best: mean_dice=\([0-9.]*\) at iteration \([0-9]*\).*/\1/')
at=$(echo "$best_line" | sed 's/^best: mean_dice=\([0-9.]*\) at iteration \([0-9]*\).*/\2/')
nvalid=$(grep -c '^valid [0-9]*: mean_dice=' "$T/v.out")
if [ -f "$BK/t_best.weights" ] && [ -n "$logged" ] && [ "$nvalid" = 4 ] && grep -q "^valid $at: .* best$" "$T/v.out"; then
  echo "PASS train_exact_best_written (best mean Dice $logged at iteration $at, 4 validations)"
else echo "FAIL train_exact_best_written: best='$best_line', $nvalid validations, backup: $(ls "$BK" | tr '\n' ' ')"; fail=1; fi
# each validation line counts the cases it scored: every case of the valid list (checked before training)
ncases=$(grep -c . "$T/data/valid.list")
if [ "$(grep -c "^valid [0-9]*: mean_dice=[0-9.]* over $ncases cases " "$T/v.out")" = 4 ]; then echo "PASS train_exact_valid_counts_cases ($ncases cases)"
else echo "FAIL train_exact_valid_counts_cases: $(grep '^valid' "$T/v.out" | head -1), valid list of $ncases cases"; fail=1; fi
seen=$(od -An -tu8 -j12 -N8 "$BK/t_best.weights" 2>/dev/null | tr -d ' ')
"$DARKNET" seg3d test "$T/data/synth.data" "$T/t.cfg" "$BK/t_best.weights" > "$T/vt.out" 2> "$T/vt.err"
got=$(sed -n 's/^mean_dice=\([0-9.]*\) .*/\1/p' "$T/vt.out")
if [ -n "$got" ] && [ -n "$logged" ] && [ "$seen" = "$((at * 4))" ] && awk "BEGIN{d = $got - $logged; exit !(d < 2e-6 && d > -2e-6)}"; then
  echo "PASS train_exact_best_reloads (seg3d test: $got, logged $logged, seen $seen)"
else echo "FAIL train_exact_best_reloads: seg3d test mean_dice=$got, logged $logged, seen $seen for iteration $at"; tail -2 "$T/vt.err"; fail=1; fi

# -benchmark_layers: one table row per layer, and the timing does not change the result; -dont_show is accepted
fresh; run k1 -seed 7 -max_batches 2; cp "$BK/t_final.weights" "$T/k.weights" 2>/dev/null
fresh; run k2 -seed 7 -max_batches 2 -benchmark_layers -dont_show; rc=$?
nl=$("$DARKNET" seg3d params "$T/t.cfg" 2>/dev/null | grep -cE '^ +[0-9]+ ')
rows=$(sed -n '/^benchmark_layers: iteration 2 /,/^total forward/p' "$T/k2.out" | grep -cE '^ *[0-9]+ +[a-z0-9]+ +[0-9.]+ +[0-9.]+$')
if [ $rc -eq 0 ] && [ "$rows" -gt 0 ] && [ "$rows" = "$nl" ] && cmp -s "$T/k.weights" "$BK/t_final.weights"; then echo "PASS train_exact_benchmark_layers ($rows layers)"
else echo "FAIL train_exact_benchmark_layers: rc=$rc, $rows rows for $nl layers"; fail=1; fi

[ $fail -eq 0 ] && rm -rf "$T"
exit $fail
