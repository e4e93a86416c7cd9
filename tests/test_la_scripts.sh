#!/bin/sh
# scripts/la_experiment and scripts/la_ablation on a phantom folder in the LA layout (2 training iterations): data preparation, cfg edits, both evaluations, the table and the last line; LA_SCHEDULE, LA_LABELED, bad settings, scripts/la_curve and its plot, scripts/la_slot, and LA_PROTOCOL=full on four real LA cases when /work/shared/data/LA is there.
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
# Under a sanitizer build (make asan) nothing runs: the file checks the scripts' own logic, which the sanitizers do
# not see, and its darknet calls (train, test -lcc_csv, resample, resume) run under them in test_train_tiny.sh,
# test_resume.sh and test_keys; the paper's V-Net cfg is built under them in test_model_cfgs.sh (seg3d params) and
# its layer types train under them in test_layers and the tiny cfgs. The whole file runs in every make test.
case ${BUILD:-} in
  *-san*) echo "SKIP la_scripts: sanitizer build (the scripts' logic and la_experiment_full run in make test)"; exit 0;;
  *)
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

# LA_SCHEDULE: max_batches in every run, the [dbisl] ramps scaled with it (la-mini-dbisl.cfg: rampup 375 of 750 ->
# 750 of 1500, con_rampup 750 of 750 -> 1500)
printf 'd dbisl\ns sup\n' > "$T/v2.txt"
out=$(LA_SCHEDULE=1500 LA_ITERS=1 LA_EVAL_UNLABELED=0 sh scripts/la_ablation "$T/la" "$T/sched" "$T/v2.txt" 1 2>&1); rc=$?
c="$T/sched/runs/d-seed1/d.cfg"
if [ $rc -eq 0 ] && grep -q '^max_batches=1500$' "$c" && grep -q '^rampup=750$' "$c" && grep -q '^con_rampup=1500$' "$c" && grep -q '^max_batches=1500$' "$T/sched/runs/s-seed1/s.cfg" \
   && [ "$(diff cfg/la-mini-dbisl.cfg "$c" | grep -c '^>')" -eq 3 ] && grep -q 'max_batches 1,' "$T/sched/runs/d-seed1/train.err" \
   && grep -q 'schedule: 1500 iterations' "$T/sched/ablation.md" && grep -q '^valid raw 0\.[0-9]* ' "$T/sched/runs/s-seed1/metrics.txt"; then
  echo "PASS la_ablation_schedule"; else echo "FAIL la_ablation_schedule (rc=$rc)"; printf '%s\n' "$out" | tail -5; fi
bad=0
for e in LA_PROTOCOL=half LA_SCHEDULE=0 LA_SCHEDULE=6k LA_ITERS=-1 LA_CROP=80,112,100 LA_CROP=80,112 LA_STRIDE=4,0,18 LA_LCC=2 LA_LABELED=4; do
  out=$(env "$e" sh scripts/la_ablation "$T/la" "$T/bad" "$T/v2.txt" 1 2>&1) && { bad=1; echo "  $e was accepted"; }
  printf '%s\n' "$out" | grep -q "^error: ${e%%=*}=" || { bad=1; echo "  $e: $out" | head -2; }
done
[ ! -d "$T/bad/runs" ] || bad=1
if [ $bad -eq 0 ]; then echo "PASS la_ablation_bad_settings"; else echo "FAIL la_ablation_bad_settings"; fi

# LA_LABELED=8: labeled_8.list (a subset of labeled_16) is the labeled set; DBiSL's unlabeled set gains the rest
printf 'case_000\n' > "$T/la/labeled_8.list"
out=$(LA_LABELED=8 LA_ITERS=1 LA_EVAL_UNLABELED=0 sh scripts/la_ablation "$T/la" "$T/lab8" "$T/v2.txt" 1 2>&1); rc=$?
d8="$T/lab8/runs/d-seed1/la.data"; s8="$T/lab8/runs/s-seed1/la.data"
if [ $rc -eq 0 ] && grep -q 'labeled_8.list$' "$d8" && grep -q 'labeled_8.list$' "$s8" && grep -q '^unlabeled = .*unlabeled_56.list$' "$d8" \
   && ! grep -q '^unlabeled' "$s8" && [ "$(sort "$T/lab8/data/unlabeled_56.list" | tr '\n' ' ')" = "case_001 case_002 case_003 " ] \
   && grep -q '8 labeled + 56 unlabeled' "$T/lab8/ablation.md" && grep -q ok "$T/lab8/runs/d-seed1/result.txt"; then
  echo "PASS la_ablation_labeled_8"; else echo "FAIL la_ablation_labeled_8 (rc=$rc)"; printf '%s\n' "$out" | tail -5; fi
printf 'case_004\n' > "$T/la/labeled_8.list"
out=$(LA_LABELED=8 LA_ITERS=1 sh scripts/la_ablation "$T/la" "$T/lab8b" "$T/v2.txt" 1 2>&1) && echo "FAIL la_ablation_labeled_8_outside (accepted)" ||
  { printf '%s\n' "$out" | grep -q "labeled_8.list names cases outside labeled_16.list: case_004" && echo "PASS la_ablation_labeled_8_outside" || echo "FAIL la_ablation_labeled_8_outside: $out"; }
rm -f "$T/la/labeled_8.list"
# LA_LABELED=64: supervised variants train on every training label (labeled_16 + unlabeled_48); dbisl variants refused
printf 's sup\n' > "$T/v64.txt"
out=$(LA_LABELED=64 LA_ITERS=1 LA_EVAL_UNLABELED=0 sh scripts/la_ablation "$T/la" "$T/lab64" "$T/v64.txt" 1 2>&1); rc=$?
s64="$T/lab64/runs/s-seed1/la.data"
if [ $rc -eq 0 ] && grep -q '^labeled = .*labeled_64.list$' "$s64" && ! grep -q '^unlabeled' "$s64" \
   && [ "$(sort "$T/lab64/data/labeled_64.list" | tr '\n' ' ')" = "case_000 case_001 case_002 case_003 " ] \
   && grep -q 'all 64 training cases labeled' "$T/lab64/ablation.md" && grep -q ok "$T/lab64/runs/s-seed1/result.txt"; then
  echo "PASS la_ablation_labeled_64"; else echo "FAIL la_ablation_labeled_64 (rc=$rc)"; printf '%s\n' "$out" | tail -5; fi
out=$(LA_LABELED=64 LA_ITERS=1 sh scripts/la_ablation "$T/la" "$T/lab64b" "$T/v2.txt" 1 2>&1) && echo "FAIL la_ablation_labeled_64_dbisl (accepted)" ||
  { printf '%s\n' "$out" | grep -q "^error: LA_LABELED=64: .*nothing unlabeled for the dbisl variants of .*v2.txt: d$" && [ ! -d "$T/lab64b/runs" ] \
    && echo "PASS la_ablation_labeled_64_dbisl" || echo "FAIL la_ablation_labeled_64_dbisl: $out"; }

# a run stopped before its final weights continues from its last checkpoint: a 4-iteration run, then a copy of it
# put back to its iteration-2 checkpoint, resumed by running la_ablation again, must end with the same weights;
# with a variant that now gives another cfg it is not resumed
printf 'r dbisl net.max_batches=4 net.save_every=2 net.last_every=2\n' > "$T/v3.txt"
LA_ITERS= LA_EVAL_UNLABELED=0 sh scripts/la_ablation "$T/la" "$T/res" "$T/v3.txt" 1 > /dev/null 2>&1; r1=$?
cp -r "$T/res" "$T/res2"; B="$T/res2/runs/r-seed1/backup"
rm -f "$B"/r_final.weights* "$B"/r_4.weights*; cp "$B/r_2.weights" "$B/r_last.weights"; cp "$B/r_2.weights.state" "$B/r_last.weights.state"
LA_ITERS= LA_EVAL_UNLABELED=0 sh scripts/la_ablation "$T/la" "$T/res2" "$T/v3.txt" 1 > /dev/null 2>&1; r2=$?
cp -r "$T/res2" "$T/res3"; B3="$T/res3/runs/r-seed1/backup"; rm -f "$B3"/r_final.weights*
printf 'r dbisl net.max_batches=4 net.save_every=2 net.last_every=2 net.learning_rate=0.5\n' > "$T/v4.txt"
o3=$(LA_ITERS= LA_EVAL_UNLABELED=0 sh scripts/la_ablation "$T/la" "$T/res3" "$T/v4.txt" 1 2>&1); r3=$?
if [ $r1 -eq 0 ] && [ $r2 -eq 0 ] && cmp -s "$T/res/runs/r-seed1/backup/r_final.weights" "$B/r_final.weights" \
   && grep -q "^resuming from .*r_last.weights" "$T/res2/runs/r-seed1/train.err" && grep -q "exact resume\|resuming exactly" "$T/res2/runs/r-seed1/train.err" \
   && grep -q " ok 4$" "$T/res2/runs/r-seed1/result.txt" \
   && [ $r3 -eq 0 ] && printf '%s' "$o3" | grep -q "r.cfg differs from the cfg this variant gives now" && grep -q " cfg_changed" "$T/res3/runs/r-seed1/result.txt" \
   && [ ! -e "$B3/r_final.weights" ]; then
  echo "PASS la_ablation_resume"; else echo "FAIL la_ablation_resume (rc $r1 $r2 $r3)"; tail -3 "$T/res2/runs/r-seed1/train.err"; printf '%s\n' "$o3" | tail -3; fi
# a finished run's evaluation is reused when run again; another infer_stride is not a changed cfg and evaluates again
touch "$T/res/mark"; sleep 1
LA_ITERS= LA_EVAL_UNLABELED=0 sh scripts/la_ablation "$T/la" "$T/res" "$T/v3.txt" 1 > /dev/null 2>&1; r1=$?
c1=$(cat "$T/res/runs/r-seed1/result.txt")
printf 'r dbisl net.max_batches=4 net.save_every=2 net.last_every=2 net.infer_stride=8,8,8\n' > "$T/v5.txt"
LA_ITERS= LA_EVAL_UNLABELED=0 sh scripts/la_ablation "$T/la" "$T/res2" "$T/v5.txt" 1 > /dev/null 2>&1; r2=$?
if [ $r1 -eq 0 ] && [ ! "$T/res/runs/r-seed1/valid.csv" -nt "$T/res/mark" ] && printf '%s' "$c1" | grep -q " ok 4$" \
   && grep -q '^valid raw 0\.' "$T/res/runs/r-seed1/metrics.txt" && [ $r2 -eq 0 ] && [ "$T/res2/runs/r-seed1/valid.csv" -nt "$T/res/mark" ] \
   && grep -q '^infer_stride=8,8,8$' "$T/res2/runs/r-seed1/r.cfg" && grep -q " ok 4$" "$T/res2/runs/r-seed1/result.txt"; then
  echo "PASS la_ablation_reuse_evaluation"; else echo "FAIL la_ablation_reuse_evaluation (rc $r1 $r2: $c1)"; fi
# metrics.txt's volume columns (10, 11: pred_ml, ref_ml) are seg3d test's mean_pred_ml / mean_ref_ml, the largest
# component never larger; metrics.md shows them, and a run evaluated before they existed (9 fields) shows n/a
M="$T/res/runs/r-seed1"
mv=$(awk '$1 == "valid" && $2 == "raw" { print NF, $10, $11 } $1 == "valid" && $2 == "lcc" { print $10 }' "$M/metrics.txt" | tr '\n' ' ')
sv=$(tail -1 "$M/valid.txt" | tr ' ' '\n' | sed -n 's/^mean_pred_ml=//p; s/^mean_ref_ml=//p' | tr '\n' ' ')
cp -r "$T/res" "$T/old"; awk '{ print $1, $2, $3, $4, $5, $6, $7, $8, $9 }' "$M/metrics.txt" > "$T/old/runs/r-seed1/metrics.txt"
LA_TABLES_ONLY=1 sh scripts/la_ablation "$T/nowhere" "$T/old" "$T/v3.txt" 1 > /dev/null 2>&1; r1=$?
if printf '%s %s\n' "$mv" "$sv" | awk '{ exit !($1 == 11 && $3 > 0 && $4 <= $2 && ($2 - $5) ^ 2 < 1e-10 && ($3 - $6) ^ 2 < 1e-10) }' \
   && grep -q '| predicted (mL) | reference (mL) | runs |$' "$T/res/metrics.md" && grep -q '^| r | valid_16 | none |.* [0-9.]* +- 0\.0 | [0-9.]* +- 0\.0 | 1 |$' "$T/res/metrics.md" \
   && [ $r1 -eq 0 ] && grep -q '^| r | valid_16 | none |.* n/a | n/a | 1 |$' "$T/old/metrics.md"; then
  echo "PASS la_ablation_volumes ($mv/ $sv)"; else echo "FAIL la_ablation_volumes (metrics.txt '$mv', valid.txt '$sv', rc $r1)"; grep '^| r |' "$T/res/metrics.md" "$T/old/metrics.md"; fi
# status: a run cut by LA_DEADLINE is 'stopped', a run whose training fails is 'failed'
printf 'long dbisl net.max_batches=100000\n' > "$T/v6.txt"
LA_ITERS= LA_DEADLINE=2 LA_EVAL_UNLABELED=0 sh scripts/la_ablation "$T/la" "$T/dl" "$T/v6.txt" 1 > /dev/null 2>&1; r1=$?
printf '#!/bin/sh\n[ "$2" = train ] && exit 1\nexec "%s" "$@"\n' "$D" > "$T/false.sh"; chmod +x "$T/false.sh"
DARKNET="$T/false.sh" LA_EVAL_UNLABELED=0 sh scripts/la_ablation "$T/la" "$T/fl" "$T/v6.txt" 1 > /dev/null 2>&1; r2=$?
if [ $r1 -eq 0 ] && grep -q "^long 1 .* stopped" "$T/dl/runs/long-seed1/result.txt" && [ $r2 -eq 0 ] && grep -q "^long 1 .* failed" "$T/fl/runs/long-seed1/result.txt"; then
  echo "PASS la_ablation_status"; else echo "FAIL la_ablation_status (rc $r1 $r2)"; cat "$T/dl/runs/long-seed1/result.txt" "$T/fl/runs/long-seed1/result.txt"; fi

# scripts/la_prepare: UA-MT's layout (80 training cases in train.list, 2 in test.list, one mri_norm2.h5 each) -> NIfTI
# at 0.625 mm and the split lists by position; a second run converts nothing; a list naming other cases is refused
S="$T/uamt"; mkdir -p "$S/2018LA_Seg_Training Set"
for i in $(seq 101 182); do mkdir -p "$S/2018LA_Seg_Training Set/C$i"; cp tests/errors/tiny.h5 "$S/2018LA_Seg_Training Set/C$i/mri_norm2.h5"; done
seq 101 180 | sed 's/^/C/' > "$S/train.list"; printf 'C181\nC182\n' > "$S/test.list"
out=$(sh scripts/la_prepare "$S" "$T/lap" 2>&1); rc=$?
out2=$(sh scripts/la_prepare "$S" "$T/lap" 2>&1); rc2=$?
sp=$($D seg3d metrics "$T/lap/C150/label.nii.gz" "$T/lap/C150/label.nii.gz" 2>&1 | sed -n 's/.*spacing \([0-9. ]*\) mm.*/\1/p')
if [ $rc -eq 0 ] && [ $rc2 -eq 0 ] && printf '%s' "$out" | grep -q ': 82 cases converted, 82 in all;' && printf '%s' "$out2" | grep -q ': 0 cases converted' \
   && [ "$sp" = "0.625 0.625 0.625" ] && [ "$(head -1 "$T/lap/valid_16.list")$(tail -1 "$T/lap/valid_16.list")" = C165C180 ] \
   && [ "$(cat "$T/lap/labeled_16.list" "$T/lap/unlabeled_48.list" "$T/lap/valid_16.list" | cmp - "$S/train.list" && echo same)" = same ] \
   && [ "$(wc -l < "$T/lap/labeled_8.list")$(head -1 "$T/lap/unlabeled_72.list")$(wc -l < "$T/lap/unlabeled_64.list")" = 8C10964 ] && cmp -s "$T/lap/test.list" "$S/test.list" \
   && echo C999 > "$T/lap/valid_16.list" && ! sh scripts/la_prepare "$S" "$T/lap" > "$T/lap.err" 2>&1 && grep -q 'valid_16.list exists and names other cases' "$T/lap.err" \
   && ! sh scripts/la_prepare tests/errors "$T/lap2" > "$T/lap2.err" 2>&1 && grep -q 'tests/errors: 1 training cases; the LA split is defined on' "$T/lap2.err"; then
  echo "PASS la_prepare"; else echo "FAIL la_prepare (rc $rc $rc2, spacing '$sp')"; printf '%s\n%s\n' "$out" "$out2" | tail -4; fi
# a folder of <case>.h5 files without train.list: the cases are its 80 sorted names
mkdir -p "$T/h5s"; for i in $(seq 280 -1 201); do cp tests/errors/tiny.h5 "$T/h5s/Z$i.h5"; done
if sh scripts/la_prepare "$T/h5s" "$T/lap3" > "$T/lap3.out" 2>&1 && [ "$(head -1 "$T/lap3/labeled_16.list")$(head -1 "$T/lap3/valid_16.list")" = Z201Z265 ] \
   && [ -f "$T/lap3/Z280/image.nii.gz" ] && [ ! -f "$T/lap3/test.list" ]; then
  echo "PASS la_prepare_h5_folder"; else echo "FAIL la_prepare_h5_folder"; tail -3 "$T/lap3.out"; fi

# scripts/la_curve: the variants it writes, then two tiny schedules end to end (runs, curve.csv, curve.png)
v=$(sh scripts/la_curve --variants)
if [ "$(printf '%s\n' "$v" | wc -l)" -eq 25 ] && printf '%s\n' "$v" | grep -q '^dbisl_12000 dbisl net.max_batches=12000 rampup=6000 con_rampup=12000$' \
   && printf '%s\n' "$v" | grep -q '^sup_750 sup net.max_batches=750$' && printf '%s\n' "$v" | grep -q '^sup_b2_1500 sup net.max_batches=1500 net.batch=2$' && printf '%s\n' "$v" | grep -q '^lall_3000 dbisl .*rampup=1500 con_rampup=0 lambda=0.5 w_sup_r2s=1 w_con_r2s=1$' \
   && [ "$(printf '%s\n' "$v" | grep '^noregmask_6000 .* pse_mask=2$' | grep -o 'w_[a-z_0-9]*=0' | wc -l)" -eq 6 ] \
   && ! printf '%s\n' "$v" | grep -q '^noreg_' \
   && [ "$(LA_PROTOCOL=full LA_CURVE_ITERS=6000 LA_CURVE_VARIANTS="dbisl lall" sh scripts/la_curve --variants | grep -c '^[a-z]*_6000 dbisl net.max_batches=6000 rampup=2118 con_rampup=[06]')" -eq 2 ] \
   && [ "$(LA_CURVE_ITERS=6000 LA_CURVE_VARIANTS=noreg sh scripts/la_curve --variants | grep -v pse_mask | grep -o 'w_[a-z_0-9]*=0' | wc -l)" -eq 6 ] \
   && ! LA_CURVE_ITERS="750 x" sh scripts/la_curve --variants > /dev/null 2>&1 && ! LA_CURVE_VARIANTS="sup mt" sh scripts/la_curve --variants > /dev/null 2>&1; then
  echo "PASS la_curve_variants"; else echo "FAIL la_curve_variants"; fi
PY=/usr/bin/python3
out=$(LA_ITERS= LA_CURVE_ITERS="1 2" LA_CURVE_VARIANTS="sup noreg" LA_EVAL_UNLABELED=0 sh scripts/la_curve "$T/la" "$T/curve" 1 2>&1); rc=$?
csv="$T/curve/curve.csv"
if [ $rc -eq 0 ] && [ "$(wc -l < "$csv")" -eq 5 ] && grep -q '^noreg,2,1,ok,' "$csv" && grep -q '^sup,1,1,ok,' "$csv" \
   && [ "$(awk -F, 'NR == 1 { for(i = 1; i <= NF; ++i) c[$i] = i } $1 == "sup" && $2 == 2 { print $c["valid_dice"] }' "$csv")" = "$(awk '$1 == "valid" && $2 == "raw" { print $3 }' "$T/curve/runs/sup_2-seed1/metrics.txt")" ] \
   && grep -q '^rampup=1$' "$T/curve/runs/noreg_2-seed1/noreg_2.cfg" && [ -s "$T/curve/curve.png" ]; then
  echo "PASS la_curve_runs"; else echo "FAIL la_curve_runs (rc=$rc)"; printf '%s\n' "$out" | tail -5; fi
# the plot on a synthetic CSV: 3 variants (black, red, blue), valid and unlabeled panels; the variant colours must
# cover more than their legend swatch (22 x 10 pixels): the mean markers and the seed dots
{ echo "variant,iterations,seed,status,train_seconds,valid_dice,valid_hd95,valid_asd,unlabeled_dice,unlabeled_hd95,unlabeled_asd"
  for it in 750 1500 3000; do for s in 1 2 3; do
    echo "sup,$it,$s,ok,1,0.$((70 + s + it / 300)),9,3,0.$((60 + s + it / 300)),9,3"
    echo "dbisl,$it,$s,ok,1,0.$((60 + 2 * s + it / 200)),9,3,0.$((50 + s + it / 200)),9,3"
    [ $it = 750 ] && echo "lall,$it,$s,ok,1,0.$((10 + 20 * s)),9,3,nan,nan,nan"
  done; done; } > "$T/syn.csv"
awk -F, 'NR == 1 { print; next } $1 != "lall" { OFS = ","; $9 = "nan"; print }' "$T/syn.csv" > "$T/syn_valid.csv"
$PY scripts/la_curve_plot.py plot "$T/syn.csv" "$T/syn.png" > /dev/null 2>&1; rc1=$?
$PY scripts/la_curve_plot.py plot "$T/syn_valid.csv" "$T/syn_valid.png" --title "valid only" > /dev/null 2>&1; rc2=$?
head -1 "$T/syn.csv" > "$T/empty.csv"
e1=$($PY scripts/la_curve_plot.py plot "$T/empty.csv" "$T/empty.png" 2>&1); rc3=$?
e2=$($PY scripts/la_curve_plot.py collect "$T/nowhere" "$T/n.csv" 2>&1); rc4=$?
p1=$($PY tests/png_colours.py "$T/syn.png" 0,0,0 214,39,40 31,119,180 44,160,44 2>/dev/null)
p2=$($PY tests/png_colours.py "$T/syn_valid.png" 0,0,0 214,39,40 31,119,180 2>/dev/null)
set -- ${p1:-x x x x x x} ${p2:-x x x x x}
if [ $rc1 -eq 0 ] && [ "$1 $2" = "1370 500" ] && [ "$3" -gt 400 ] 2>/dev/null && [ "$4" -gt 400 ] && [ "$5" -gt 220 ] && [ "$6" -eq 0 ] \
   && [ $rc2 -eq 0 ] && [ "$7 $8" = "760 500" ] && [ "$9" -gt 300 ] 2>/dev/null && [ "${10}" -gt 300 ] && [ "${11}" -eq 0 ] \
   && [ $rc3 -eq 1 ] && printf '%s' "$e1" | grep -q "no runs" && [ ! -e "$T/empty.png" ] && [ $rc4 -eq 1 ] && printf '%s' "$e2" | grep -q "no runs/ folder"; then
  echo "PASS la_curve_plot"; else echo "FAIL la_curve_plot (rc $rc1 $rc2 $rc3 $rc4, pixels: $*)"; fi
# paired differences by seed (the docs' paired tables): sup 0.73 0.74 0.75 against dbisl 0.65 0.67 0.69 at 750;
# the t test: t = -0.07 / (0.01 / sqrt 3), the interval by the table value t(0.975, 2 df) = 4.303 (and scipy's
# ttest_1samp / t.interval gave the same printed digits on 200 random sets of 2-12 differences)
pr=$($PY scripts/la_curve_plot.py paired "$T/syn.csv" sup dbisl valid_dice 2>&1); rc1=$?
pn=$($PY scripts/la_curve_plot.py paired "$T/syn.csv" sup lall unlabeled_dice 2>&1); rc2=$?
pe=$($PY scripts/la_curve_plot.py paired "$T/syn.csv" sup mt 2>&1); rc3=$?
pp=$($PY scripts/la_curve_plot.py paired "$T/syn.csv" dbisl sup valid_dice 2>&1)
# two CSVs joined by +: a sweep's rows (mt) against the curve's (sup); a missing file is named
grep '^sup,750,' "$T/syn.csv" | sed 's/^sup,/mt,/; s/,0\.7\([0-9]\),/,0.8\1,/' | { head -1 "$T/syn.csv"; cat; } > "$T/sweep.csv"
pj=$($PY scripts/la_curve_plot.py paired "$T/syn.csv+$T/sweep.csv" sup mt valid_dice 2>&1); rc4=$?
pm=$($PY scripts/la_curve_plot.py paired "$T/syn.csv+$T/nothere.csv" sup mt 2>&1); rc5=$?
if [ $rc1 -eq 0 ] && [ "$(printf '%s\n' "$pr" | wc -l)" -eq 3 ] && printf '%s\n' "$pp" | grep -qF 'sup - dbisl +0.080, +0.070, +0.060 (+0.070 ± 0.010)' \
   && printf '%s\n' "$pr" | grep -qF '750 valid_dice seeds 1 2 3: sup 0.730, 0.740, 0.750 (0.740 ± 0.010); dbisl 0.650, 0.670, 0.690 (0.670 ± 0.020); dbisl - sup -0.080, -0.070, -0.060 (-0.070 ± 0.010); t = -12.12, p = 0.007 (two-sided), 95% CI -0.095 … -0.045' \
   && ! printf '%s\n' "$pj" | grep -q 't = ' \
   && [ $rc2 -eq 0 ] && [ -z "$pn" ] && [ $rc3 -eq 1 ] && printf '%s' "$pe" | grep -q "no schedule length has runs of both sup and mt" \
   && [ $rc4 -eq 0 ] && printf '%s\n' "$pj" | grep -qF 'mt - sup +0.100, +0.100, +0.100 (+0.100 ± 0.000)' \
   && [ $rc5 -eq 1 ] && printf '%s' "$pm" | grep -q "nothere.csv: no such file"; then
  echo "PASS la_curve_paired"; else echo "FAIL la_curve_paired (rc $rc1 $rc2 $rc3 $rc4 $rc5: $pr $pe $pj $pm)"; fi

# scripts/la_slot: packs under a size limit (the phantom cases are 2.1 MB each: 2 per 5 MiB pack), unpacked packs
# rebuild the folder, a case larger than a pack is refused; collect: one results archive and the weights in parts
S="$T/slot"; rm -rf "$S"
o1=$(sh scripts/la_slot pack "$T/la" "$S/p" 5 2>&1); r1=$?
mkdir -p "$S/one"; cp "$S/p/la-1.tar" "$S/one/"
o2=$(sh scripts/la_slot unpack "$S/one" "$S/d1" 2>&1); r2=$?
o3=$(sh scripts/la_slot unpack "$S/p" "$S/d" 2>&1); r3=$?
o4=$(sh scripts/la_slot pack "$T/la" "$S/q" 1 2>&1); r4=$?
o5=$(sh scripts/la_slot collect "$T/exp" "$S/back" sup-seed1 dbisl-seed1 2>&1); r5=$?
o6=$(sh scripts/la_slot collect "$T/exp" "$S/back2" nosuch-seed1 2>&1); r6=$?
if [ $r1 -eq 0 ] && [ "$(printf '%s\n' "$o1" | tail -1 | cut -d' ' -f1)" = packs=3 ] && [ "$(cat "$S/p/la-1.cases" | tr '\n' ' ')" = "case_000 case_001 " ] \
   && [ "$(cat "$S/p/la-2.cases" | tr '\n' ' ')" = "case_004 case_005 " ] && [ $r2 -eq 0 ] && [ "$(printf '%s\n' "$o2" | tail -1)" = "cases=2 missing=4" ] \
   && [ $r3 -eq 0 ] && [ "$(printf '%s\n' "$o3" | tail -1)" = "cases=6 missing=0" ] && cmp -s "$S/d/case_003/image.nii.gz" "$T/la/case_003/image.nii.gz" \
   && cmp -s "$S/d/valid_16.list" "$T/la/valid_16.list" && [ $r4 -eq 1 ] && printf '%s' "$o4" | grep -q "larger than a pack of 1 MiB" \
   && [ $r5 -eq 0 ] && tar tzf "$S/back/results.tar.gz" | grep -q '^./runs/dbisl-seed1/metrics.txt$' && tar tzf "$S/back/results.tar.gz" | grep -q '^./metrics.md$' \
   && ! tar tzf "$S/back/results.tar.gz" | grep -q 'weights\|nii' && cat "$S/back/dbisl-seed1.weights.part-"* | cmp -s - "$T/exp/runs/dbisl-seed1/backup/dbisl_final.weights" \
   && cat "$S/back/sup-seed1.weights.part-"* | cmp -s - "$T/exp/runs/sup-seed1/backup/sup_final.weights" && [ $r6 -eq 1 ] && [ ! -e "$S/back2" ]; then
  echo "PASS la_slot"; else echo "FAIL la_slot (rc $r1 $r2 $r3 $r4 $r5 $r6)"; printf '%s\n' "$o1" "$o2" "$o3" "$o5" "$o6" | tail -6; fi
# la_slot checkpoint / take / restore: a run stopped at its iteration-2 checkpoint (the resume test's run, put back)
# travels in 15 MiB parts over two calls, is restored only when every part is there and matches its checksum, and
# la_ablation then resumes it exactly (the same final weights as the uninterrupted run)
CK="$T/ck"; rm -rf "$CK"; mkdir -p "$CK/runs"; cp -r "$T/res/runs/r-seed1" "$CK/runs/"; B="$CK/runs/r-seed1/backup"
rm -f "$B"/r_final.weights* "$B"/r_4.weights* "$CK/runs/r-seed1/result.txt"; cp "$B/r_2.weights" "$B/r_last.weights"; cp "$B/r_2.weights.state" "$B/r_last.weights.state"
c1=$(sh scripts/la_slot checkpoint "$CK" r-seed1 "$S/ck" 2>&1); k1=$?
c2=$(sh scripts/la_slot checkpoint "$T/res" r-seed1 "$S/ck2" 2>&1); k2=$?
# collect names a stopped run: its results come back, its weights do not (checkpoint carries it), and collect succeeds
c3=$(sh scripts/la_slot collect "$CK" "$S/back3" r-seed1 2>&1); k3=$?
# take: at most 8 files a call, .sums files included
mkdir -p "$S/ck8"; for i in 1 2 3 4 5 6 7; do : > "$S/ck8/r$i.ckpt.sums"; done; for i in 0 1 2 3; do : > "$S/ck8/r1.ckpt.part-0$i"; done
t8=$(sh scripts/la_slot take "$S/ck8" "$S/call8" 4 2>/dev/null)
t1=$(sh scripts/la_slot take "$S/ck" "$S/call1" 1 2>&1); t2=$(sh scripts/la_slot take "$S/ck" "$S/call2" 5 2>&1)
o1=$(sh scripts/la_slot restore "$S/call1" "$S/m" 2>&1); q1=$?
o2=$(sh scripts/la_slot restore "$S/call2" "$S/m" 2>&1); q2=$?
o3=$(sh scripts/la_slot restore "$S/call2" "$S/m" 2>&1); q3=$?
mkdir -p "$S/bad"; cp "$S/call2/"* "$S/bad/"; printf 'x' | dd of="$S/bad/r-seed1.ckpt.part-01" bs=1 seek=100 conv=notrunc 2> /dev/null
sh scripts/la_slot restore "$S/call1" "$S/m2" > /dev/null 2>&1; o4=$(sh scripts/la_slot restore "$S/bad" "$S/m2" 2>&1); q4=$?
LA_ITERS= LA_EVAL_UNLABELED=0 sh scripts/la_ablation "$T/la" "$S/m" "$T/v3.txt" 1 > /dev/null 2>&1; q5=$?
if [ $k1 -eq 0 ] && [ "$(printf '%s\n' "$c1" | tail -1 | cut -d' ' -f1)" = parts=2 ] && [ $k2 -eq 1 ] && printf '%s' "$c2" | grep -q "has finished" \
   && [ $k3 -eq 0 ] && tar tzf "$S/back3/results.tar.gz" | grep -q '^./runs/r-seed1/train.err$' && ! ls "$S/back3"/*.part-* > /dev/null 2>&1 \
   && printf '%s' "$c3" | grep -q "r-seed1: no final weights" && [ "$t8" = "taken=1 left=3" ] && [ "$(ls "$S/call8" | wc -l)" -eq 8 ] \
   && [ "$t1" = "taken=1 left=1" ] && [ "$t2" = "taken=1 left=0" ] && [ -f "$S/call1/r-seed1.ckpt.sums" ] \
   && [ $q1 -eq 0 ] && [ "$o1" = "r-seed1 parts=1/2" ] && [ $q2 -eq 0 ] && [ "$o2" = "r-seed1 restored" ] && [ $q3 -eq 0 ] && [ "$o3" = "r-seed1 restored" ] \
   && [ $q4 -eq 1 ] && printf '%s' "$o4" | grep -q "does not match its checksum" && [ ! -e "$S/m2/runs/r-seed1" ] \
   && [ $q5 -eq 0 ] && grep -q "resuming exactly at iteration 2" "$S/m/runs/r-seed1/train.err" \
   && cmp -s "$S/m/runs/r-seed1/backup/r_final.weights" "$T/res/runs/r-seed1/backup/r_final.weights" && grep -q " ok 4$" "$S/m/runs/r-seed1/result.txt"; then
  echo "PASS la_slot_checkpoint"; else echo "FAIL la_slot_checkpoint (rc $k1 $k2 $k3 $q1 $q2 $q3 $q4 $q5)"; printf '%s\n' "$c1" "$c2" "$c3" "$t8" "$t1" "$t2" "$o1" "$o2" "$o3" "$o4" | tail -10; fi
# LA_TABLES_ONLY=1: the tables again from the brought-back results alone (no LA folder, no weights, nothing trained)
U="$S/unpacked"; mkdir -p "$U"; tar -C "$U" -xzf "$S/back/results.tar.gz" 2>/dev/null
out=$(LA_TABLES_ONLY=1 sh scripts/la_ablation "$T/nowhere" "$U" "$U/experiment.variants" 1 2>&1); rc=$?
want=$(awk '{ printf "| sup | %.3f +- 0.000 |", $3 }' "$T/exp/runs/sup-seed1/result.txt")
if [ $rc -eq 0 ] && grep -qF "$want" "$U/ablation.md" && [ "$(grep -c '^| \(sup\|dbisl\) | \(valid_16\|unlabeled_48\) | none |' "$U/metrics.md")" -eq 4 ] \
   && [ ! -e "$U/data" ] && [ ! -e "$U/runs/sup-seed1/backup/sup_final.weights" ] && ! LA_TABLES_ONLY=2 sh scripts/la_ablation "$T/la" "$U" "$U/experiment.variants" > /dev/null 2>&1; then
  echo "PASS la_ablation_tables_only"; else echo "FAIL la_ablation_tables_only (rc=$rc, want '$want')"; printf '%s\n' "$out" | tail -4; fi
  ;;
esac

# LA_PROTOCOL=full on real LA: 2 labeled, 1 unlabeled and 1 validation case at their own resolution. The paper's
# 112x112x80 crops take about 5 GiB and 7 s on 2 cores for one DBiSL step, and the first step 24 s (docs/full-resolution.md), so the smoke
# test shrinks the crop and the stride (LA_CROP, LA_STRIDE) and stops after 2 steps of the 6000-iteration schedule
# (LA_SCHEDULE=6000: the ramp scaled to 2118, the con ramp to 6000); everything else is the protocol's.
L=/work/shared/data/LA
if [ ! -f "$L/labeled_16.list" ]; then
  echo "SKIP la_experiment_full: $L (the real LA data) is absent"
else
  mkdir -p "$T/real"
  head -2 "$L/labeled_16.list" > "$T/real/labeled_16.list"; head -1 "$L/unlabeled_48.list" > "$T/real/unlabeled_48.list"
  head -1 "$L/valid_16.list" > "$T/real/valid_16.list"
  for c in $(cat "$T/real/"*.list); do ln -s "$L/$c" "$T/real/$c"; done
  out=$(LA_PROTOCOL=full LA_SCHEDULE=6000 LA_CROP=16,32,32 LA_STRIDE=16,32,32 LA_EVAL_UNLABELED=0 sh scripts/la_experiment "$T/real" "$T/full" 1 2>&1); rc=$?
  last=$(printf '%s\n' "$out" | tail -1)
  R="$T/full/runs"
  v=$(head -1 "$T/real/valid_16.list")
  # mm = voxels x 0.625 (LA's spacing): hd95_mm / hd95 of the raw valid line
  ratio=$(awk '$1 == "valid" && $2 == "raw" && $5 > 0 { printf "%.3f", $7 / $5 }' "$R/dbisl-seed1/metrics.txt" 2>/dev/null)
  if [ $rc -eq 0 ] && printf '%s\n' "$last" | grep -Eq '^sup_b2_dice=0\.[0-9]{4} sup_b4_dice=0\.[0-9]{4} dbisl_dice=0\.[0-9]{4}$' \
     && grep -q 'batch 2 (2 labeled), 16 x 32 x 32 crops' "$R/sup_b2-seed1/train.err" && grep -q 'batch 4 (4 labeled)' "$R/sup_b4-seed1/train.err" \
     && grep -q 'batch 4 (2 labeled)' "$R/dbisl-seed1/train.err" && [ "$(diff cfg/dbisl-vnet.cfg "$R/dbisl-seed1/dbisl.cfg" | grep -c '^>')" -eq 7 ] \
     && grep -q '^max_batches=6000$' "$R/dbisl-seed1/dbisl.cfg" && grep -q '^rampup=2118$' "$R/dbisl-seed1/dbisl.cfg" && grep -q '^con_rampup=6000$' "$R/dbisl-seed1/dbisl.cfg" \
     && [ "$(diff cfg/vnet-sup.cfg "$R/sup_b4-seed1/sup_b4.cfg" | grep -c '^>')" -eq 5 ] && [ "$(grep -c 'valid_16 | largest component' "$T/full/metrics.md")" -eq 3 ] \
     && [ "$(cat "$R"/*/metrics.txt | wc -l)" -eq 6 ] && [ "$ratio" = 0.625 ] && [ -L "$T/full/data-full/$v" ] && [ -f "$R/dbisl-seed1/valid_lcc.csv" ]; then
    echo "PASS la_experiment_full ($last)"; else echo "FAIL la_experiment_full (rc=$rc, last line '$last', mm/vox $ratio)"; printf '%s\n' "$out" | tail -5; fi
fi
