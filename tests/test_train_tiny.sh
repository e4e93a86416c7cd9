#!/bin/sh
# A short training run of cfg/dbisl-tiny.cfg with every loss term on (the paper's L_all) on synthetic phantoms: the loss decreases, every term is finite, and the weights file has Darknet's header with the iteration count.
D=${DARKNET:-./darknet}
T=tests/out/train_tiny.$$
rm -rf "$T"; mkdir -p "$T"
$D seg3d synth "$T/synth" 8 -seed 5 > /dev/null 2>&1 || { echo "FAIL train_tiny_synth"; exit 1; }
# the cfg's defaults leave the r2s supervision term off and ramp the consistency terms up from 0: turn every term
# on at full weight from the first iteration (the paper's L_all)
sed -e 's/^w_sup_r2s=0/w_sup_r2s=1/' -e 's/^w_con_r2s=0/w_con_r2s=1/' -e 's/^lambda=1/lambda=0.5/' -e 's/^con_rampup=.*/con_rampup=0/' cfg/dbisl-tiny.cfg > "$T/all.cfg"
grep -q '^w_sup_r2s=1' "$T/all.cfg" && grep -q '^w_con_r2s=1' "$T/all.cfg" && grep -q '^con_rampup=0' "$T/all.cfg" \
  || { echo "FAIL train_tiny_cfg: no w_sup_r2s/w_con_r2s/con_rampup keys in cfg/dbisl-tiny.cfg"; exit 1; }
$D seg3d train "$T/synth/synth.data" "$T/all.cfg" -max_batches 30 -seed 2 > "$T/log" 2> "$T/err"
rc=$?
if [ $rc -eq 0 ]; then echo "PASS train_tiny_runs"; else echo "FAIL train_tiny_runs (rc=$rc)"; tail -3 "$T/err"; exit 1; fi
# loss: mean of iterations 1-5 vs 26-30 (field 2 is the loss)
first=$(awk -F'[:,]' 'NR>=1 && NR<=5 {s+=$2} END {print s/5}' "$T/log")
last=$(awk -F'[:,]' 'NR>=26 && NR<=30 {s+=$2} END {print s/5}' "$T/log")
if awk "BEGIN{exit !($last < 0.8 * $first)}"; then echo "PASS train_tiny_loss_decreases ($first -> $last)"; else echo "FAIL train_tiny_loss_decreases ($first -> $last)"; fi
if grep -qiE "nan|inf" "$T/log"; then echo "FAIL train_tiny_terms_finite"; else echo "PASS train_tiny_terms_finite"; fi
W="$T/synth/backup/all_final.weights"
# header: int major=0, minor=2, revision=0, size_t seen = 30 iterations x batch 4
hdr=$(od -An -tu4 -N12 "$W" | tr -s ' ')
seen=$(od -An -tu8 -j12 -N8 "$W" | tr -d ' ')
if [ "$hdr" = " 0 2 0" ] && [ "$seen" = "120" ]; then echo "PASS train_tiny_weights_header"; else echo "FAIL train_tiny_weights_header (hdr='$hdr' seen=$seen)"; fi
[ -s "$T/synth/backup/all_chart.png" ] && echo "PASS train_tiny_chart_png" || echo "FAIL train_tiny_chart_png"
# seg3d test -lcc_csv: the largest-component scores of the same prediction, as a separate -lcc run gives them
t() { $D seg3d test "$T/synth/synth.data" "$T/all.cfg" "$W" -split unlabeled -stride 8 16 16 "$@" 2> /dev/null; }
t -csv "$T/raw.csv" > "$T/raw.out" && t -lcc -csv "$T/lcc.csv" > /dev/null && t -csv "$T/both.csv" -lcc_csv "$T/both_lcc.csv" > "$T/both.out"
for f in raw lcc both both_lcc; do cut -d, -f1-7 "$T/$f.csv" > "$T/$f.c7"; done
if [ "$(wc -l < "$T/raw.c7")" -gt 1 ] && cmp -s "$T/raw.c7" "$T/both.c7" && cmp -s "$T/lcc.c7" "$T/both_lcc.c7" &&
   [ "$(tail -1 "$T/raw.out")" = "$(tail -1 "$T/both.out")" ] && grep -q '^lcc_mean_dice=' "$T/both.out"
then echo "PASS train_tiny_test_lcc_csv ($(($(wc -l < "$T/raw.c7") - 1)) cases; $(cmp -s "$T/raw.c7" "$T/lcc.c7" && echo "largest component = raw here" || echo "largest component differs from raw"))"
else echo "FAIL train_tiny_test_lcc_csv: -csv/-lcc_csv in one run differ from separate -csv and -lcc -csv runs"; fi
# a case id holding a comma and a quote is one quoted CSV field (RFC 4180): every row keeps the header's 10 columns
c1=$(head -1 "$T/synth/unlabeled.list"); cp -r "$T/synth/$c1" "$T/synth/a,\"b"; printf 'a,"b\n' > "$T/synth/odd.list"
sed 's|^unlabeled = .*|unlabeled = odd.list|' "$T/synth/synth.data" > "$T/synth/odd.data"
$D seg3d test "$T/synth/odd.data" "$T/all.cfg" "$W" -split unlabeled -stride 8 16 16 -csv "$T/odd.csv" > /dev/null 2>&1; rc=$?
if [ $rc -eq 0 ] && python3 -c "import csv,sys; r=list(csv.reader(open(sys.argv[1]))); sys.exit(not(len(r) == 2 and r[1][0] == 'a,\"b' and all(len(x) == len(r[0]) == 10 for x in r)))" "$T/odd.csv"
then echo "PASS train_tiny_test_csv_quoted_id"; else echo "FAIL train_tiny_test_csv_quoted_id (rc $rc: $(tail -1 "$T/odd.csv"))"; fi
rm -rf "$T"
