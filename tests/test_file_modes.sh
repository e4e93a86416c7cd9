#!/bin/sh
# Every tracked file that starts with '#!' is executable in the repository, so that the commands README.md and docs/ show as `scripts/la_curve ...` work on a fresh clone; and every executable tracked file starts with '#!'.
cd "$(dirname "$0")/.."
if ! git rev-parse --is-inside-work-tree > /dev/null 2>&1; then echo "SKIP file_modes: not a git checkout (the modes are read from git's index)"; exit 0; fi
mkdir -p tests/out
git ls-files -s | while read -r mode _ _ path; do
  [ -f "$path" ] || continue
  case $(head -c 2 "$path") in
    '#!') [ "$mode" = 100755 ] || echo "$path has a '#!' line but mode $mode (git update-index --chmod=+x $path)";;
    *)    [ "$mode" = 100755 ] && echo "$path is executable but has no '#!' line";;
  esac
done > tests/out/file_modes.txt 2>&1
n=$(git ls-files | wc -l)
if [ -s tests/out/file_modes.txt ]; then
  echo "FAIL file_modes: $(wc -l < tests/out/file_modes.txt) of $n tracked files: $(head -5 tests/out/file_modes.txt | tr '\n' ';')"
else
  echo "PASS file_modes ($n tracked files)"
fi
