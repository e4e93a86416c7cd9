#!/bin/sh
# The folders' layering, core/ <- layers/ <- src/: no file includes a header of a folder above its own (read from the sources), and the build's compile rule for each folder cannot find those headers (a probe that includes one fails to compile with the flags make uses).
BUILD=${BUILD:-build/cpu}
cd "$(dirname "$0")/.."
T=tests/out/layering
rm -rf "$T"; mkdir -p "$T"
nfail=0
level() { case "$1" in core) echo 0;; layers) echo 1;; src) echo 2;; esac; }

# 1. the sources: every #include "x" of a file in folder F names a header of F or of a folder below it, or none of ours
bad=""
for dir in core layers src; do
  for f in "$dir"/*.c "$dir"/*.h "$dir"/*.cu "$dir"/*.def; do
    [ -f "$f" ] || continue
    sed -n 's/^[ \t]*#[ \t]*include[ \t]*"\([^"]*\)".*/\1/p' "$f" | while read -r h; do
      [ -f "$dir/$h" ] && continue
      for up in core layers src; do
        if [ -f "$up/$h" ] && [ "$(level "$up")" -gt "$(level "$dir")" ]; then
          echo "$f includes $up/$h"
        fi
      done
    done
  done
done > "$T/upward"
if [ -s "$T/upward" ]; then
  echo "FAIL layering_sources: upward includes: $(tr '\n' ';' < "$T/upward")"; nfail=$((nfail + 1))
else
  echo "PASS layering_sources"
fi

# 2. the build: the compile command make runs for one file of each folder (make -n into an empty build folder),
#    applied to a probe that includes a header of the folder above (must fail) and one of its own folder (must work)
probe() { # probe NAME SOURCE-OF-FOLDER HEADER EXPECT(ok|fail)
  name=$1; src=$2; hdr=$3; want=$4
  o=$(echo "$src" | sed 's/\.c$/.o/')
  cmd=$(make -n --no-print-directory GPU=0 CUDNN=0 ONEDNN=0 BUILDDIR="$T/b" "$T/b/$o" 2>/dev/null | grep -- " -c $src ")
  if [ -z "$cmd" ]; then
    echo "FAIL layering_build_$name: make -n printed no compile command for $src"; nfail=$((nfail + 1)); return
  fi
  printf '#include "%s"\nint layering_probe;\n' "$hdr" > "$T/probe_$name.c"
  pcmd=$(printf '%s' "$cmd" | sed "s# -c $src -o [^ ]*# -fsyntax-only $T/probe_$name.c#")
  if sh -c "$pcmd" > "$T/$name.log" 2>&1; then got=ok; else got=fail; fi
  if [ "$got" = "$want" ]; then
    echo "PASS layering_build_$name"
  else
    echo "FAIL layering_build_$name: including $hdr with the flags of $src: expected $want, got $got"
    tail -3 "$T/$name.log" | sed 's/^/    /'; nfail=$((nfail + 1))
  fi
}
probe layers_up_src layers/r2s_layer.c darknet3d.h fail
probe layers_own layers/r2s_layer.c conv3d_layer.h ok
probe layers_down_core layers/r2s_layer.c cfg_options.h ok
probe core_up_layers core/edt.c layers3d.h fail
probe core_up_src core/edt.c volume_io.h fail
probe core_own core/edt.c cfg_keys.h ok
probe src_down src/metrics.c layers3d.h ok
rm -rf "$T/b"
[ $nfail -eq 0 ]
