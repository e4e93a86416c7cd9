#!/bin/sh
# Runs every test program of a build (build/<variant>/tests/test_*) and every tests/test_*.sh, counting PASS/FAIL/SKIP lines; a crash or a non-zero exit without FAIL lines is one failure.
# What a passing test leaves under tests/out that was not there before it ran is removed (a whole run would leave
# ~2.5 GB); a failing test's output stays for inspection.
B=${1:-build/cpu}
cd "$(dirname "$0")/.."
passed=0; failed=0; skipped=0
# see src/main.c: OpenMP must not spin while OpenBLAS threads run
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
LOG=$(mktemp)
mkdir -p tests/out
run_one() {
  name=$1; shift
  before=$(ls -A tests/out)
  t0=$(date +%s)
  "$@" > "$LOG" 2>"$LOG.err"
  rc=$?
  cat "$LOG"
  echo "-- $name: $(( $(date +%s) - t0 )) s"
  p=$(grep -c '^PASS ' "$LOG"); f=$(grep -c '^FAIL ' "$LOG"); s=$(grep -c '^SKIP ' "$LOG")
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL $name: exited with status $rc"
    tail -5 "$LOG.err" | sed 's/^/  /'
    failed=$((failed + 1))
  elif [ $rc -eq 0 ] && [ "$f" -gt 0 ]; then
    echo "FAIL $name: FAIL lines but exit status 0"
    failed=$((failed + 1))
  fi
  if [ "$f" -gt 0 ]; then tail -20 "$LOG.err" | sed 's/^/  stderr: /'; fi
  if [ $rc -eq 0 ] && [ "$f" -eq 0 ]; then
    ls -A tests/out | while read -r e; do printf '%s\n' "$before" | grep -qxF "$e" || rm -rf "tests/out/$e"; done
  fi
}
for t in "$B"/tests/test_*; do
  [ -x "$t" ] || continue
  echo "== $(basename "$t")"
  run_one "$(basename "$t")" "$t"
done
for t in tests/test_*.sh; do
  [ -f "$t" ] || continue
  echo "== $(basename "$t")"
  run_one "$(basename "$t")" env DARKNET="$B/darknet" BUILD="$B" sh "$t"
done
rm -f "$LOG" "$LOG.err"
# a full disk shows up as failures anywhere: say how much room was left
[ "$failed" -eq 0 ] || echo "free space under tests/out: $(df -Pk tests/out | awk 'NR == 2 { printf "%d MiB", $4 / 1024 }')"
echo "$skipped skipped (skips are not counted as passed)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
