#!/bin/sh
# Training never loses work: a non-finite loss or weights stop training with exit 3 and a message naming the last checkpoint the run wrote or resumed from (or saying there is none), which stays finite and loadable; an unwritable checkpoint is an error (non-zero exit), never a silent stop.
DARKNET=${DARKNET:-./darknet}
cd "$(dirname "$0")/.."
T=tests/out/train_safety
rm -rf "$T"; mkdir -p "$T"
"$DARKNET" seg3d synth "$T/data" 2 -size 8 12 12 -seed 6 > /dev/null 2>&1 || { echo "FAIL safety_setup: seg3d synth failed"; exit 1; }
net() { # net LR LAST_EVERY MAX_BATCHES: the [net] section of the cfgs below
cat <<CFG
[net]
batch=2
width=8
height=8
depth=4
channels=1
learning_rate=$1
momentum=0.9
max_batches=$3
last_every=$2
CFG
}
cfg() { # cfg LR LAST_EVERY
net "$1" "$2" 50; echo; cat tests/fixtures/cfg/dual_tiny_layers.cfg
}
# learning_rate=1e6 diverges (seeded, so deterministically): the weights or the loss overflow after a few iterations
cfg 1000000 1 > "$T/nan.cfg"
"$DARKNET" seg3d train "$T/data/synth.data" "$T/nan.cfg" -seed 1 > "$T/nan.out" 2> "$T/nan.err"; rc=$?
W="$T/data/backup/nan_last.weights"
it=$(sed -n -e "s/.*error: loss is .* at iteration \([0-9]*\): stopping.*/\1/p" -e "s/.*error: weights are not finite at iteration \([0-9]*\): stopping.*/\1/p" "$T/nan.err")
if [ $rc -eq 3 ] && [ -n "$it" ] && grep -q "the last good weights are $W" "$T/nan.err"; then echo "PASS safety_nan_loss_stops (iteration $it, exit 3)"
else echo "FAIL safety_nan_loss_stops: rc=$rc"; tail -3 "$T/nan.err"; fi
saved=$(( $(od -A n -t u8 -j 12 -N 8 "$W" | tr -d ' ') / 2 ))
if [ "$saved" -eq $((it - 1)) ] && ! od -A n -t f4 -j 20 -v "$W" | grep -qiE 'nan|inf'; then echo "PASS safety_last_weights_finite (iteration $saved)"
else echo "FAIL safety_last_weights_finite: checkpoint at $saved, NaN at $it"; fi
if [ ! -f "$T/data/backup/nan_final.weights" ]; then echo "PASS safety_no_final_after_nan"; else echo "FAIL safety_no_final_after_nan"; fi
# the kept weights load (resuming from them repeats the divergence: their .state continues the same run)
cfg 0.001 1 > "$T/ok.cfg"
if "$DARKNET" seg3d predict "$T/ok.cfg" "$W" "$T/data/case_000/image.nii.gz" "$T/p.nii.gz" > /dev/null 2> "$T/ok.err"; then echo "PASS safety_last_weights_load"
else echo "FAIL safety_last_weights_load"; tail -3 "$T/ok.err"; fi
# the message names only weights this run wrote or resumed from: with no checkpoint due before the NaN it says so
cfg 1000000 100 > "$T/nan100.cfg"
"$DARKNET" seg3d train "$T/data/synth.data" "$T/nan100.cfg" -seed 1 > /dev/null 2> "$T/nan100.err"; rc=$?
if [ $rc -eq 3 ] && grep -q "stopping; no checkpoint was written yet" "$T/nan100.err" && ! grep -q "last good weights" "$T/nan100.err"; then echo "PASS safety_nan_no_checkpoint_named"
else echo "FAIL safety_nan_no_checkpoint_named: rc=$rc"; tail -2 "$T/nan100.err"; fi
# ... and a resumed run that stops before its first checkpoint names the weights it resumed from
"$DARKNET" seg3d train "$T/data/synth.data" "$T/nan100.cfg" "$W" > /dev/null 2> "$T/nan100r.err"; rc=$?
if [ $rc -eq 3 ] && grep -q "stopping; the last good weights are $W (iteration $saved)" "$T/nan100r.err"; then echo "PASS safety_nan_names_resume_source"
else echo "FAIL safety_nan_names_resume_source: rc=$rc"; tail -2 "$T/nan100r.err"; fi

# a checkpoint that cannot be written (its .tmp path is a directory): error and non-zero exit (Darknet alone exits 0)
mkdir -p "$T/data/backup/ok_last.weights.tmp"
"$DARKNET" seg3d train "$T/data/synth.data" "$T/ok.cfg" -max_batches 3 > /dev/null 2> "$T/w.err"; rc=$?
if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "error: cannot write weights .*ok_last.weights.tmp" "$T/w.err"; then echo "PASS safety_unwritable_checkpoint"
else echo "FAIL safety_unwritable_checkpoint: rc=$rc"; tail -3 "$T/w.err"; fi
# a backup folder that cannot be created
printf 'labeled = data/labeled.list\nimage = data/%%s/image.nii.gz\nlabel = data/%%s/label.nii.gz\nbackup = nan.cfg/sub\n' > "$T/bad_backup.data"

"$DARKNET" seg3d train "$T/bad_backup.data" "$T/ok.cfg" -max_batches 1 > /dev/null 2> "$T/b.err"; rc=$?
if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "cannot create backup folder .*nan.cfg/sub" "$T/b.err"; then echo "PASS safety_backup_folder_error"
else echo "FAIL safety_backup_folder_error: rc=$rc"; tail -3 "$T/b.err"; fi

# pre-activations far past where exp overflows (two [shortcut]s scale by 100 each: |x| ~ 1e4) through tanh, elu and
# selu: the activations stay finite and the run trains (Darknet's formulas gave inf/inf and 0*inf = NaN there)
big_cfg() { # big_cfg ACTIVATION
net 0.01 100 2
for i in 1 2; do printf '\n[conv3d]\nfilters=2\nsize=3\npad=1\nbatch_normalize=1\nactivation=relu\n'; done
cat <<CFG

[shortcut]
from=-2
activation=linear
alpha=-100
beta=100

[shortcut]
from=-2
activation=$1
alpha=100
beta=100

[conv3d]
filters=1
size=1

[dtransform]
input=logits

[route]
layers=3

[conv3d]
filters=1
size=1

[r2s]
input=preact

[dbisl]
seg=4
sdf=7
s2r=5
r2s=8
CFG
}
for act in tanh elu selu; do
  big_cfg $act > "$T/big_$act.cfg"
  if "$DARKNET" seg3d train "$T/data/synth.data" "$T/big_$act.cfg" -seed 1 > /dev/null 2> "$T/big_$act.err" \
     && [ -f "$T/data/backup/big_${act}_final.weights" ]; then echo "PASS safety_large_preactivation_$act"
  else echo "FAIL safety_large_preactivation_$act"; tail -2 "$T/big_$act.err"; fi
done
