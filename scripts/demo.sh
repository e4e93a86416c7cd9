#!/bin/sh
# The README's main job, on embedded data: builds the model cfgs and prints their layer tables and parameter counts (grows as training lands).
set -eu
cd "$(dirname "$0")/.."
for c in cfg/*.cfg; do
  [ -f "$c" ] || continue
  echo "== $c"
  ./darknet seg3d params "$c" 2>/dev/null | tail -1
done
