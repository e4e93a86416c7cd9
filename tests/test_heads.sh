#!/bin/sh
# `./darknet seg3d heads` on a briefly trained dbisl-tiny: shares in [0, 1], the seg-head mask holding the four-head one,
# each decoder's foreground share equal to the share `seg3d predict -decoder a|b` labels at the same windows, the
# mask= of the training line in [0, 1], nan for a decoder a one-decoder network lacks, clear errors for bad input, and scripts/la_heads over a run's checkpoints.
D=${DARKNET:-./darknet}
if [ ! -x "$D" ]; then echo "SKIP heads: no darknet binary at $D"; exit 0; fi
T=tests/out/heads_sh
rm -rf "$T"; mkdir -p "$T"
$D seg3d synth "$T/synth" 4 -size 32 64 64 -seed 3 > /dev/null 2>&1 || { echo "FAIL heads_synth"; exit 1; }
$D seg3d train "$T/synth/synth.data" cfg/dbisl-tiny.cfg -max_batches 40 -clear -nogpu > "$T/train.log" 2> "$T/train.err"; rc=$?
W="$T/synth/backup/dbisl-tiny_final.weights"
if [ $rc -ne 0 ] || [ ! -f "$W" ]; then echo "FAIL heads_train (rc $rc)"; tail -3 "$T/train.err"; exit 1; fi
# the training line's mask= share lies in [0, 1]
m=$(grep -o ' mask=[0-9.]*' "$T/train.log" | tail -1 | cut -d= -f2)
if [ -n "$m" ] && awk -v m="$m" 'BEGIN{exit !(m >= 0 && m <= 1)}'; then echo "PASS heads_train_line_mask"; else echo "FAIL heads_train_line_mask ('$m')"; fi

img="$T/synth/case_000/image.nii.gz"
out=$($D seg3d heads cfg/dbisl-tiny.cfg "$W" "$img" "$T/synth/case_001/image.nii.gz" 2>&1); rc=$?
last=$(printf '%s\n' "$out" | tail -1)
v() { printf '%s\n' "$last" | tr ' ' '\n' | grep "^$1=" | cut -d= -f2; }
if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q '^all volumes: 262144 voxels$' \
   && awk -v a="$(v seg_a)" -v b="$(v sdf_b)" -v g="$(v agree_a)" -v m1="$(v mask1)" -v m2="$(v mask2)" \
      'BEGIN{exit !(a != "" && a >= 0 && a <= 1 && b >= 0 && b <= 1 && g >= 0 && g <= 1 && m1 >= 0 && m1 <= m2 && m2 <= 1)}'; then
  echo "PASS heads_shares"; else echo "FAIL heads_shares (rc $rc: $last)"; printf '%s\n' "$out" | tail -5; fi

# a volume smaller than the window, and one the windows overlap in: each voxel of the volume counted once
$D seg3d synth "$T/small" 1 -size 8 12 12 -seed 5 > /dev/null 2>&1
n1=$($D seg3d heads cfg/dbisl-tiny.cfg "$W" "$T/small/case_000/image.nii.gz" 2>&1 | sed -n 's/.*: \([0-9]*\) voxels$/\1/p' | head -1)
n2=$($D seg3d heads cfg/dbisl-tiny.cfg "$W" "$img" -stride 8 16 16 2>&1 | sed -n 's/.*: \([0-9]*\) voxels$/\1/p' | head -1)
if [ "$n1" = 1152 ] && [ "$n2" = 131072 ]; then echo "PASS heads_voxels_counted_once"; else echo "FAIL heads_voxels_counted_once (small volume $n1 of 1152, overlapping windows $n2 of 131072)"; fi

# a one-decoder network: the second decoder's values and the masks are nan, not 0
$D seg3d train "$T/synth/synth.data" cfg/sup-tiny.cfg -max_batches 1 -clear -nogpu > /dev/null 2>&1; rc=$?
last=$($D seg3d heads cfg/sup-tiny.cfg "$T/synth/backup/sup-tiny_final.weights" "$img" 2>&1 | tail -1)
if [ $rc -eq 0 ] && [ -n "$(v seg_a)" ] && [ "$(v seg_a)" != nan ] && [ "$(v seg_b)" = nan ] && [ "$(v mask1)" = nan ] && [ "$(v agree_b)" = nan ]; then
  echo "PASS heads_one_decoder_nan"; else echo "FAIL heads_one_decoder_nan (rc $rc: $last)"; fi

# each decoder's foreground share against the label `seg3d predict -decoder a|b` writes at the same (non-overlapping) windows
one=$($D seg3d heads cfg/dbisl-tiny.cfg "$W" "$img" 2>&1 | tail -1)
for dec in a b; do
  $D seg3d predict cfg/dbisl-tiny.cfg "$W" "$img" "$T/$dec.nii.gz" -decoder $dec -stride 16 32 32 -nogpu > /dev/null 2>&1; rc=$?
  fg=$($D seg3d metrics "$T/$dec.nii.gz" "$T/$dec.nii.gz" 2>/dev/null | head -1 | awk '{print $2}')
  share=$(printf '%s\n' "$one" | tr ' ' '\n' | grep "^seg_$dec=" | cut -d= -f2)
  if [ $rc -eq 0 ] && [ -n "$fg" ] && awk -v f="$fg" -v s="$share" 'BEGIN{d = f / 131072 - s; if(d < 0) d = -d; exit !(s > 0 && s < 1 && d <= 2 / 131072)}'; then
    echo "PASS heads_seg_${dec}_matches_predict ($fg voxels, seg_$dec=$share)"; else echo "FAIL heads_seg_${dec}_matches_predict (rc $rc: $fg voxels vs seg_$dec=$share)"; fi
done

# -stride D H W: the window's own stride gives the default's line, a finer one a line of its own
s1=$($D seg3d heads cfg/dbisl-tiny.cfg "$W" "$img" -stride 16 32 32 2> /dev/null | tail -1); r1=$?
s2=$($D seg3d heads cfg/dbisl-tiny.cfg "$W" "$img" -stride 8 16 16 2> /dev/null | tail -1); r2=$?
case $s2 in seg_a=*) ok2=1;; *) ok2=0;; esac
if [ $r1 -eq 0 ] && [ "$s1" = "$one" ] && [ $r2 -eq 0 ] && [ $ok2 -eq 1 ]; then echo "PASS heads_stride"; else echo "FAIL heads_stride ('$s1' vs '$one'; '$s2')"; fi

# bad input: usage errors exit 2, a missing image or a cfg without [dbisl] exit 1 with an error line
ok=1
for args in "cfg/dbisl-tiny.cfg $W" "cfg/dbisl-tiny.cfg $W $img -bogus" "cfg/dbisl-tiny.cfg $W $img -stride 1 2"; do
  $D seg3d heads $args > /dev/null 2>&1; rc=$?
  [ $rc -eq 2 ] || { ok=0; echo "  'heads $args' gave rc=$rc, want 2"; }
done
e=$($D seg3d heads cfg/dbisl-tiny.cfg "$W" "$T/none.nii.gz" 2>&1); rc=$?
{ [ $rc -eq 1 ] && printf '%s\n' "$e" | grep -q "error: .*none.nii.gz"; } || { ok=0; echo "  missing image: rc=$rc: $e"; }
# a network without [dbisl]: the identity network of tests/identity_net.sh
. tests/identity_net.sh
identity_net "$T"
e=$($D seg3d heads "$T/id.cfg" "$T/id.weights" "$img" 2>&1); rc=$?
{ [ $rc -eq 1 ] && printf '%s\n' "$e" | grep -q "error: .*id.cfg: no \[dbisl\] section"; } || { ok=0; echo "  cfg without [dbisl]: rc=$rc: $e"; }
if [ $ok -eq 1 ]; then echo "PASS heads_bad_input"; else echo "FAIL heads_bad_input"; fi

# scripts/la_heads: one line per checkpoint (iterations ascending, final last; _last and _best ignored, and the last
# numbered one, 100, read once as final since it is the same file), each the
# result line of seg3d heads on the split's cases; la.data's relative paths taken from the run directory
R="$T/run"; mkdir -p "$R/backup"
cp cfg/dbisl-tiny.cfg "$R/"
sed -e 's|^root = .*|root = ../synth|' -e 's|^labeled = .*|labeled = ../synth/labeled.list|' \
    -e 's|^unlabeled = .*|unlabeled = ../synth/unlabeled.list|' -e 's|^valid = .*|valid = ../synth/valid.list|' \
    "$T/synth/synth.data" > "$R/la.data"
for k in 20 100 final last best; do cp "$W" "$R/backup/dbisl-tiny_$k.weights"; done
cp "$R/backup/dbisl-tiny_20.weights" "$R/backup/dbisl-tiny_3.weights"
printf 'x' | dd of="$R/backup/dbisl-tiny_20.weights" bs=1 seek=4000 conv=notrunc 2> /dev/null   # differs from final
out=$(DARKNET=$D sh scripts/la_heads "$R" unlabeled); rc=$?
imgs=$(sed "s|.*|$T/synth/&/image.nii.gz|" "$T/synth/unlabeled.list" | tr '\n' ' ')
want=$($D seg3d heads cfg/dbisl-tiny.cfg "$W" $imgs 2>/dev/null | tail -1 | sed 's/[a-z_0-9]*=//g')
got=$(printf '%s\n' "$out" | awk 'NR > 1 {print $1}' | tr '\n' ' ')
if [ $rc -eq 0 ] && [ "$got" = "3 20 final " ] && [ -n "$want" ] \
   && [ "$(printf '%s\n' "$out" | awk 'NR > 1 {$1 = ""; print substr($0, 2)}' | sort -u)" = "$want" ] \
   && printf '%s\n' "$out" | head -1 | grep -q '^checkpoint seg_a seg_b sdf_a sdf_b agree_a agree_b mask1 mask2$'; then
  echo "PASS la_heads_checkpoints"; else echo "FAIL la_heads_checkpoints (rc $rc, checkpoints '$got', want '$want')"; printf '%s\n' "$out" | tail -5; fi
e=$(DARKNET=$D sh scripts/la_heads "$R" nosuch 2>&1); rc=$?
e2=$(DARKNET=$D sh scripts/la_heads "$T/synth" 2>&1); rc2=$?
if [ $rc -eq 1 ] && printf '%s\n' "$e" | grep -q "nosuch.list: no such file" && [ $rc2 -eq 1 ] && printf '%s\n' "$e2" | grep -q "la.data: no such file"; then
  echo "PASS la_heads_bad_input"; else echo "FAIL la_heads_bad_input (rc $rc: $e / rc $rc2: $e2)"; fi
rm -rf "$T"
