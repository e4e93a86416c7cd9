#!/bin/sh
# The README's main job on embedded data: generates synthetic phantoms, trains cfg/dbisl-tiny.cfg on them (CPU, a few minutes) and evaluates it on the held-out phantoms.
set -eu
cd "$(dirname "$0")/.."
OUT=${DEMO_DIR:-out/demo}
ITERS=${DEMO_ITERS:-300}
rm -rf "$OUT"
mkdir -p "$OUT"
echo "== synthetic phantoms in $OUT/synth"
./darknet seg3d synth "$OUT/synth" 24 -seed 7
echo "   $(wc -l < "$OUT/synth/labeled.list") labeled, $(wc -l < "$OUT/synth/unlabeled.list") unlabeled, $(wc -l < "$OUT/synth/valid.list") validation cases"
echo "== training cfg/dbisl-tiny.cfg for $ITERS iterations (log: $OUT/train.log, chart: $OUT/synth/backup/dbisl-tiny_chart.png)"
./darknet seg3d train "$OUT/synth/synth.data" cfg/dbisl-tiny.cfg -max_batches "$ITERS" -seed 1 2>"$OUT/train.err" | tee "$OUT/train.log" | awk 'NR % 25 == 0 || /valid/ { print; fflush() }'
echo "== evaluating on the validation phantoms"
./darknet seg3d test "$OUT/synth/synth.data" cfg/dbisl-tiny.cfg "$OUT/synth/backup/dbisl-tiny_final.weights" -csv "$OUT/test.csv" -save_dir "$OUT/pred" 2>/dev/null
# the pictures: three slices through each case, image in grey, reference outline green, prediction outline magenta
best=$(tail -n +2 "$OUT/test.csv" | sort -t, -k2,2 -g | tail -1)
worst=$(tail -n +2 "$OUT/test.csv" | sort -t, -k2,2 -g | head -1)
echo "== pictures of every case in $OUT/pred/ (grey image, green reference, magenta prediction); training chart $OUT/synth/backup/dbisl-tiny_chart.png"
echo "best case:  $OUT/pred/${best%%,*}.png (Dice $(echo "$best" | cut -d, -f2))"
echo "worst case: $OUT/pred/${worst%%,*}.png (Dice $(echo "$worst" | cut -d, -f2))"
