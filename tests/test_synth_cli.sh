#!/bin/sh
# `./darknet seg3d synth` writes a phantom data set whose synth.data lists every case, and rejects bad arguments without writing.
D=${DARKNET:-./darknet}
if [ ! -x "$D" ]; then echo "SKIP synth_cli: no darknet binary at $D"; exit 0; fi
T=tests/out/synth_cli_sh
rm -rf "$T"
$D seg3d synth "$T" 5 -size 8 12 10 -seed 4 > /dev/null 2>&1; rc=$?
n=$(cat "$T/labeled.list" "$T/unlabeled.list" "$T/valid.list" 2>/dev/null | wc -l)
if [ $rc -eq 0 ] && [ "$n" -eq 5 ] && [ -f "$T/case_004/image.nii.gz" ] && [ -f "$T/case_004/label.nii.gz" ] && grep -q '^image = %s/image.nii.gz$' "$T/synth.data"; then
  echo "PASS synth_cli_writes_dataset"; else echo "FAIL synth_cli_writes_dataset (rc=$rc cases=$n)"; fi
ok=1
for args in "$T/b" "$T/b 0" "$T/b 3 -size 8 12" "$T/b 3 -seed -1" "$T/b 3 -bogus"; do
  $D seg3d synth $args > /dev/null 2>&1; rc=$?
  [ $rc -eq 2 ] || { ok=0; echo "  'synth $args' gave rc=$rc, want 2"; }
done
[ -e "$T/b" ] && { ok=0; echo "  bad arguments still wrote $T/b"; }
if [ $ok -eq 1 ]; then echo "PASS synth_cli_bad_arguments"; else echo "FAIL synth_cli_bad_arguments"; fi
