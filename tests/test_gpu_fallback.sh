#!/bin/sh
# A GPU build started where no GPU exists must run on the CPU with one notice line, for seg3d commands and stock Darknet commands alike.
G=build/gpu/darknet
if [ ! -x "$G" ]; then echo "SKIP gpu_fallback: no GPU build at $G (run make with the CUDA toolkit present)"; exit 0; fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then echo "SKIP gpu_fallback: a GPU is present here"; exit 0; fi
T=$(mktemp -d)
printf '[net]\nbatch=1\nheight=4\nwidth=4\ndepth=2\nchannels=1\n\n[r2s]\nk=-5\n' > "$T/a.cfg"
$G seg3d params "$T/a.cfg" > "$T/out" 2> "$T/err"; rc=$?
n=$(grep -c "no CUDA device is usable" "$T/err")
if [ $rc -eq 0 ] && [ "$n" -eq 1 ] && tail -1 "$T/out" | grep -q '^params=0$'; then echo "PASS gpu_fallback_seg3d"; else echo "FAIL gpu_fallback_seg3d (rc=$rc notices=$n)"; cat "$T/err" | tail -3; fi
# -nogpu before seg3d, as Darknet accepts its flags anywhere
$G -nogpu seg3d params "$T/a.cfg" > "$T/out" 2> "$T/err"; rc=$?
if [ $rc -eq 0 ] && tail -1 "$T/out" | grep -q '^params=0$'; then echo "PASS gpu_fallback_nogpu_first"; else echo "FAIL gpu_fallback_nogpu_first (rc=$rc)"; tail -3 "$T/err"; fi
# a stock command: Darknet's main gets -nogpu and must not die in cudaSetDevice
$G classifier > "$T/out" 2> "$T/err"; rc=$?
if grep -q "usage" "$T/err" && [ $rc -lt 128 ] && [ "$(grep -c 'no CUDA device is usable' "$T/err")" -eq 1 ]; then echo "PASS gpu_fallback_stock_command"; else echo "FAIL gpu_fallback_stock_command (rc=$rc)"; tail -3 "$T/err"; fi
rm -rf "$T"
