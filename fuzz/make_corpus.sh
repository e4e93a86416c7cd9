#!/bin/sh
# Regenerates the seed corpus of fuzz_volume (fuzz/corpus/fuzz_volume/) from the project's own generators: a `seg3d synth` phantom (.nii.gz image and label, the image uncompressed, and a 2-frame 4D copy as in tests/test_errors.sh) and tests/errors/tiny.h5 (made by tests/errors/make_h5.c).
# usage: sh fuzz/make_corpus.sh [darknet binary, default ./darknet]
set -eu
cd "$(dirname "$0")/.."
DN=${1:-./darknet}
C=fuzz/corpus/fuzz_volume
T=$(mktemp -d)
"$DN" seg3d synth "$T/s" 1 -size 8 12 12 -seed 3 > /dev/null 2>&1
case=$(ls -d "$T"/s/case_* | head -1)
mkdir -p "$C"
cp "$case/image.nii.gz" "$C/synth_image.nii.gz"
cp "$case/label.nii.gz" "$C/synth_label.nii.gz"
gzip -dc "$case/image.nii.gz" > "$C/synth_float.nii"
# 4D with two frames: dim[0] = 4 and dim[4] = 2 (int16 at offsets 40 and 48), the data appended twice
I="$C/synth_float.nii"
{ head -c 40 "$I"; printf '\004\000'; tail -c +43 "$I" | head -c 6; printf '\002\000'; tail -c +51 "$I"; tail -c +353 "$I"; } > "$C/frames2.nii"
cp tests/errors/tiny.h5 "$C/tiny_image.h5"
cp tests/errors/tiny.h5 "$C/tiny_label.h5"
rm -rf "$T"
ls -l "$C"
