#!/bin/sh
# Product code stays readable: no function in core/, layers/ or src/ is longer than 80 lines (signature to closing brace), and no seg3d command function longer than 60.
cd "$(dirname "$0")/.."
MAX=${FUNCTION_MAX_LINES:-80}
CMD_MAX=${COMMAND_MAX_LINES:-60}
# A function: a line at column 0 that starts a declaration (after a blank line, a `;`, a `}`, a comment or a
# preprocessor line), whose body opens with `{` and closes with `}` at column 0. Prints "lines file:line name".
lengths() {
  awk '
    FNR == 1 { sig = 0; inbody = 0; prev = "" }
    {
      line = $0
      if(inbody){ if(line ~ /^}/){ printf "%d %s:%d %s\n", FNR - start + 1, FILENAME, start, name; inbody = 0; prev = "}" } ; next }
      if(line ~ /^[A-Za-z_]/ && sig == 0 && (prev == "" || prev ~ /[;}]$/ || prev ~ /^#/ || prev ~ /\*\/$/ || prev ~ /^\/\//)) { sig = FNR; name = line }
      if(line ~ /^\{/ || (sig && line ~ /^[A-Za-z_].*\)[ \t]*\{[ \t]*$/)){
        if(sig && name ~ /\(/ && name !~ /^(typedef|struct|enum|union)[ \t]/ && name !~ /=/){ start = sig; inbody = 1; sig = 0; next }
      }
      if(line ~ /;[ \t]*$/ || line ~ /^}/ || line ~ /^[ \t]*$/) sig = 0
      t = line; sub(/[ \t]+$/, "", t); prev = t
    }' "$@"
}
files=$(ls core/*.c core/*.cu layers/*.c layers/*.cu src/*.c 2>/dev/null)
lengths $files > tests/out/function_lengths.txt 2>/dev/null || { mkdir -p tests/out; lengths $files > tests/out/function_lengths.txt; }
n=$(wc -l < tests/out/function_lengths.txt)
if [ "$n" -lt 100 ]; then
  echo "FAIL function_length_scan: found only $n functions in the product code (the scanner is broken)"; exit 1
fi
long=$(awk -v m="$MAX" '$1 > m' tests/out/function_lengths.txt | sort -rn | tr '\n' ';')
if [ -n "$long" ]; then echo "FAIL function_length: over $MAX lines: $long"; else echo "PASS function_length ($n functions, longest $(sort -rn tests/out/function_lengths.txt | head -1 | cut -d' ' -f1-2))"; fi
cmds=$(grep -E ' (int|static int) (seg3d_[a-z0-9_]+|cmd_[a-z0-9_]+)\(int argc, char \*\*argv\)' tests/out/function_lengths.txt | awk -v m="$CMD_MAX" '$1 > m' | tr '\n' ';')
if [ -n "$cmds" ]; then echo "FAIL command_length: command functions over $CMD_MAX lines: $cmds"; else echo "PASS command_length"; fi
