#!/bin/sh
# The dual-task cfgs show the model: [dtransform]/[r2s] sections on the heads, named by [dbisl]; they hold no weights, so parameter counts, weights files and predictions are those of the same V-Net without them.
D=${DARKNET:-./darknet}
T=tests/out/model_cfgs.$$
rm -rf "$T"; mkdir -p "$T"

# every dual-decoder cfg names one [dtransform] (input=logits) and one [r2s] (input=preact) per decoder
for c in cfg/*-dbisl.cfg cfg/dbisl-*.cfg; do
  nd=$(grep -c '^\[dtransform\]$' "$c"); nr=$(grep -c '^\[r2s\]$' "$c")
  nl=$(grep -c '^input=logits$' "$c"); np=$(grep -c '^input=preact$' "$c")
  if [ "$nd" = 2 ] && [ "$nr" = 2 ] && [ "$nl" = 2 ] && [ "$np" = 2 ] && grep -q '^s2r=[0-9]*,[0-9]*$' "$c" && grep -q '^r2s=[0-9]*,[0-9]*$' "$c"
  then echo "PASS model_cfgs_sections $c"
  else echo "FAIL model_cfgs_sections $c: $nd [dtransform], $nr [r2s], $nl input=logits, $np input=preact, or no s2r=/r2s= in [dbisl]"; fi
done

p=$($D seg3d params cfg/dbisl-vnet.cfg 2>/dev/null | sed -n 's/^params=//p')
[ "$p" = 12347716 ] && echo "PASS model_cfgs_params_vnet" || echo "FAIL model_cfgs_params_vnet: params=$p, the paper's MCNet3d_v1 has 12347716"

# the same V-Net without the sections (scripts/make_cfgs.py, transforms=False; loss terms that need no transform)
python3 -c "
import sys; sys.path.insert(0, 'scripts'); import make_cfgs as mc
print(mc.model(4, 32, 32, 16, 4, 0.01, 300, '8,16,16', 100, loss_extra=mc.SUP_ONLY, transforms=False))" > "$T/bare.cfg" ||
  { echo "FAIL model_cfgs_bare: scripts/make_cfgs.py"; exit 1; }
# the buffer inventory: both sdf heads' single-input [route]s share their input's buffers (0 MiB rows), and the
# per-layer column adds up to the total less the workspace
out=$($D seg3d params cfg/dbisl-vnet.cfg 2>/dev/null)
chk=$(printf '%s\n' "$out" | awk '$1 ~ /^[0-9]+$/ { s += $NF; if($2 == "route") { r++; if($NF + 0 == 0) z++ } }
  /^buffers at batch/ { for(i = 1; i <= NF; ++i){ if($i == "workspace") w = $(i + 1) + 0; if($i == "total") t = $(i + 1) + 0 } }
  END { d = s - (t - w); if(d < 0) d = -d; printf "%s routes=%d shared=%d column=%.0f total-workspace=%d", (r == 2 && z == 2 && t > 0 && d < 2) ? "ok" : "bad", r, z, s, t - w }')
case $chk in ok*) echo "PASS model_cfgs_buffers ($chk; $(printf '%s\n' "$out" | grep '^buffers'))";; *) echo "FAIL model_cfgs_buffers ($chk)";; esac
[ "$(printf '%s\n' "$out" | tail -1)" = "params=12347716" ] && echo "PASS model_cfgs_params_last_line" || echo "FAIL model_cfgs_params_last_line"
# Darknet's [shortcut] line shows a volume as c x d x h x w like the 3D layers' lines (layer 18 of the tiny cfg adds
# layer 11's 32 x 2 x 4 x 4 to the deconvolution's output), not Darknet's folded w x (d*h) x c
r=$($D seg3d params cfg/dbisl-tiny.cfg 2>&1 | awk '$1 == 18 && $2 == "res"')
[ "$(echo $r)" = "18 res 11 32 x 2 x 4 x 4 -> 32 x 2 x 4 x 4" ] && echo "PASS model_cfgs_shortcut_shapes" || echo "FAIL model_cfgs_shortcut_shapes: '$r'"
# [dropout] likewise (layer 16: a volume of depth 1 in a volume network), while a 2D network keeps Darknet's flat count
r=$($D seg3d params cfg/dbisl-tiny.cfg 2>&1 | awk '$1 == 16 && $2 == "dropout" && $3 == "p"')
r2=$($D -nogpu ops darknet-src/cfg/cifar.cfg 2>&1 | awk '$1 == 4 && $2 == "dropout"')
[ "$(echo $r)" = "16 dropout p = 0.50 64 x 1 x 2 x 2 -> 64 x 1 x 2 x 2" ] && [ "$(echo $r2)" = "4 dropout p = 0.50 25088 -> 25088" ] \
  && echo "PASS model_cfgs_dropout_shapes" || echo "FAIL model_cfgs_dropout_shapes: '$r' / '$r2'"
pb=$($D seg3d params "$T/bare.cfg" 2>/dev/null | sed -n 's/^params=//p')
pt=$($D seg3d params cfg/dbisl-tiny.cfg 2>/dev/null | sed -n 's/^params=//p')
[ -n "$pt" ] && [ "$pb" = "$pt" ] && echo "PASS model_cfgs_params_tiny ($pt)" || echo "FAIL model_cfgs_params_tiny: $pt with the sections, $pb without"

# weights trained with the sections predict exactly as in the cfg without them, for each decoder
$D seg3d synth "$T/s" 6 -size 16 32 32 -seed 3 > /dev/null 2>&1 || { echo "FAIL model_cfgs_synth"; exit 1; }
if ! $D seg3d train "$T/s/synth.data" cfg/dbisl-tiny.cfg -max_batches 2 -seed 1 > "$T/log" 2> "$T/err"; then
  echo "FAIL model_cfgs_train"; tail -3 "$T/err"; exit 1
fi
W="$T/s/backup/dbisl-tiny_final.weights"
IMG="$T/s/$(head -1 "$T/s/valid.list")/image.nii.gz"
for d in a b mean; do
  $D seg3d predict cfg/dbisl-tiny.cfg "$W" "$IMG" "$T/with_$d.nii.gz" -prob "$T/with_p_$d.nii.gz" -decoder $d > /dev/null 2>&1 &&
  $D seg3d predict "$T/bare.cfg" "$W" "$IMG" "$T/bare_$d.nii.gz" -prob "$T/bare_p_$d.nii.gz" -decoder $d > /dev/null 2>&1 &&
  cmp -s "$T/with_p_$d.nii.gz" "$T/bare_p_$d.nii.gz" && cmp -s "$T/with_$d.nii.gz" "$T/bare_$d.nii.gz" &&
  echo "PASS model_cfgs_same_prediction_decoder_$d" || echo "FAIL model_cfgs_same_prediction_decoder_$d: the two cfgs predict differently from $W"
done

# Windows line ends (\r\n) and a UTF-8 byte-order mark (both as Windows editors save a file) in the cfg, the .data
# file and the lists: the same network and the same training. A mark comes before a comment or before [net].
bom() { printf '\357\273\277'; cat "$1"; }
for c in cfg/dbisl-tiny.cfg cfg/la-mini-dbisl.cfg cfg/la-mini-sup.cfg; do
  sed 's/$/\r/' "$c" > "$T/crlf.cfg"
  a=$($D seg3d params "$c" 2>&1); b=$($D seg3d params "$T/crlf.cfg" 2>&1)
  [ -n "$a" ] && [ "$a" = "$b" ] && echo "PASS model_cfgs_crlf_params $c" || { echo "FAIL model_cfgs_crlf_params $c"; printf '%s\n' "$b" | tail -2; }
  bom "$T/crlf.cfg" > "$T/bom_comment.cfg"
  b=$($D seg3d params "$T/bom_comment.cfg" 2>&1)
  [ -n "$a" ] && [ "$a" = "$b" ] && echo "PASS model_cfgs_bom_comment_crlf_params $c" || { echo "FAIL model_cfgs_bom_comment_crlf_params $c"; printf '%s\n' "$b" | tail -2; }
  # [net] right after the mark, with a key that darknet3d reads itself (it changes the buffer table)
  grep -v '^#' "$c" | sed '/^\[net\]$/a inplace_shortcut=0' > "$T/net_first.cfg"; sed 's/$/\r/' "$T/net_first.cfg" > "$T/crlf.cfg"
  bom "$T/crlf.cfg" > "$T/bom_net.cfg"
  a=$($D seg3d params "$T/net_first.cfg" 2>&1); b=$($D seg3d params "$T/bom_net.cfg" 2>&1)
  [ -n "$a" ] && [ "$a" = "$b" ] && echo "PASS model_cfgs_bom_net_crlf_params $c" || { echo "FAIL model_cfgs_bom_net_crlf_params $c"; printf '%s\n' "$b" | tail -2; }
done
mkdir -p "$T/w"
for f in labeled.list unlabeled.list valid.list; do sed 's/$/\r/' "$T/s/$f" > "$T/w/$f.crlf"; bom "$T/w/$f.crlf" > "$T/w/$f"; done
sed -e "s|^root = .*|root = $PWD/$T/s|" -e 's|^backup = .*|backup = backup|' -e 's/$/\r/' "$T/s/synth.data" > "$T/w/synth.crlf"
bom "$T/w/synth.crlf" > "$T/w/synth.data"
grep -v '^#' cfg/dbisl-tiny.cfg | sed 's/$/\r/' > "$T/w/crlf.cfg"; bom "$T/w/crlf.cfg" > "$T/w/dbisl-tiny.cfg"
if $D seg3d train "$T/w/synth.data" "$T/w/dbisl-tiny.cfg" -max_batches 2 -seed 1 > "$T/w/log" 2> "$T/w/err" &&
   cmp -s "$W" "$T/w/backup/dbisl-tiny_final.weights"
then echo "PASS model_cfgs_bom_crlf_train (weights identical to the run from LF files without a byte-order mark)"
else echo "FAIL model_cfgs_bom_crlf_train: training from CRLF files with a byte-order mark failed or gave other weights"; tail -3 "$T/w/err"; fi
rm -rf "$T"
