#!/bin/sh
# Runs every libFuzzer target in build/fuzz for a bounded time (default 30 s each, at most 60) from a copy of its committed seed corpus; fails on any crash, leak, sanitizer report or timeout and shows the report of the crashing input.
# usage: [FUZZ_B=build/fuzz] sh fuzz/run.sh [SECONDS]   (make fuzz-build first; `make fuzz FUZZ_SECONDS=N` does both)
S=${1:-30}
[ "$S" -gt 60 ] && S=60
cd "$(dirname "$0")/.."
B=${FUZZ_B:-build/fuzz}
W=$(mktemp -d)
rc=0
for t in "$B"/fuzz_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  mkdir -p "$W/$name" "$W/$name-crash"
  cp fuzz/corpus/"$name"/* "$W/$name/" 2>/dev/null
  # stdout/stderr of the target are closed (-close_fd_mask=3: the parsers print layer tables); a crash is re-run below with them open
  LSAN_OPTIONS=suppressions=$PWD/fuzz/lsan.supp ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$t" -max_total_time="$S" -timeout=10 -rss_limit_mb=3072 -close_fd_mask=3 -print_final_stats=1 \
    -artifact_prefix="$W/$name-crash/" "$W/$name" > "$W/$name.log" 2>&1
  r=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$W/$name.log")
  secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$W/$name.log")
  crash=$(ls "$W/$name-crash" | head -1)
  if [ $r -ne 0 ] || [ -n "$crash" ]; then
    echo "FAIL fuzz $name: exit $r after ${runs:-?} runs; crashing input: ${crash:-none}"
    grep -E '^==[0-9]+==|SUMMARY|runtime error' "$W/$name.log" | head -5
    if [ -n "$crash" ]; then
      mkdir -p tests/out/fuzz && cp "$W/$name-crash/$crash" "tests/out/fuzz/$name-$crash"
      echo "  kept as tests/out/fuzz/$name-$crash; report:"
      LSAN_OPTIONS=suppressions=$PWD/fuzz/lsan.supp ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 "$t" "$W/$name-crash/$crash" 2>&1 | grep -E 'ERROR|SUMMARY|#[0-9] |runtime error' | head -25 | sed 's/^/    /'
    fi
    rc=1
  else
    echo "PASS fuzz $name: ${runs:-?} runs in $S s (${secs:-?}/s), corpus $(ls "$W/$name" | wc -l) inputs"
  fi
done
rm -rf "$W"
exit $rc
