#!/bin/sh
# scripts/la_experiment and scripts/la_ablation on a phantom folder in the LA layout (2 training iterations): data preparation, cfg edits, both evaluations, the table and the last line.
D=${DARKNET:-./darknet}
if [ ! -x "$D" ]; then echo "SKIP la_scripts: no darknet binary at $D"; exit 0; fi
D=$(cd "$(dirname "$D")" && pwd)/$(basename "$D")
T=tests/out/la_scripts_sh
rm -rf "$T"
# 64 x 96 x 96 phantoms: 32 x 48 x 48 after the 2x downsampling, one LA-mini window
$D seg3d synth "$T/la" 6 -size 64 96 96 -seed 5 > /dev/null 2>&1 || { echo "FAIL la_scripts (synth)"; exit 0; }
printf 'case_000\ncase_001\n' > "$T/la/labeled_16.list"
printf 'case_002\ncase_003\n' > "$T/la/unlabeled_48.list"
printf 'case_004\ncase_005\n' > "$T/la/valid_16.list"
export DARKNET="$D" LA_ITERS=2
out=$(sh scripts/la_experiment "$T/la" "$T/exp" 1 2>&1); rc=$?
last=$(printf '%s\n' "$out" | tail -1)
if [ $rc -eq 0 ] && printf '%s\n' "$last" | grep -Eq '^sup_dice=0\.[0-9]{4} dbisl_dice=0\.[0-9]{4}$' && [ -f "$T/exp/data/case_005/image.nii.gz" ] \
   && grep -q "ok" "$T/exp/runs/dbisl-seed1/result.txt" && [ -f "$T/exp/runs/sup-seed1/unlabeled.csv" ]; then
  echo "PASS la_experiment ($last)"; else echo "FAIL la_experiment (rc=$rc, last line '$last')"; printf '%s\n' "$out" | tail -5; fi
printf '# two variants\nhard dbisl pseudo_hard=1 net.learning_rate=0.02   # edits\nsplit dbisl data.labeled_per_batch=1\n' > "$T/v.txt"
out=$(LA_JOBS=2 LA_EVAL_UNLABELED=0 sh scripts/la_ablation "$T/la" "$T/exp" "$T/v.txt" 1 2 2>&1); rc=$?
c="$T/exp/runs/hard-seed2/hard.cfg"
if [ $rc -eq 0 ] && grep -q '^pseudo_hard=1$' "$c" && grep -q '^learning_rate=0.02$' "$c" && [ "$(diff cfg/la-mini-dbisl.cfg "$c" | grep -c '^>')" -eq 2 ] \
   && grep -q '^labeled_per_batch = 1$' "$T/exp/runs/split-seed1/la.data" && [ "$(grep -c '| 2/2 |' "$T/exp/ablation.md")" -eq 2 ]; then
  echo "PASS la_ablation_edits_and_table"; else echo "FAIL la_ablation_edits_and_table (rc=$rc)"; printf '%s\n' "$out" | tail -5; fi
out=$(sh scripts/la_experiment "$T/nowhere" "$T/x" 2>&1); rc=$?
if [ $rc -ne 0 ] && printf '%s\n' "$out" | grep -q "labeled_16.list"; then echo "PASS la_experiment_bad_folder"; else echo "FAIL la_experiment_bad_folder (rc=$rc)"; fi
