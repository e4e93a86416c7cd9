#!/bin/sh
# seg3d test's pred_ml/ref_ml columns and mean_pred_ml/mean_ref_ml summary, and seg3d metrics' mL, against the nonzero voxels of the written prediction and of the label times their voxel volume, read by tests/nifti_ml.py (spacing 0.625 x 0.8 x 2.5 mm).
D=${DARKNET:-./darknet}
T=tests/out/volumes.$$
PY=/usr/bin/python3
rm -rf "$T"; mkdir -p "$T"
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1: $2"; }

$D seg3d synth "$T/s" 4 -size 16 24 24 -seed 5 > /dev/null 2>&1 || { bad volumes_synth "seg3d synth failed"; exit 1; }
cat "$T/s/labeled.list" "$T/s/unlabeled.list" > "$T/s/valid.list"
# every image and label gets the spacing 0.625 (x) 0.8 (y) 2.5 (z) mm, so a volume in mL is not a voxel count
$PY - "$T/s" <<'PYEOF' || { bad volumes_spacing "could not set the spacing"; exit 1; }
import glob, gzip, struct, sys
for p in glob.glob(sys.argv[1] + '/*/*.nii.gz'):
    raw = bytearray(gzip.open(p).read())
    raw[80:92] = struct.pack('<3f', 0.625, 0.8, 2.5)
    for off in (280, 296, 312):   # srow_x/y/z: the sform, should a reader take the spacing from it
        row = list(struct.unpack('<4f', raw[off:off + 16]))
        k = (off - 280) // 16
        row[k] = (0.625, 0.8, 2.5)[k] * (1 if row[k] >= 0 else -1)
        raw[off:off + 16] = struct.pack('<4f', *row)
    with gzip.open(p, 'wb') as f:
        f.write(bytes(raw))
PYEOF
# a network that passes the image through: foreground = the bright voxels
. tests/identity_net.sh
identity_net "$T"

$D seg3d test "$T/s/synth.data" "$T/id.cfg" "$T/id.weights" -stride 4 4 4 -save_dir "$T/pred" -csv "$T/t.csv" -lcc_csv "$T/l.csv" > "$T/out" 2> "$T/err"
rc=$?
[ $rc -eq 0 ] || { bad volumes_test_runs "rc=$rc: $(tail -2 "$T/err")"; exit 1; }
head -1 "$T/t.csv" | grep -q ',seconds,pred_ml,ref_ml$' && ok volumes_csv_columns || bad volumes_csv_columns "$(head -1 "$T/t.csv")"

# each case: the CSV's pred_ml and ref_ml against the written prediction's and the label's nonzero voxels
worst=""
ncase=0
for c in $(cat "$T/s/valid.list"); do
  row=$(grep "^$c," "$T/t.csv")
  pml=$(echo "$row" | cut -d, -f9); rml=$(echo "$row" | cut -d, -f10)
  set -- $($PY tests/nifti_ml.py "$T/pred/${c}_pred.nii.gz" "$T/s/$c/label.nii.gz")
  ok1=$(awk -v a="$pml" -v b="$3" -v c="$rml" -v d="$6" 'BEGIN{ print (a - b < 1e-5 && b - a < 1e-5 && c - d < 1e-5 && d - c < 1e-5 && d > 0) ? 1 : 0 }')
  [ "$ok1" = 1 ] || worst="$worst $c:csv=$pml,$rml:files=$3,$6"
  ncase=$((ncase + 1))
done
[ -z "$worst" ] && [ "$ncase" -ge 2 ] && [ "$ncase" -eq "$(wc -l < "$T/s/valid.list")" ] && ok volumes_csv_matches_files || bad volumes_csv_matches_files "$ncase cases;$worst"

# the summary's means are the columns' means; the largest component's prediction is never larger
means=$(awk -F, 'NR > 1 { p += $9; r += $10; n++ } END { printf "%.6f %.6f", p / n, r / n }' "$T/t.csv")
line=$(tail -1 "$T/out")
sp=$(echo "$line" | sed -n 's/.* mean_pred_ml=\([0-9.]*\) mean_ref_ml=\([0-9.]*\)$/\1 \2/p')
[ -n "$sp" ] && [ "$sp" = "$means" ] && ok volumes_summary_means || bad volumes_summary_means "summary '$sp', CSV '$means': $line"
lbig=$(paste -d, "$T/t.csv" "$T/l.csv" | awk -F, 'NR > 1 && ($19 > $9 + 1e-9 || $20 != $10) { print $1 }')
[ -z "$lbig" ] && ok volumes_lcc_not_larger || bad volumes_lcc_not_larger "$lbig"

# seg3d metrics prints the same volumes
c=$(head -1 "$T/s/valid.list")
m=$($D seg3d metrics "$T/pred/${c}_pred.nii.gz" "$T/s/$c/label.nii.gz" 2>/dev/null | head -1)
set -- $($PY tests/nifti_ml.py "$T/pred/${c}_pred.nii.gz" "$T/s/$c/label.nii.gz")
want=$(printf 'pred %d voxels (%.3f mL), ref %d (%.3f mL)' "$2" "$3" "$5" "$6")
case "$m" in "$want"*) ok volumes_metrics_ml;; *) bad volumes_metrics_ml "'$m', want '$want'";; esac
rm -rf "$T"
