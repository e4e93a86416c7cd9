#!/bin/sh
# Finds the PyTorch that `make bench` compares against: the newest torch from PyPI in the ignored build/bench-torch virtual environment, installed there when absent; prints that Python's path (stdout) and notes (stderr, lines "note: ...").
# BENCH_TORCH_INSTALL=0: never install. Without PyPI (or with installs off) it falls back to the newest torch among
# python3 and /usr/bin/python3 (Debian's python3-torch), and says so. Exit 1 when no Python has torch.
cd "$(dirname "$0")/.."
V=build/bench-torch
has_torch() { "$1" -c 'import torch, numpy' >/dev/null 2>&1; }
if [ -x "$V/bin/python" ] && has_torch "$V/bin/python"; then
    echo "$V/bin/python"
    exit 0
fi
if [ "${BENCH_TORCH_INSTALL:-1}" != 0 ]; then
    BASE=""
    for p in /usr/bin/python3 python3; do
        if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import venv, ensurepip' >/dev/null 2>&1; then BASE=$p; break; fi
    done
    if [ -n "$BASE" ]; then
        echo "installing the newest torch from PyPI into $V (once; several GB) ..." >&2
        rm -rf "$V"
        mkdir -p build
        if "$BASE" -m venv "$V" >&2 && "$V/bin/pip" install --quiet --progress-bar off --retries 1 --timeout 30 torch numpy >&2 \
            && has_torch "$V/bin/python"; then
            echo "$V/bin/python"
            exit 0
        fi
        rm -rf "$V"
        echo "note: newest PyPI torch could not be installed into $V" >&2
    else
        echo "note: no Python with venv and ensurepip to install PyPI torch into $V" >&2
    fi
fi
# fallback: the newest torch already on the machine
best="" bestv=""
for p in python3 /usr/bin/python3; do
    command -v "$p" >/dev/null 2>&1 || continue
    v=$("$p" -c 'import torch, numpy; print(torch.__version__.split("+")[0])' 2>/dev/null) || continue
    if [ -z "$best" ] || [ "$(printf '%s\n%s\n' "$bestv" "$v" | sort -V | tail -1)" = "$v" ] && [ "$v" != "$bestv" ]; then
        best=$p bestv=$v
    fi
done
[ -n "$best" ] || exit 1
echo "note: using $best (torch $bestv), not the newest from PyPI" >&2
command -v "$best"
