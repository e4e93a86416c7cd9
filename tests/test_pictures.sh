#!/bin/sh
# seg3d test -save_dir and seg3d predict -png write per-case PNGs of the right size whose pixels show the outlines; over several cases, progress appears on a terminal only, and piped output is one line per case.
D=${DARKNET:-./darknet}
T=tests/out/pictures.$$
PY=/usr/bin/python3
rm -rf "$T"; mkdir -p "$T"
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1: $2"; }
REF=0,224,0
PRED=255,48,255

# 6 phantoms of 16 x 24 x 24 (D H W), 1 mm; valid.list holds at least one case
$D seg3d synth "$T/s" 6 -size 16 24 24 -seed 3 > /dev/null 2>&1 || { bad pictures_synth "seg3d synth failed"; exit 1; }
cp "$T/s/labeled.list" "$T/s/valid.list"
cat "$T/s/unlabeled.list" >> "$T/s/valid.list"
nvalid=$(wc -l < "$T/s/valid.list")
# a network that passes the image through: foreground = the bright voxels
. tests/identity_net.sh
identity_net "$T"

# ---- seg3d test, piped
$D seg3d test "$T/s/synth.data" "$T/id.cfg" "$T/id.weights" -stride 4 4 4 -save_dir "$T/pred" -csv "$T/t.csv" > "$T/out" 2> "$T/err"
rc=$?
if [ $rc -ne 0 ]; then bad pictures_test_runs "rc=$rc: $(tail -2 "$T/err")"; exit 1; fi
rows=$(grep -c '^case_' "$T/out")
if [ "$rows" -eq "$nvalid" ] && ! grep -q "$(printf '\r')" "$T/out" "$T/err"; then ok pictures_test_piped_one_line_per_case
else bad pictures_test_piped_one_line_per_case "$rows case lines for $nvalid cases, or a carriage return in the output"; fi
npng=$(ls "$T/pred"/*.png 2>/dev/null | wc -l)
[ "$npng" -eq "$nvalid" ] && ok pictures_test_png_per_case || bad pictures_test_png_per_case "$npng PNGs for $nvalid cases"
# 24 x 24 x 16 voxels of 1 mm: 320/24 px per mm, panels 320 x 320, 320 x 213, 320 x 213: 992 x 358
worst_fail=""
for c in $(cat "$T/s/valid.list"); do
  set -- $($PY tests/png_colours.py "$T/pred/$c.png" -from_row 30 $REF $PRED)
  [ "$1" = 992 ] && [ "$2" = 358 ] || worst_fail="$worst_fail $c:size=$1x$2"
  # both outlines are on the slices through the reference's centre: at least a 2 px ring of a few voxels
  [ "${3:-0}" -gt 200 ] && [ "${4:-0}" -gt 200 ] || worst_fail="$worst_fail $c:ref=$3,pred=$4"
done
[ -z "$worst_fail" ] && ok pictures_test_png_size_and_outlines || bad pictures_test_png_size_and_outlines "$worst_fail"

# ---- seg3d test on a terminal: a status line with a time estimate, redrawn with carriage returns
if command -v script > /dev/null 2>&1; then
  script -qec "$D seg3d test $T/s/synth.data $T/id.cfg $T/id.weights -stride 4 4 4" /dev/null > "$T/tty" 2>&1
  if grep -q "about .* left" "$T/tty" && grep -q "$(printf '\r')" "$T/tty" && grep -q "\[$nvalid/$nvalid\]" "$T/tty" && grep -q "mean_dice=" "$T/tty"
  then ok pictures_test_tty_progress; else bad pictures_test_tty_progress "no progress line with an estimate on a terminal"; fi
else echo "SKIP pictures_test_tty_progress: no 'script' command to make a terminal"; fi

# ---- seg3d predict, one volume with its reference: PNG, and the Dice printed equals seg3d metrics'
c=$(head -1 "$T/s/valid.list")
$D seg3d predict "$T/id.cfg" "$T/id.weights" "$T/s/$c/image.nii.gz" "$T/one.nii.gz" -stride 4 4 4 -png "$T/one.png" -ref "$T/s/$c/label.nii.gz" > "$T/pout" 2> "$T/perr"
d1=$(sed -n 's/.*; dice=\([0-9.]*\)$/\1/p' "$T/pout")
d2=$($D seg3d metrics "$T/one.nii.gz" "$T/s/$c/label.nii.gz" 2>/dev/null | sed -n 's/^dice=\([0-9.]*\) .*/\1/p')
set -- $($PY tests/png_colours.py "$T/one.png" -from_row 30 $REF $PRED)
if [ -n "$d1" ] && [ "$d1" = "$d2" ] && [ "$1" = 992 ] && [ "$2" = 358 ] && [ "$3" -gt 200 ] && [ "$4" -gt 200 ]; then ok pictures_predict_png_with_reference
else bad pictures_predict_png_with_reference "dice '$d1' vs metrics '$d2', png $1 x $2, ref $3 pred $4 pixels; $(tail -1 "$T/perr")"; fi
# without a reference: the prediction outline only
$D seg3d predict "$T/id.cfg" "$T/id.weights" "$T/s/$c/image.nii.gz" "$T/one.nii.gz" -stride 4 4 4 -png "$T/noref.png" > /dev/null 2>&1
set -- $($PY tests/png_colours.py "$T/noref.png" $REF $PRED)
[ "$1" = 992 ] && [ "${3:-1}" = 0 ] && [ "${4:-0}" -gt 200 ] && ok pictures_predict_png_no_reference || bad pictures_predict_png_no_reference "png $1 x $2, ref $3 pred $4 pixels"

# ---- seg3d predict over several volumes: one line per case, files in the folders named
set -- $(sed 's|^|'"$T/s/"'|; s|$|/image.nii.gz|' "$T/s/valid.list")
$D seg3d predict "$T/id.cfg" "$T/id.weights" "$@" "$T/many" -stride 4 4 4 -png "$T/many_png" -prob "$T/many_prob" > "$T/mout" 2> "$T/merr"
rc=$?
n1=$(grep -c ' -> ' "$T/mout"); n2=$(ls "$T/many"/*_image_pred.nii.gz 2>/dev/null | wc -l)
n3=$(ls "$T/many_png"/*_image.png 2>/dev/null | wc -l); n4=$(ls "$T/many_prob"/*_image_prob.nii.gz 2>/dev/null | wc -l)
if [ $rc -eq 0 ] && [ "$n1" -eq "$nvalid" ] && [ "$n2" -eq "$nvalid" ] && [ "$n3" -eq "$nvalid" ] && [ "$n4" -eq "$nvalid" ] && ! grep -q "$(printf '\r')" "$T/merr"
then ok pictures_predict_several_inputs
else bad pictures_predict_several_inputs "rc=$rc, $n1 lines, $n2 predictions, $n3 PNGs, $n4 probability maps for $nvalid inputs; $(tail -1 "$T/merr")"; fi
# the same voxels as one at a time
if cmp -s "$T/many/${c}_image_pred.nii.gz" "$T/one.nii.gz" || [ "$($D seg3d metrics "$T/many/${c}_image_pred.nii.gz" "$T/one.nii.gz" 2>/dev/null | sed -n 's/^dice=\([0-9.]*\) .*/\1/p')" = 1.000000 ]
then ok pictures_predict_several_same_as_one; else bad pictures_predict_several_same_as_one "prediction of $c differs between the two modes"; fi
$D seg3d predict "$T/id.cfg" "$T/id.weights" "$@" "$T/many" -ref "$T/s/$c/label.nii.gz" > /dev/null 2> "$T/rerr"
rc=$?
[ $rc -eq 2 ] && grep -q "\-ref names the reference of a single input" "$T/rerr" && ok pictures_predict_ref_needs_one_input || bad pictures_predict_ref_needs_one_input "rc=$rc: $(cat "$T/rerr")"
# ---- training chart: 960 x 540, with the validation Dice curve when validation runs, and only then
VALID=0,140,60
sed 's/^\[net\]$/[net]\nvalid_every=5/' cfg/dbisl-tiny.cfg > "$T/v.cfg"
cp cfg/dbisl-tiny.cfg "$T/nv.cfg"
if grep -q '^valid_every=5' "$T/v.cfg" && ! grep -q '^valid_every' "$T/nv.cfg"; then
  $D seg3d train "$T/s/synth.data" "$T/v.cfg" -max_batches 10 -seed 1 > "$T/vlog" 2>&1
  $D seg3d train "$T/s/synth.data" "$T/nv.cfg" -max_batches 10 -seed 1 > /dev/null 2>&1
  set -- $($PY tests/png_colours.py "$T/s/backup/v_chart.png" $VALID)
  v1="$1 $2 $3"
  set -- $($PY tests/png_colours.py "$T/s/backup/nv_chart.png" $VALID)
  v2="$1 $2 $3"
  nvl=$(grep -c '^valid ' "$T/vlog")
  if [ "$nvl" -eq 2 ] && [ "${v1% *}" = "960 540" ] && [ "${v1##* }" -gt 100 ] && [ "$v2" = "960 540 0" ]; then ok pictures_train_chart_valid_curve
  else bad pictures_train_chart_valid_curve "$nvl validations; with validation: '$v1', without: '$v2' (width height pixels of the Dice colour)"; fi
else bad pictures_train_chart_valid_curve "cfg/dbisl-tiny.cfg: cannot set valid_every"; fi
rm -rf "$T"
