#!/bin/sh
# kill -9 during seg3d train, then the same command with the _last weights resumes from the last saved iteration (the weights file is whole: saves are atomic); -clear restarts the count; only a -seed given on a resume is reported as having no effect.
DARKNET=${DARKNET:-./darknet}
cd "$(dirname "$0")/.."
T=tests/out/resume
rm -rf "$T"; mkdir -p "$T"
"$DARKNET" seg3d synth "$T/data" 3 -size 8 12 12 -seed 5 > /dev/null 2>&1 || { echo "FAIL resume_setup: seg3d synth failed"; exit 1; }
cat > "$T/r.cfg" <<'CFG'
[net]
batch=2
subdivisions=1
width=8
height=8
depth=4
channels=1
learning_rate=0.01
momentum=0.9
policy=poly
power=0.9
max_batches=1000000
last_every=2
save_every=1000000
CFG
{ echo; cat tests/fixtures/cfg/dual_tiny_layers.cfg; echo rampup=10; } >> "$T/r.cfg"
W="$T/data/backup/r_last.weights"
seen_iter() { # iteration stored in a weights file: seen (size_t at byte 12) / batch
  echo $(( $(od -A n -t u8 -j 12 -N 8 "$1" | tr -d ' ') / 2 ))
}
"$DARKNET" seg3d train "$T/data/synth.data" "$T/r.cfg" > "$T/run1.out" 2> "$T/run1.err" &
pid=$!
i=0
# wait until a checkpoint exists and training has gone past it
while [ $i -lt 600 ]; do
  if [ -f "$W" ] && [ "$(seen_iter "$W")" -ge 6 ]; then break; fi
  sleep 0.05; i=$((i + 1))
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
if [ ! -f "$W" ]; then echo "FAIL resume_checkpoint_written: no $W after 30 s"; tail -3 "$T/run1.err"; exit 1; fi
echo "PASS resume_checkpoint_written"
k=$(seen_iter "$W")
last_printed=$(grep -E '^[0-9]+:' "$T/run1.out" | tail -1 | cut -d: -f1)
echo "  killed after iteration ${last_printed:-?}; last checkpoint at iteration $k"
if [ "$((k % 2))" -eq 0 ] && [ "$k" -ge 2 ]; then echo "PASS resume_checkpoint_iteration"; else echo "FAIL resume_checkpoint_iteration: checkpoint at $k (last_every=2)"; fi

# the same command with the _last weights: the first iteration must be k+1, and it must run to the new max_batches
stop=$((k + 4))
"$DARKNET" seg3d train "$T/data/synth.data" "$T/r.cfg" "$W" -max_batches $stop > "$T/run2.out" 2> "$T/run2.err"; rc=$?
first=$(grep -E '^[0-9]+:' "$T/run2.out" | head -1 | cut -d: -f1)
last=$(grep -E '^[0-9]+:' "$T/run2.out" | tail -1 | cut -d: -f1)
if [ $rc -eq 0 ] && [ "$first" = "$((k + 1))" ] && [ "$last" = "$stop" ]; then echo "PASS resume_continues_count"
else echo "FAIL resume_continues_count: rc=$rc first=$first last=$last, expected $((k + 1))..$stop"; tail -3 "$T/run2.err"; fi
# a normal end leaves _final and _last and no temporary file
if [ -f "$T/data/backup/r_final.weights" ] && [ "$(seen_iter "$W")" = "$stop" ] && ! ls "$T/data/backup/"*.tmp > /dev/null 2>&1; then echo "PASS resume_final_files"
else echo "FAIL resume_final_files: $(ls "$T/data/backup")"; fi
if cmp -s "$T/data/backup/r_final.weights" "$W"; then echo "PASS resume_final_equals_last"; else echo "FAIL resume_final_equals_last"; fi

# -clear: same weights, count restarts at 1
"$DARKNET" seg3d train "$T/data/synth.data" "$T/r.cfg" "$W" -clear -max_batches 2 > "$T/run3.out" 2> "$T/run3.err"; rc=$?
first=$(grep -E '^[0-9]+:' "$T/run3.out" | head -1 | cut -d: -f1)
if [ $rc -eq 0 ] && [ "$first" = "1" ]; then echo "PASS resume_clear_restarts"; else echo "FAIL resume_clear_restarts: rc=$rc first=$first"; tail -3 "$T/run3.err"; fi

# the chain's first -seed is kept: a resume names it, one with another -seed says that -seed has no effect
"$DARKNET" seg3d train "$T/data/synth.data" "$T/r.cfg" -seed 3 -max_batches 2 > /dev/null 2> "$T/run4.err"
"$DARKNET" seg3d train "$T/data/synth.data" "$T/r.cfg" "$W" -max_batches 4 > /dev/null 2> "$T/run5.err"; rc=$?
if [ $rc -eq 0 ] && grep -q "resuming exactly at iteration 2 .*(the run's seed: 3)" "$T/run5.err" && ! grep -q "has no effect" "$T/run5.err"; then echo "PASS resume_no_seed_no_note"
else echo "FAIL resume_no_seed_no_note: rc=$rc"; grep -E "resum|seed|error" "$T/run5.err" | tail -3; fi
"$DARKNET" seg3d train "$T/data/synth.data" "$T/r.cfg" "$W" -seed 4 -max_batches 6 > /dev/null 2> "$T/run6.err"; rc=$?
if [ $rc -eq 0 ] && grep -q "started with -seed 3; .*(-seed 4 has no effect)" "$T/run6.err"; then echo "PASS resume_other_seed_noted"
else echo "FAIL resume_other_seed_noted: rc=$rc"; grep -E "resum|seed|error" "$T/run6.err" | tail -3; fi
