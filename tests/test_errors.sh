#!/bin/sh
# Bad-input catalogue: every case must fail with an exit code in 1..127 (no signal), no sanitizer/abort report, and a message on stderr naming the file, line or section/key, and what was expected.
# Cases: tests/errors/cfg/*.cfg (each ends with "# expect: <ERE>" matched against stderr after the file name) plus
# data, volume, weights and command-line cases generated below from `seg3d synth` output and tests/errors/tiny.h5.
DARKNET=${DARKNET:-./darknet}
cd "$(dirname "$0")/.."
T=tests/out/errors
rm -rf "$T"; mkdir -p "$T"
npass=0; nfail=0

# check NAME REGEX CMD...: runs CMD, asserts the failure contract and that stderr matches REGEX (ERE)
check() {
  name=$1; pat=$2; shift 2
  "$@" > "$T/stdout" 2> "$T/stderr"; rc=$?
  why=""
  if [ $rc -eq 0 ]; then why="exit status 0"
  elif [ $rc -ge 128 ]; then why="killed by a signal (status $rc)"
  elif grep -Eq 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|Assertion .* failed|Segmentation fault|Aborted' "$T/stderr"; then why="sanitizer or abort report"
  elif ! grep -Eq -- "$pat" "$T/stderr"; then why="stderr does not match /$pat/"
  fi
  if [ -z "$why" ]; then echo "PASS errors_$name"; npass=$((npass + 1))
  else echo "FAIL errors_$name: $why"; sed 's/^/    stderr: /' "$T/stderr" | tail -4; nfail=$((nfail + 1)); fi
}

# ---- cfg catalogue: ./darknet seg3d params <cfg>
for f in tests/errors/cfg/*.cfg; do
  exp=$(sed -n 's/^# expect: //p' "$f")
  # an expectation starting with ':' gives the exact line; otherwise any file:line: prefix is accepted
  case "$exp" in :*) pre="";; *) pre=":[0-9]+: ";; esac
  check "cfg_$(basename "$f" .cfg)" "$(printf '%s' "$f" | sed 's/[.[\*^$]/\\&/g')$pre$exp" "$DARKNET" seg3d params "$f"
done
check cfg_missing_file "tests/errors/cfg/nope\.cfg: cannot open" "$DARKNET" seg3d params tests/errors/cfg/nope.cfg
check resample_factor_above_x "tiny\.h5: <factor> 64 is larger than the volume's x dimension 6 " "$DARKNET" seg3d resample tests/errors/tiny.h5 "$T/r64.nii.gz" 64
check resample_factor_above_z "tiny\.h5: <factor> 5 is larger than the volume's z dimension 4 " "$DARKNET" seg3d resample tests/errors/tiny.h5 "$T/r5.nii.gz" 5
check resample_spacing_missing "resample -spacing: expected three numbers DX DY DZ" "$DARKNET" seg3d resample tests/errors/tiny.h5 "$T/rs.nii.gz" 1 -spacing 0.6 0.6
check resample_spacing_range "resample -spacing: expected a number in \[0\.001, 1000\], got '0'" "$DARKNET" seg3d resample tests/errors/tiny.h5 "$T/rs.nii.gz" 1 -spacing 0.6 0 0.6
check params_precision_no_value "seg3d params: unknown or incomplete option '-precision'" "$DARKNET" seg3d params cfg/dbisl-tiny.cfg -precision
check predict_decoder_bad "seg3d predict -decoder: takes a, b or mean, got 'c'" "$DARKNET" seg3d predict cfg/dbisl-tiny.cfg w.weights in.nii.gz out.nii.gz -decoder c
check test_split_bad "seg3d test -split: takes valid, test, labeled or unlabeled, got 'train'" "$DARKNET" seg3d test x.data cfg/dbisl-tiny.cfg w.weights -split train
check keys_extra_argument "seg3d keys takes no arguments, got 'junk'" "$DARKNET" seg3d keys junk
check params_extra_argument "seg3d params: unknown or incomplete option 'extra'" "$DARKNET" seg3d params cfg/dbisl-tiny.cfg extra
sed 's/^width=.*/width=20/' cfg/dbisl-tiny.cfg > "$T/crop20.cfg"
check dbisl_crop_not_divisible "crop20\.cfg:[0-9]+: \[dbisl\] .*a crop side \(\[net\] depth, height, width: [0-9]+, [0-9]+, 20\) is not a multiple of the network's down-sampling" "$DARKNET" seg3d params "$T/crop20.cfg"
check params_bad_precision "-precision: expected fp32, tf32, fp16 or bf16, got 'fp8'" "$DARKNET" seg3d params cfg/dbisl-tiny.cfg -precision fp8

# ---- a tiny valid data set and cfg to break one thing at a time
"$DARKNET" seg3d synth "$T/syn" 2 -size 8 12 12 -seed 3 > /dev/null 2>&1 || { echo "FAIL errors_setup: seg3d synth failed"; exit 1; }
"$DARKNET" seg3d synth "$T/big" 1 -size 8 16 16 -seed 4 > /dev/null 2>&1 || { echo "FAIL errors_setup: seg3d synth failed"; exit 1; }
# resample refuses, before reading anything, an output that is its input (by name or through a link)
cp "$T/syn/case_000/image.nii.gz" "$T/r_in.nii.gz"; ln -sf r_in.nii.gz "$T/r_link.nii.gz"
check resample_output_is_input "^error: [^ ]*r_in\.nii\.gz: the output would overwrite the input [^ ]*r_in\.nii\.gz" "$DARKNET" seg3d resample "$T/r_in.nii.gz" "$T/r_in.nii.gz" 2
check resample_output_links_to_input "^error: [^ ]*r_link\.nii\.gz: the output would overwrite the input [^ ]*r_in\.nii\.gz" "$DARKNET" seg3d resample "$T/r_in.nii.gz" "$T/r_link.nii.gz" 1
if cmp -s "$T/syn/case_000/image.nii.gz" "$T/r_in.nii.gz"; then echo "PASS errors_resample_input_kept"; npass=$((npass + 1))
else echo "FAIL errors_resample_input_kept: the input was overwritten"; nfail=$((nfail + 1)); fi
check resample_output_bad_extension "^error: [^ ]*r\.mha: can only write \.nii or \.nii\.gz" "$DARKNET" seg3d resample "$T/r_in.nii.gz" "$T/r.mha" 2
check resample_spacing_nifti "syn/case_000/image\.nii\.gz: -spacing is for inputs without a geometry" "$DARKNET" seg3d resample "$T/syn/case_000/image.nii.gz" "$T/rs.nii.gz" 1 -spacing 1 1 1
cat > "$T/tiny.cfg" <<'EOF'
[net]
batch=2
width=8
height=8
depth=4
channels=1
max_batches=1

[conv3d]
filters=1
size=1
activation=linear

[conv3d]
filters=1
size=1
activation=linear

[dbisl]
seg=0
sdf=1
w_sup_reg=0
w_sup_s2r=0
w_con_s2r=0
w_con_r2s=0
EOF
SYN=$T/syn
# a NUL byte at the start of a line (Darknet's fgetl would read before that line's buffer)
check cfg_nul_byte "nul\.cfg:6: a NUL byte" sh -c "{ head -c 39 $T/tiny.cfg; printf '\\000'; tail -c +40 $T/tiny.cfg; } > $T/nul.cfg; \"$DARKNET\" seg3d params $T/nul.cfg"
img=$(ls "$SYN"/*/image.nii.gz 2>/dev/null | head -1)
[ -n "$img" ] || img=$(find "$SYN" -name '*image*' | head -1)
[ -f "$img" ] || { echo "FAIL errors_setup: no synth image found under $SYN"; exit 1; }
ddir=$(dirname "$img")

# .data file variants (paths relative to the .data file's folder)
mkdata() { # mkdata NAME BODY
  printf '%s\n' "$2" > "$T/$1.data"
}
sed "s#^root *=.*#root = syn#; s#= *\([a-z]*\)\.\(txt\|list\)\$#= syn/\1.\2#" "$SYN/synth.data" > "$T/good.data"
sed 's/^\[net\]$/[net]\nnormalize=minmax/' "$T/tiny.cfg" > "$T/norm.cfg"
printf 'nope\n' > "$T/syn/unl_missing.list"; { cat "$T/good.data"; echo "unlabeled = syn/unl_missing.list"; } > "$T/unl_missing.data"
check train_unlabeled_case_missing "nope.* \(case nope of the unlabeled list [^ ]*unl_missing\.list\)" "$DARKNET" seg3d train "$T/unl_missing.data" cfg/dbisl-tiny.cfg -max_batches 2
check net_normalize_bad_value "norm\.cfg:2: \[net\]: key 'normalize': expected none, zscore or ctwindow, got 'minmax'" "$DARKNET" seg3d train "$T/good.data" "$T/norm.cfg" -max_batches 1
sed 's/^\[net\]$/[net]\nnormalize=ctwindow\nwindow_lo=300/' "$T/tiny.cfg" > "$T/window.cfg"
check net_window_empty "window\.cfg:3: \[net\]: key 'window_lo': the window needs window_lo < window_hi, got 300 and 275" "$DARKNET" seg3d train "$T/good.data" "$T/window.cfg" -max_batches 1
check data_missing_file "$T/none\.data: cannot open" "$DARKNET" seg3d train "$T/none.data" "$T/tiny.cfg" -max_batches 1
mkdata unknown_key "labeled = syn/labeled.txt
image = syn/%s/image.nii.gz
label = syn/%s/label.nii.gz
lables = x"
check data_unknown_key "unknown_key\.data:4: unknown key 'lables'" "$DARKNET" seg3d train "$T/unknown_key.data" "$T/tiny.cfg"
mkdata missing_image "labeled = syn/labeled.txt
label = syn/%s/label.nii.gz"
check data_missing_required "missing_image\.data: missing required key 'image'" "$DARKNET" seg3d train "$T/missing_image.data" "$T/tiny.cfg"
mkdata no_equals "labeled syn/labeled.txt"
check data_no_equals "no_equals\.data:1: expected 'key = value'" "$DARKNET" seg3d train "$T/no_equals.data" "$T/tiny.cfg"
mkdata bad_pattern "labeled = syn/labeled.txt
image = syn/image.nii.gz
label = syn/%s/label.nii.gz"
check data_pattern_without_id "bad_pattern\.data:2: key 'image': pattern .* must contain exactly one %s" "$DARKNET" seg3d train "$T/bad_pattern.data" "$T/tiny.cfg"
: > "$T/empty.txt"
mkdata empty_list "labeled = empty.txt
image = syn/%s/image.nii.gz
label = syn/%s/label.nii.gz"
check data_empty_list "empty_list\.data.*empty\.txt' holds no cases" "$DARKNET" seg3d train "$T/empty_list.data" "$T/tiny.cfg"
mkdata missing_list "labeled = nolist.txt
image = syn/%s/image.nii.gz
label = syn/%s/label.nii.gz"
check data_missing_list "missing_list\.data:1: key 'labeled': list '.*nolist\.txt': cannot open" "$DARKNET" seg3d train "$T/missing_list.data" "$T/tiny.cfg"

# one-case data sets whose image or label is broken; training must name the file
brk() { # brk NAME IMAGE LABEL H5: writes $T/NAME/d.data whose single case c reads IMAGE and LABEL (copied in)
  mkdir -p "$T/$1"; cp "$2" "$T/$1/c_image$4"; cp "$3" "$T/$1/c_label$4"; echo c > "$T/$1/list.txt"
  printf 'labeled = list.txt\nimage = %%s_image%s\nlabel = %%s_label%s\nbackup = backup\n' "$4" "$4" > "$T/$1/d.data"
}
lab="$ddir/label.nii.gz"
bigimg=$(find "$T/big" -name 'image.nii.gz' | head -1)
brk missing_image "$img" "$lab" .nii.gz; rm "$T/missing_image/c_image.nii.gz"
check image_missing "missing_image/(\./)?c_image\.nii\.gz: cannot open" "$DARKNET" seg3d train "$T/missing_image/d.data" "$T/tiny.cfg" -max_batches 1
brk size_mismatch "$bigimg" "$lab" .nii.gz
check image_label_size_mismatch "size_mismatch/(\./)?c_label\.nii\.gz: label is 12 x 12 x 8 but the image .* is 16 x 16 x 8" "$DARKNET" seg3d train "$T/size_mismatch/d.data" "$T/tiny.cfg" -max_batches 1
# NIfTI corruptions from an uncompressed copy of a synth image (348-byte header, data at vox_offset 352)
gzip -dc "$img" > "$T/img.nii"
nbytes=$(wc -c < "$T/img.nii")
head -c 200 "$T/img.nii" > "$T/trunc_header.nii"
check nifti_truncated_header "trunc_header\.nii: not a readable NIfTI header" "$DARKNET" seg3d metrics "$T/trunc_header.nii" "$T/img.nii"
head -c $((nbytes - 100)) "$T/img.nii" > "$T/trunc_data.nii"
check nifti_truncated_data "trunc_data\.nii: NIfTI data could not be read \(truncated or corrupt file\)" "$DARKNET" seg3d metrics "$T/trunc_data.nii" "$T/img.nii"
head -c $((nbytes / 2)) "$img" > "$T/trunc.nii.gz"
check nifti_gz_truncated "trunc\.nii\.gz: (NIfTI data could not be read|not a readable NIfTI header|gzip data is cut short)" "$DARKNET" seg3d metrics "$T/trunc.nii.gz" "$T/img.nii"
# vox_offset (float32 at byte 108) pointing into the header: refused, not read with every voxel shifted
{ head -c 108 "$T/img.nii"; printf '\000\000\110\103'; tail -c +113 "$T/img.nii"; } > "$T/vox200.nii"
check nifti_vox_offset_in_header "vox200\.nii: vox_offset 200: a single-file NIfTI-1 keeps its voxels at byte 352 or later" "$DARKNET" seg3d metrics "$T/vox200.nii" "$T/img.nii"
# a gzip trailer whose CRC does not match the data, and a stream without its trailer
gzn=$(wc -c < "$img")
{ head -c $((gzn - 8)) "$img"; printf '\000\000\000\000'; tail -c 4 "$img"; } > "$T/crc.nii.gz"
check nifti_gz_crc "crc\.nii\.gz: gzip data is corrupt \(CRC check failed\)" "$DARKNET" seg3d metrics "$T/crc.nii.gz" "$T/img.nii"
head -c $((gzn - 8)) "$img" > "$T/notrailer.nii.gz"
check nifti_gz_no_trailer "notrailer\.nii\.gz: gzip data is cut short before its trailer \(truncated file\)" "$DARKNET" seg3d metrics "$T/notrailer.nii.gz" "$T/img.nii"
head -c 4000 /dev/urandom > "$T/noise.nii"
check nifti_random_bytes "noise\.nii: not a readable NIfTI header" "$DARKNET" seg3d metrics "$T/noise.nii" "$T/img.nii"
echo "this is not gzip" > "$T/text.nii.gz"
check nifti_gz_not_gzip "text\.nii\.gz: not a readable NIfTI header" "$DARKNET" seg3d metrics "$T/text.nii.gz" "$T/img.nii"
# 4D with two frames: dim[0] = 4 and dim[4] = 2 (int16 at offsets 40 and 48), the data appended twice
{ head -c 40 "$T/img.nii"; printf '\004\000'; tail -c +43 "$T/img.nii" | head -c 6; printf '\002\000'; tail -c +51 "$T/img.nii"; tail -c +353 "$T/img.nii"; } > "$T/frames2.nii"
check nifti_4d_two_frames "frames2\.nii: 2 frames \(dims 4\.\.7\); a single 3D volume is required" "$DARKNET" seg3d metrics "$T/frames2.nii" "$T/img.nii"
# a NaN voxel (float32 0x7fc00000) as the first voxel of the image: datatype must be float32 (16) for this patch
dt=$(od -A n -t d2 -j 70 -N 2 "$T/img.nii" | tr -d ' ')
if [ "$dt" = "16" ]; then
  { head -c 352 "$T/img.nii"; printf '\000\000\300\177'; tail -c +357 "$T/img.nii"; } > "$T/nan.nii"
  brk nan_image "$T/nan.nii" "$lab" .nii; cp "$T/img.nii" /dev/null
  gzip -dc "$lab" > "$T/nan_image/c_label.nii"
  check nifti_nan_voxel "nan_image/(\./)?c_image\.nii: voxel \(0, 0, 0\) is NaN" "$DARKNET" seg3d train "$T/nan_image/d.data" "$T/tiny.cfg" -max_batches 1
else echo "SKIP errors_nifti_nan_voxel: synth image datatype is $dt, not float32"; fi
cp tests/errors/tiny.h5 "$T/tiny.h5"
check h5_missing_dataset "tiny\.h5: no dataset 'image2'" sh -c "printf 'labeled = l.txt\nimage = %%s.h5\nlabel = %%s.h5\nh5_image = image2\n' > $T/h5.data; echo tiny > $T/l.txt; \"$DARKNET\" seg3d train $T/h5.data $T/tiny.cfg -max_batches 1"
h5n=$(wc -c < tests/errors/tiny.h5)
head -c $((h5n - 300)) tests/errors/tiny.h5 > "$T/trunc.h5"
check h5_truncated "trunc\.h5: (not a readable HDF5 file|reading dataset 'image' failed)" "$DARKNET" seg3d metrics "$T/trunc.h5" "$T/img.nii"
head -c 1024 /dev/urandom > "$T/noise.h5"
check h5_random_bytes "noise\.h5: not a readable HDF5 file" "$DARKNET" seg3d metrics "$T/noise.h5" "$T/img.nii"
echo x > "$T/vol.mha"
check volume_unknown_format "vol\.mha: unknown volume format \(expected \.nii, \.nii\.gz or \.h5\)" "$DARKNET" seg3d metrics "$T/vol.mha" "$T/img.nii"

# the loader always pads a volume smaller than the crop with zeros (src/loader.h) and has no "padding off" option
echo "SKIP errors_crop_larger_than_volume_padding_off: the loader has no padding-off option (crops larger than a volume are zero-padded by design)"

# ---- weights: a cfg with 4 floats of weights ([conv3d] filters=2 size=1 on 1 channel: 2 biases + 2 weights)
cat > "$T/w.cfg" <<'EOF'
[net]
batch=1
width=4
height=4
depth=2
channels=1

[conv3d]
filters=2
size=1
EOF
hdr() { printf '\000\000\000\000\002\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000'; } # major 0, minor 2, revision 0, seen (size_t)
f4() { i=0; while [ $i -lt $1 ]; do printf '\000\000\200\077'; i=$((i + 1)); done; } # N floats of 1.0
{ hdr; f4 4; } > "$T/w_ok.weights"
gzip -dc "$img" > /dev/null
vol4=$(find "$T/big" -name 'image.nii.gz' | head -1)
# control: the right size loads and predicts
if "$DARKNET" seg3d predict "$T/w.cfg" "$T/w_ok.weights" "$vol4" "$T/p.nii.gz" > /dev/null 2> "$T/stderr"; then echo "PASS errors_weights_ok_control"; npass=$((npass + 1))
else echo "FAIL errors_weights_ok_control: predict with weights of the right size failed"; tail -3 "$T/stderr"; nfail=$((nfail + 1)); fi
{ hdr; f4 7; } > "$T/w_long.weights"
check weights_other_cfg_longer "w_long\.weights: 12 bytes left after the last layer: the weights file was not written for this cfg" "$DARKNET" seg3d predict "$T/w.cfg" "$T/w_long.weights" "$vol4" "$T/p.nii.gz"
# dontload=1 alone: the loader skips the layer, the file's bytes are left over, and the error says why; with
# dontsave=1 as well the cfg and its files agree, and the same error carries no such note
sed 's/^size=1$/size=1\ndontload=1/' "$T/w.cfg" > "$T/w_dontload.cfg"; sed 's/^size=1$/size=1\ndontload=1\ndontsave=1/' "$T/w.cfg" > "$T/w_both.cfg"
check weights_dontload_note "16 bytes left after the last layer.* \(the cfg sets dontload=1 on layer 0: Darknet skips that layer when it reads a file" "$DARKNET" seg3d predict "$T/w_dontload.cfg" "$T/w_ok.weights" "$vol4" "$T/p.nii.gz"
"$DARKNET" seg3d predict "$T/w_both.cfg" "$T/w_ok.weights" "$vol4" "$T/p.nii.gz" > /dev/null 2> "$T/stderr"; rc=$?
if [ $rc -eq 1 ] && grep -q "bytes left after the last layer" "$T/stderr" && ! grep -q "the cfg sets" "$T/stderr"; then echo "PASS errors_weights_dontsave_dontload_no_note"; npass=$((npass + 1))
else echo "FAIL errors_weights_dontsave_dontload_no_note: rc $rc: $(tail -1 "$T/stderr")"; nfail=$((nfail + 1)); fi
{ hdr; f4 3; } > "$T/w_short.weights"
check weights_truncated_mid_layer "w_short\.weights: weights file ends inside layer 0 \(conv3d\)" "$DARKNET" seg3d predict "$T/w.cfg" "$T/w_short.weights" "$vol4" "$T/p.nii.gz"
{ hdr; f4 2; printf '\000\000\300\177'; f4 1; } > "$T/w_nan.weights"   # the third parameter NaN
check weights_nan "w_nan\.weights: parameter 3 of the file \(counting from 1\) is not finite \(NaN or infinite\)" "$DARKNET" seg3d predict "$T/w.cfg" "$T/w_nan.weights" "$vol4" "$T/p.nii.gz"
{ hdr; f4 3; printf '\000\000\200\177'; } > "$T/w_inf.weights"   # the last parameter +infinity
check weights_inf "w_inf\.weights: parameter 4 of the file \(counting from 1\) is not finite" "$DARKNET" seg3d test "$T/syn/synth.data" "$T/w.cfg" "$T/w_inf.weights"
check cli_predict_decoder_b_no_dbisl "w\.cfg: decoder b asked, but the network has no \[dbisl\] layer" "$DARKNET" seg3d predict "$T/w.cfg" "$T/w_ok.weights" "$vol4" "$T/p.nii.gz" -decoder b
hdr | head -c 10 > "$T/w_header.weights"
check weights_truncated_header "w_header\.weights: truncated weights header" "$DARKNET" seg3d predict "$T/w.cfg" "$T/w_header.weights" "$vol4" "$T/p.nii.gz"
# a negative major or minor (no Darknet version): refused with the header's values; a version 0.1 file's int seen below 0 too
{ printf '\063\063\063\363\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000'; f4 4; } > "$T/w_major_neg.weights"   # major -214748365
check weights_header_major_negative "w_major_neg\.weights: version header -214748365\.0\.0 is not a Darknet weights file's" "$DARKNET" seg3d predict "$T/w.cfg" "$T/w_major_neg.weights" "$vol4" "$T/p.nii.gz"
{ printf '\377\377\377\177\000\000\000\000\000\000\000\000\000\000\000\000'; f4 4; } > "$T/w_major_max.weights"   # major INT_MAX: a transposed file, int seen
if "$DARKNET" seg3d predict "$T/w.cfg" "$T/w_major_max.weights" "$vol4" "$T/p.nii.gz" > /dev/null 2> "$T/stderr" && ! grep -q "runtime error" "$T/stderr"
then echo "PASS errors_weights_header_major_int_max_loads"; npass=$((npass + 1))
else echo "FAIL errors_weights_header_major_int_max_loads: a transposed file's header (major INT_MAX, int seen) did not load"; tail -3 "$T/stderr"; nfail=$((nfail + 1)); fi
{ printf '\000\000\000\000\001\000\000\000\000\000\000\000\370\377\377\377'; f4 4; } > "$T/w_v01_seen.weights"   # version 0.1, seen -8
check weights_header_v01_seen_negative "w_v01_seen\.weights: version 0\.1\.0 header counts -8 images seen: not a Darknet weights file's" "$DARKNET" seg3d predict "$T/w.cfg" "$T/w_v01_seen.weights" "$vol4" "$T/p.nii.gz"
check weights_missing "w_none\.weights: cannot open weights file" "$DARKNET" seg3d predict "$T/w.cfg" "$T/w_none.weights" "$vol4" "$T/p.nii.gz"

# ---- command line
check cli_no_command "usage: \./darknet seg3d <command>" "$DARKNET" seg3d
check cli_no_function "usage: .*darknet seg3d <command>" "$DARKNET"
check cli_only_nogpu "usage: .*darknet seg3d <command>" "$DARKNET" -nogpu
check cli_only_gpu_index "usage: .*darknet seg3d <command>" "$DARKNET" -i 0
check cli_gpu_index_not_a_number "^error: -i x: expected a GPU index, an integer in \[0, 2147483647\]" "$DARKNET" -i x oneoff2
check cli_gpu_index_negative "^error: -i -2: expected a GPU index" "$DARKNET" -i -2 oneoff2
check cli_gpu_index_cpu "usage: [^ ]*darknet oneoff2 " "$DARKNET" -i -1 oneoff2
check cli_gpu_index_out_of_range "^error: -i 99999999999999999999: expected a GPU index" "$DARKNET" oneoff2 -i 99999999999999999999
check cli_gpu_index_before_seg3d "-i 0: seg3d commands do not take Darknet's -i" "$DARKNET" -i 0 seg3d params cfg/dbisl-tiny.cfg
# Darknet's own commands that read positional arguments unchecked (they crashed on a missing one)
check cli_stock_partial_short "usage: .*darknet partial <cfg> <weights> <out weights> <layers>" "$DARKNET" partial a.cfg a.weights
check cli_stock_print_short "usage: .*darknet print <cfg> <weights> <layer>" "$DARKNET" -nogpu print a.cfg a.weights
check cli_stock_oneoff2_short "usage: .*darknet oneoff2 <cfg>" "$DARKNET" -i 0 oneoff2
check cli_unknown_command "seg3d: unknown command 'trian'" "$DARKNET" seg3d trian x y
check cli_params_no_cfg "usage: \./darknet seg3d params <cfg>" "$DARKNET" seg3d params
check cli_train_missing_args "usage: \./darknet seg3d train <data> <cfg>" "$DARKNET" seg3d train "$T/good.data"
check train_no_loss "cfg/vnet\.cfg has no \[dbisl\] section" "$DARKNET" seg3d train "$T/good.data" cfg/vnet.cfg -max_batches 1
check cli_train_max_batches "seg3d train -max_batches: expected an integer in \[1, 100000000\], got 'ten'" "$DARKNET" seg3d train "$T/good.data" "$T/tiny.cfg" -max_batches ten
# validation on (-valid_every or [net] valid_every) needs a valid list whose cases all read, checked before training
grep -v '^valid' "$T/good.data" > "$T/novalid.data"
check cli_train_valid_every_no_valid_list "-valid_every: validation every 2 iterations needs a 'valid' list, and [^ ]*novalid\.data has none" "$DARKNET" seg3d train "$T/novalid.data" "$T/tiny.cfg" -valid_every 2
sed 's/^max_batches=1$/max_batches=1\nvalid_every=2/' "$T/tiny.cfg" > "$T/valid_every.cfg"
check train_valid_every_key_no_valid_list "valid_every\.cfg:8: \[net\]: key 'valid_every': validation every 2 iterations needs a 'valid' list, and [^ ]*novalid\.data has none" "$DARKNET" seg3d train "$T/novalid.data" "$T/valid_every.cfg"
mkdir -p "$T/vbad/g" "$T/vbad/m"; cp "$img" "$lab" "$T/vbad/g/"; cp "$bigimg" "$T/vbad/m/"; cp "$lab" "$T/vbad/m/"
echo g > "$T/vbad/l.list"; printf 'g\nm\n' > "$T/vbad/v.list"; printf 'g\nnone\n' > "$T/vbad/v2.list"
printf 'labeled = l.list\nvalid = v.list\nimage = %%s/image.nii.gz\nlabel = %%s/label.nii.gz\nbackup = backup\n' > "$T/vbad/d.data"
sed 's/^valid = v\.list/valid = v2.list/' "$T/vbad/d.data" > "$T/vbad/d2.data"
check cli_train_valid_case_shape "vbad/(\./)?m/label\.nii\.gz: label is 12 x 12 x 8 but the image .* is 16 x 16 x 8 \(case m of the valid list [^ ]*v\.list" "$DARKNET" seg3d train "$T/vbad/d.data" "$T/tiny.cfg" -valid_every 1
check cli_train_valid_case_missing "vbad/(\./)?none/image\.nii\.gz: cannot open.*\(case none of the valid list [^ ]*v2\.list" "$DARKNET" seg3d train "$T/vbad/d2.data" "$T/tiny.cfg" -valid_every 1
if [ ! -e "$T/vbad/backup" ]; then echo "PASS errors_cli_train_valid_case_nothing_written"; npass=$((npass + 1))
else echo "FAIL errors_cli_train_valid_case_nothing_written: $T/vbad/backup was made"; nfail=$((nfail + 1)); fi
# weights already past max_batches: nothing to train, and nothing is written
sed 's#^backup *=.*#backup = mb_backup#' "$T/good.data" > "$T/mb.data"
"$DARKNET" seg3d train "$T/mb.data" "$T/tiny.cfg" -max_batches 2 > /dev/null 2>&1; cp "$T/mb_backup/tiny_last.weights" "$T/mb2.weights"; rm -rf "$T/mb_backup"
check cli_train_weights_past_max_batches "weights [^ ]*mb2\.weights are at iteration 2, past max_batches 1 \(-max_batches\): nothing was trained" "$DARKNET" seg3d train "$T/mb.data" "$T/tiny.cfg" "$T/mb2.weights" -max_batches 1
check train_weights_past_max_batches_key "weights [^ ]*mb2\.weights are at iteration 2, past max_batches 1 \([^ ]*tiny\.cfg:7: \[net\]: key 'max_batches'\)" "$DARKNET" seg3d train "$T/mb.data" "$T/tiny.cfg" "$T/mb2.weights"
if [ -f "$T/mb2.weights" ] && [ ! -e "$T/mb_backup" ]; then echo "PASS errors_cli_train_weights_past_max_batches_nothing_written"; npass=$((npass + 1))
else echo "FAIL errors_cli_train_weights_past_max_batches_nothing_written: no weights at iteration 2 to start from, or $T/mb_backup was made"; nfail=$((nfail + 1)); fi
# weights exactly at max_batches (a run stopped between its last checkpoint and its _final): a note, and they become _final
if "$DARKNET" seg3d train "$T/mb.data" "$T/tiny.cfg" "$T/mb2.weights" -max_batches 2 > /dev/null 2> "$T/stderr" \
   && grep -q "note: weights [^ ]*mb2\.weights are at iteration 2, max_batches (-max_batches): nothing to train" "$T/stderr" \
   && cmp -s "$T/mb2.weights" "$T/mb_backup/tiny_final.weights"; then echo "PASS errors_cli_train_weights_at_max_batches_final"; npass=$((npass + 1))
else echo "FAIL errors_cli_train_weights_at_max_batches_final: no note, or _final differs from the weights"; tail -2 "$T/stderr"; nfail=$((nfail + 1)); fi
rm -rf "$T/mb_backup"
# seen beyond int range (2^34 images, batch 2: 2^33 iterations) is past max_batches too
{ printf '\000\000\000\000\002\000\000\000\000\000\000\000\000\000\000\000\004\000\000\000'; tail -c +21 "$T/mb2.weights"; } > "$T/mb_2p34.weights"
check cli_train_weights_seen_past_int "weights [^ ]*mb_2p34\.weights are at iteration [0-9]+, past max_batches 3 \(-max_batches\): nothing was trained" "$DARKNET" seg3d train "$T/mb.data" "$T/tiny.cfg" "$T/mb_2p34.weights" -max_batches 3
check cli_train_seed "seg3d train -seed: expected an integer in \[0, 4294967295\], got '-1x'" "$DARKNET" seg3d train "$T/good.data" "$T/tiny.cfg" -seed -1x
check cli_train_unknown_flag "unknown argument '-epochs'" "$DARKNET" seg3d train "$T/good.data" "$T/tiny.cfg" -epochs 3
check cli_train_flag_without_value "seg3d train -max_batches: expects a value after it" "$DARKNET" seg3d train "$T/good.data" "$T/tiny.cfg" -max_batches
check cli_train_weights_after_flag "seg3d train: 'w\.weights': the weights file goes right after <cfg>, before any flag" "$DARKNET" seg3d train "$T/good.data" "$T/tiny.cfg" -clear w.weights
check cli_train_gpus_bad "seg3d train -gpus: expected GPU indices such as 0 or 0,1, got 'abc'" "$DARKNET" seg3d train "$T/good.data" "$T/tiny.cfg" -gpus abc
check cli_train_gpus_negative "seg3d train -gpus: expected GPU indices such as 0 or 0,1, got '-1'" "$DARKNET" seg3d train "$T/good.data" "$T/tiny.cfg" -gpus -1
check cli_train_gpus_trailing_comma "seg3d train -gpus: expected GPU indices such as 0 or 0,1, got '0,'" "$DARKNET" seg3d train "$T/good.data" "$T/tiny.cfg" -gpus 0,
check cli_train_gpus_out_of_range "seg3d train -gpus 99999999999999999999: GPU index 99999999999999999999 is out of range \(at most 2147483647\)" "$DARKNET" seg3d train "$T/good.data" "$T/tiny.cfg" -gpus 99999999999999999999
check cli_train_gpus_list_out_of_range "seg3d train -gpus 0,4294967296: GPU index 4294967296 is out of range" "$DARKNET" seg3d train "$T/good.data" "$T/tiny.cfg" -gpus 0,4294967296
# -gpus on a run without a GPU (this suite runs on the CPU, or -nogpu): a note, and the run trains on the CPU
if "$DARKNET" seg3d train "$T/mb.data" "$T/tiny.cfg" -max_batches 1 -nogpu -gpus 1 > /dev/null 2> "$T/stderr" \
   && grep -q "note: -gpus 1: this run has no GPU" "$T/stderr"; then echo "PASS errors_cli_train_gpus_without_gpu"; npass=$((npass + 1))
else echo "FAIL errors_cli_train_gpus_without_gpu: no note, or the run failed"; tail -2 "$T/stderr"; nfail=$((nfail + 1)); fi
rm -rf "$T/mb_backup"
# Darknet's list form is accepted (the first index is used)
if "$DARKNET" seg3d train "$T/mb.data" "$T/tiny.cfg" -max_batches 1 -nogpu -gpus 0,1 > /dev/null 2> "$T/stderr" \
   && grep -q "note: -gpus 0,1: this run has no GPU" "$T/stderr"; then echo "PASS errors_cli_train_gpus_list"; npass=$((npass + 1))
else echo "FAIL errors_cli_train_gpus_list: no note, or the run failed"; tail -2 "$T/stderr"; nfail=$((nfail + 1)); fi
rm -rf "$T/mb_backup"
# a backup folder whose checkpoint paths would pass PATH_MAX is refused before anything is made; a long one that
# fits holds every file under their full names
L=$(printf '%200s' '' | tr ' ' b)   # a folder name of 200 characters
L10=$L/$L/$L/$L/$L/$L/$L/$L/$L/$L
LB=lb/$L10/$L10/cccccccccccccccccccccccccccccccccccccc   # 4061 characters, 4078 from the .data file's folder: the line fits
sed "s#^backup *=.*#backup = $LB#" "$T/good.data" > "$T/lb.data"
check cli_train_backup_path_too_long "lb/b+(/b+)*/c+: path too long \([0-9]+ characters; at most [0-9]+, so that the run's files such as tiny_final\.weights\.state fit in it\): backup in [^ ]*lb\.data" "$DARKNET" seg3d train "$T/lb.data" "$T/tiny.cfg" -max_batches 1
if [ ! -e "$T/lb" ]; then echo "PASS errors_cli_train_backup_path_too_long_nothing_made"; npass=$((npass + 1))
else echo "FAIL errors_cli_train_backup_path_too_long_nothing_made: $T/lb was made"; nfail=$((nfail + 1)); fi
# a cfg whose name leaves no room in a file name for the run's files ("<name>_final.weights.state" and the hidden
# name it is written under first) is refused before anything is made
N=$(printf '%240s' '' | tr ' ' n); cp "$T/tiny.cfg" "$T/$N.cfg"
check cli_train_cfg_name_too_long "$N\.cfg: the cfg's name is too long for the run's files \(240 characters; at most [0-9]+" "$DARKNET" seg3d train "$T/mb.data" "$T/$N.cfg" -max_batches 1
check cli_test_save_dir_empty "seg3d test -save_dir: expects a folder name, got ''" "$DARKNET" seg3d test "$T/good.data" "$T/w.cfg" "$T/w_ok.weights" -save_dir ""
check cli_train_second_weights "seg3d train: unexpected argument 'two\.weights'" "$DARKNET" seg3d train "$T/mb.data" "$T/tiny.cfg" one.weights two.weights
LB=lb/$L/$L/$L/$L/$L/$L/$L   # 1409 characters: more than the 1200 the file names once had
sed "s#^backup *=.*#backup = $LB#" "$T/good.data" > "$T/lb.data"
if "$DARKNET" seg3d train "$T/lb.data" "$T/tiny.cfg" -max_batches 1 > /dev/null 2> "$T/stderr" && [ -f "$T/$LB/tiny_final.weights" ] \
   && [ -f "$T/$LB/tiny_final.weights.state" ] && [ -f "$T/$LB/tiny_last.weights" ] && [ -f "$T/$LB/tiny_chart.png.csv" ] \
   && [ "$(find "$T/lb" -type f | wc -l)" -eq "$(find "$T/$LB" -type f | wc -l)" ]; then echo "PASS errors_cli_train_backup_path_long"; npass=$((npass + 1))
else echo "FAIL errors_cli_train_backup_path_long: the checkpoints are not all in the long backup folder"; tail -2 "$T/stderr"; nfail=$((nfail + 1)); fi
rm -rf "$T/lb"
check cli_synth_bad_n "seg3d synth <n>: expected an integer in \[1, 1000\], got 'many'" "$DARKNET" seg3d synth "$T/s2" many
check cli_synth_bad_size "seg3d synth -size: expected three integers D H W, each in \[1, 256\]" "$DARKNET" seg3d synth "$T/s2" 1 -size 8 0 8
check cli_predict_missing_args "usage: .*predict" "$DARKNET" seg3d predict "$T/w.cfg"
# the reader's message names the file once, after "error: "
check cli_predict_unknown_format "^error: [^ ]*vol\.mha: unknown volume format" "$DARKNET" seg3d predict "$T/w.cfg" "$T/w_ok.weights" "$T/vol.mha" "$T/p.nii.gz"
# a failed write names the output it could not write, once, after "error: "
check cli_predict_output_folder_missing "^error: [^ ]*nodir/p\.nii\.gz: cannot write it: No such file or directory" "$DARKNET" seg3d predict "$T/w.cfg" "$T/w_ok.weights" "$vol4" "$T/nodir/p.nii.gz"
check cli_sdf_unknown_format "^error: [^ ]*vol\.mha: unknown volume format" "$DARKNET" seg3d sdf "$T/vol.mha" "$T/sdf.nii.gz"
check cli_predict_bad_stride "stride" "$DARKNET" seg3d predict "$T/w.cfg" "$T/w_ok.weights" "$vol4" "$T/p.nii.gz" -stride 1 0 x
# predict refuses, before writing anything, an output that is an input (by name or through a link), the reference or
# another output of the case, an output in a missing folder, and an argument after the options
cp "$vol4" "$T/in_copy.nii.gz"; ln -sf in_copy.nii.gz "$T/in_link.nii.gz"
P="$DARKNET seg3d predict $T/w.cfg $T/w_ok.weights"
check cli_predict_output_is_input "^error: [^ ]*in_copy\.nii\.gz: the output would overwrite the input [^ ]*in_copy\.nii\.gz" $P "$T/in_copy.nii.gz" "$T/in_copy.nii.gz"
check cli_predict_output_links_to_input "^error: [^ ]*in_link\.nii\.gz: the output would overwrite the input [^ ]*in_copy\.nii\.gz" $P "$T/in_copy.nii.gz" "$T/in_link.nii.gz"
if cmp -s "$vol4" "$T/in_copy.nii.gz"; then echo "PASS errors_cli_predict_input_kept"; npass=$((npass + 1))
else echo "FAIL errors_cli_predict_input_kept: the input was overwritten"; nfail=$((nfail + 1)); fi
lab4=$(dirname "$vol4")/label.nii.gz
check cli_predict_prob_is_reference "^error: [^ ]*label\.nii\.gz: the -prob output would overwrite the reference" $P "$vol4" "$T/p.nii.gz" -ref "$lab4" -prob "$lab4"
check cli_predict_prob_is_output "^error: [^ ]*p\.nii\.gz: the output and the -prob output would both be written there" $P "$vol4" "$T/p.nii.gz" -prob "$T/p.nii.gz"
rm -f "$T/p_main.nii.gz"
check cli_predict_prob_folder_missing "^error: [^ ]*nodir/q\.nii\.gz: cannot write it: No such file or directory" $P "$vol4" "$T/p_main.nii.gz" -prob "$T/nodir/q.nii.gz"
if [ -e "$T/p_main.nii.gz" ]; then echo "FAIL errors_cli_predict_nothing_written: the label was written before the error"; nfail=$((nfail + 1))
else echo "PASS errors_cli_predict_nothing_written"; npass=$((npass + 1)); fi
# output names are checked before the network is loaded: a -prob or output name that is not .nii/.nii.gz, and an
# output that is a device
rm -f "$T/p_main.nii.gz"
check cli_predict_prob_bad_extension "^error: [^ ]*q\.mha: can only write \.nii or \.nii\.gz" $P "$vol4" "$T/p_main.nii.gz" -prob "$T/q.mha"
if [ -e "$T/p_main.nii.gz" ]; then echo "FAIL errors_cli_predict_prob_bad_extension_nothing_written: the label was written before the error"; nfail=$((nfail + 1))
else echo "PASS errors_cli_predict_prob_bad_extension_nothing_written"; npass=$((npass + 1)); fi
check cli_predict_output_bad_extension "^error: [^ ]*p\.mha: can only write \.nii or \.nii\.gz" $P "$vol4" "$T/p.mha"
if grep -q "Loading weights" "$T/stderr"; then echo "FAIL errors_cli_predict_output_checked_first: the weights were loaded before the error"; nfail=$((nfail + 1))
else echo "PASS errors_cli_predict_output_checked_first"; npass=$((npass + 1)); fi
touch "$T/a_file"
# several inputs: a missing input is refused before any output folder is made; '-' is no file name
rm -rf "$T/out2"
check cli_predict_several_missing_input "^error: [^ ]*typo\.nii\.gz: cannot open: No such file or directory" $P "$vol4" "$T/typo.nii.gz" "$T/out2"
if [ -e "$T/out2" ]; then echo "FAIL errors_cli_predict_several_missing_input_no_folder: $T/out2 was made"; nfail=$((nfail + 1))
else echo "PASS errors_cli_predict_several_missing_input_no_folder"; npass=$((npass + 1)); fi
check cli_predict_dash "'-' is not a file name here" $P "$vol4" -
# test -save_dir: missing parents are made; a folder that cannot be made is refused before the first case runs
rm -rf "$T/sd"
if "$DARKNET" seg3d test "$T/good.data" "$T/w.cfg" "$T/w_ok.weights" -save_dir "$T/sd/a/b" > /dev/null 2> "$T/stderr" \
   && ls "$T/sd/a/b/" | grep -q '_pred\.nii\.gz$'; then echo "PASS errors_cli_test_save_dir_parents"; npass=$((npass + 1))
else echo "FAIL errors_cli_test_save_dir_parents: no prediction under $T/sd/a/b"; tail -2 "$T/stderr"; nfail=$((nfail + 1)); fi
check cli_test_save_dir_under_file "^error: [^ ]*a_file/x: cannot create the -save_dir folder: Not a directory" "$DARKNET" seg3d test "$T/good.data" "$T/w.cfg" "$T/w_ok.weights" -save_dir "$T/a_file/x"
if grep -q "case_" "$T/stdout"; then echo "FAIL errors_cli_test_save_dir_checked_first: a case ran before the error"; nfail=$((nfail + 1))
else echo "PASS errors_cli_test_save_dir_checked_first"; npass=$((npass + 1)); fi
check cli_predict_outdir_is_file "^error: [^ ]*a_file: cannot create the folder: File exists" $P "$vol4" "$T/in_copy.nii.gz" "$T/a_file"
grep -v '^backup' "$T/good.data" > "$T/backup_file.data"; echo 'backup = a_file' >> "$T/backup_file.data"
check train_backup_is_file "cannot create backup folder [^ ]*a_file: Not a directory" "$DARKNET" seg3d train "$T/backup_file.data" "$T/tiny.cfg" -max_batches 1
check cli_predict_after_options "'1' follows the options \(it comes after '-lcc'\)" $P "$vol4" "$T/p.nii.gz" -lcc 1
check cli_predict_reference_shape "^error: [^ ]*syn/case_000/label\.nii\.gz: the reference is 8 x 12 x 12 voxels \(D H W\), the image [^ ]* 8 x 16 x 16" $P "$vol4" "$T/p.nii.gz" -ref "$SYN/case_000/label.nii.gz"
# test and predict -ref apply training's label check: the label's shape (both files named, before the case's
# inference) and integer values in 0..255 (a float image given as the label is refused, not scored as a mask)
check cli_test_label_size_mismatch "^error: case c: [^ ]*size_mismatch/(\./)?c_label\.nii\.gz: label is 12 x 12 x 8 but the image [^ ]*c_image\.nii\.gz is 16 x 16 x 8" "$DARKNET" seg3d test "$T/size_mismatch/d.data" "$T/w.cfg" "$T/w_ok.weights" -split labeled
brk float_label "$img" "$img" .nii.gz
check train_label_not_integer "float_label/(\./)?c_label\.nii\.gz: label value [^ ]+ at voxel [0-9]+ is not an integer in 0\.\.255" "$DARKNET" seg3d train "$T/float_label/d.data" "$T/tiny.cfg" -max_batches 1
check cli_test_label_not_integer "^error: case c: [^ ]*float_label/(\./)?c_label\.nii\.gz: label value [^ ]+ at voxel [0-9]+ is not an integer in 0\.\.255" "$DARKNET" seg3d test "$T/float_label/d.data" "$T/w.cfg" "$T/w_ok.weights" -split labeled
check cli_predict_reference_not_integer "^error: [^ ]*float_label/c_label\.nii\.gz: label value [^ ]+ at voxel [0-9]+ is not an integer in 0\.\.255" $P "$img" "$T/p.nii.gz" -ref "$T/float_label/c_label.nii.gz"
# a results CSV that cannot be written whole is an error (exit status 1), not a short file
if [ -w /dev/full ]; then
check cli_test_csv_disk_full "^error: /dev/full: write failed: No space left on device" "$DARKNET" seg3d test "$T/good.data" "$T/w.cfg" "$T/w_ok.weights" -csv /dev/full
# ... and prints no mean_dice= summary, which scripts would read as a result
if grep -q "mean_dice=" "$T/stdout"; then echo "FAIL errors_cli_test_csv_disk_full_no_summary: mean_dice= printed"; nfail=$((nfail + 1))
else echo "PASS errors_cli_test_csv_disk_full_no_summary"; npass=$((npass + 1)); fi
else echo "SKIP errors_cli_test_csv_disk_full: /dev/full is not writable here"; fi
# a run that stops at a case it cannot read leaves an older CSV at the path as it was, and no hidden file
{ cat "$SYN/valid.list"; echo case_missing; } > "$T/broken_valid.list"
sed "s#^valid *=.*#valid = broken_valid.list#" "$T/good.data" > "$T/broken.data"
printf 'older\n' > "$T/older.csv"
if ! "$DARKNET" seg3d test "$T/broken.data" "$T/w.cfg" "$T/w_ok.weights" -csv "$T/older.csv" > /dev/null 2> "$T/stderr" \
   && grep -q "^error: case case_missing" "$T/stderr" && [ "$(cat "$T/older.csv")" = older ] && ! ls -a "$T" | grep -q '^\.~'; then
  echo "PASS errors_cli_test_csv_kept_on_failure"; npass=$((npass + 1))
else echo "FAIL errors_cli_test_csv_kept_on_failure: the older CSV changed, a hidden file was left, or no error"; tail -2 "$T/stderr"; nfail=$((nfail + 1)); fi
check cli_test_same_csv "-csv and -lcc_csv name the same file '.*t\.csv'" "$DARKNET" seg3d test "$T/good.data" "$T/w.cfg" "$T/w_ok.weights" -csv "$T/t.csv" -lcc_csv "$T/t.csv"
# ... also through a link to the -csv file (existing or not yet written) or another spelling of its name
printf 'older\n' > "$T/t1.csv"; ln -sf t1.csv "$T/t1_link.csv"; ln -sf t_new.csv "$T/t_new_link.csv"
check cli_test_same_csv_link "-csv and -lcc_csv name the same file '.*t1\.csv' \(also named '.*t1_link\.csv'\)" "$DARKNET" seg3d test "$T/good.data" "$T/w.cfg" "$T/w_ok.weights" -csv "$T/t1.csv" -lcc_csv "$T/t1_link.csv"
check cli_test_same_csv_dangling_link "-csv and -lcc_csv name the same file '.*t_new\.csv' \(also named '.*t_new_link\.csv'\)" "$DARKNET" seg3d test "$T/good.data" "$T/w.cfg" "$T/w_ok.weights" -csv "$T/t_new.csv" -lcc_csv "$T/t_new_link.csv"
check cli_test_same_csv_spelling "-csv and -lcc_csv name the same file '.*/t2\.csv' \(also named '.*/\./t2\.csv'\)" "$DARKNET" seg3d test "$T/good.data" "$T/w.cfg" "$T/w_ok.weights" -csv "$T/t2.csv" -lcc_csv "$T/./t2.csv"
check cli_metrics_missing_file "nofile\.nii\.gz: cannot open" "$DARKNET" seg3d metrics "$T/nofile.nii.gz" "$T/img.nii"

# the other side of the policy=steps rules: Darknet's own convention (a first step of -1, equal steps) is accepted
printf '[net]\nbatch=2\nwidth=8\nheight=8\ndepth=4\nchannels=1\npolicy=steps\nsteps=-1,100,100\nscales=.1,10,.5\n\n[conv3d]\nfilters=2\nsize=3\npad=1\n' > "$T/steps_ok.cfg"
if "$DARKNET" seg3d params "$T/steps_ok.cfg" > /dev/null 2> "$T/stderr"; then echo "PASS errors_steps_darknet_convention_accepted"; npass=$((npass + 1))
else echo "FAIL errors_steps_darknet_convention_accepted: $(tail -1 "$T/stderr")"; nfail=$((nfail + 1)); fi

echo "errors: $npass passed, $nfail failed" >&2
[ $nfail -eq 0 ]
