#!/bin/sh
# Carries a build made here to a GPU machine that has the NVIDIA driver, the CUDA libraries and cuDNN but no compiler libraries (OpenBLAS, NIfTI, HDF5, cairo) and no network: `pack` puts the build's darknet, test programs and bench drivers with the shared libraries they load into one .tar.xz; `unpack` there restores them as build/gpu and ./darknet and prints the LD_LIBRARY_PATH they run with.
# usage: sh scripts/gpu_kit.sh pack [build dir (build/gpu)] [kit file (.slot/gpu-kit.tar.xz)]
#        sh scripts/gpu_kit.sh unpack [kit file (.slot/gpu-kit.tar.xz)]   prints one line: export LD_LIBRARY_PATH=...
#        sh scripts/gpu_kit.sh env      the same line for a kit unpacked by an earlier call on the same machine
#   pack takes darknet and the test programs of the build dir (make tests-build makes both), builds the bench drivers,
#   and keeps every library ldd names except the C library's own and CUDA's (libcuda, libcudart, libcublas*,
#   libcurand, libcudnn*), which the GPU machine provides. unpack uses, of the kit's libraries, only those the machine
#   lacks or has in too old a version (ldd says 'not found' or 'version ... not found'), so the machine's own
#   libstdc++, libgomp and friends stay in use where they do; the CUDA libraries are looked up in $CUDA_HOME/lib64
#   and in the pip packages nvidia-* (cuDNN comes as nvidia-cudnn-cu13 on the GPU machines this project borrows).
#   GPU_KIT_XZ (-9): the xz level; GPU_KIT_ROOT (.): where unpack and env put build/gpu, build/gpu-kit and ./darknet.
#   docs/performance.md has the sizes and how a GPU device call uses the kit.
set -eu
cd "$(dirname "$0")/.."
CMD=${1:-}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
# the libraries a GPU machine has of its own: the C library's, and CUDA's (driver, runtime, cuBLAS, cuRAND, cuDNN)
system_lib() {
    case $(basename "$1") in
        libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|libresolv.so.*|ld-linux*|linux-vdso*) return 0;;
        libcuda.so.*|libcudart.so.*|libcublas.so.*|libcublasLt.so.*|libcurand.so.*|libcudnn*.so*) return 0;;
    esac
    return 1
}
case $CMD in
pack)
    B=${2:-build/gpu}
    KIT=${3:-.slot/gpu-kit.tar.xz}
    if [ ! -x "$B/darknet" ] || ! ls "$B"/tests/test_* > /dev/null 2>&1; then
        echo "gpu_kit: build $B first: make -j2 GPU=1 tests-build (or make BUILDDIR=$B ... tests-build)" >&2; exit 1
    fi
    BENCH_BUILD="$B" BENCH_DRIVERS_ONLY=1 sh bench/run.sh
    S=$(mktemp -d)
    mkdir -p "$S/kit/tests" "$S/kit/bench" "$S/kit/lib"
    strip -o "$S/kit/darknet" "$B/darknet"
    for t in "$B"/tests/test_*; do strip -o "$S/kit/tests/$(basename "$t")" "$t"; done
    for d in bench_train bench_dtransform_c; do strip -o "$S/kit/bench/$d" "tests/out/bench/$d"; done
    cp tests/out/bench/drivers.env "$S/kit/bench/"
    for f in "$S/kit/darknet" "$S"/kit/tests/* "$S"/kit/bench/bench_*; do
        ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'
    done | sort -u | while read -r l; do
        system_lib "$l" || cp -L "$l" "$S/kit/lib/"
    done
    printf 'commit %s\nbuilt %s on %s\nbuild %s (%s)\n' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        "$(date -u +%Y-%m-%dT%H:%MZ)" "$(uname -m)" "$B" "$(ls "$B"/.onednn-* 2>/dev/null | sed 's/.*\.onednn-/oneDNN=/')" > "$S/kit/MANIFEST"
    mkdir -p "$(dirname "$KIT")"
    tar -C "$S" -cf - kit | xz "${GPU_KIT_XZ:--9}" -T2 > "$KIT"
    echo "$KIT: $(du -m "$KIT" | cut -f1) MiB ($(ls "$S/kit/tests" | wc -l) test programs, $(ls "$S/kit/lib" | wc -l) libraries)"
    rm -rf "$S"
    ;;
unpack)
    KIT=${2:-.slot/gpu-kit.tar.xz}
    [ -f "$KIT" ] || { echo "gpu_kit: $KIT not found (make it here with: sh scripts/gpu_kit.sh pack)" >&2; exit 1; }
    R=${GPU_KIT_ROOT:-.}
    K=$R/build/gpu-kit
    rm -rf "$K"; mkdir -p "$K" "$R/build/gpu/tests"
    # xz, or Python's lzma where the machine has no xz
    if command -v xz > /dev/null 2>&1; then xz -dc "$KIT"
    else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$KIT"; fi | tar -C "$K" -xf -
    cp "$K/kit/darknet" "$R/build/gpu/darknet"
    cp "$K"/kit/tests/* "$R/build/gpu/tests/"
    ln -sf build/gpu/darknet "$R/darknet"
    exec sh scripts/gpu_kit.sh env
    ;;
env)
    R=${GPU_KIT_ROOT:-.}
    K=$R/build/gpu-kit
    [ -f "$K/kit/MANIFEST" ] || { echo "gpu_kit: no unpacked kit in $K (sh scripts/gpu_kit.sh unpack <kit file>)" >&2; exit 1; }
    # CUDA's libraries: the toolkit's, then those of the nvidia-* pip packages (cuDNN among them)
    CUDAPATH=$CUDA_HOME/lib64
    PYLIBS=$(python3 -c 'import os, nvidia
print(":".join(sorted(os.path.join(p, d, "lib") for p in nvidia.__path__ for d in os.listdir(p) if os.path.isdir(os.path.join(p, d, "lib")))))' 2>/dev/null || true)
    [ -n "$PYLIBS" ] && CUDAPATH=$CUDAPATH:$PYLIBS
    mkdir -p "$K/lib"
    USE=$(cd "$K/lib" && pwd)
    # take a kit library only where the machine's is missing or too old; what it needs may in turn be missing
    for round in 1 2 3 4 5 6 7 8; do
        need=$(for f in "$R/build/gpu/darknet" "$R"/build/gpu/tests/* "$K"/kit/bench/bench_*; do
                   LD_LIBRARY_PATH=$USE:$CUDAPATH ldd "$f" 2>&1
               done | sed -n -e 's/^[[:space:]]*\([^[:space:]]*\) => not found.*/\1/p' \
                             -e 's/^[^:]*: \([^:]*\): version .* not found.*/\1/p' | sort -u)
        new=0
        for n in $need; do
            n=$(basename "$n")
            if [ -f "$K/kit/lib/$n" ] && [ ! -e "$USE/$n" ]; then ln -s "../kit/lib/$n" "$USE/$n"; new=1; fi
        done
        [ $new = 1 ] || break
    done
    missing=$(for f in "$R/build/gpu/darknet" "$R"/build/gpu/tests/*; do LD_LIBRARY_PATH=$USE:$CUDAPATH ldd "$f" 2>&1; done | grep 'not found' | sort -u | head -5 | tr '\n' ';' || true)
    [ -z "$missing" ] || echo "gpu_kit: still missing: $missing" >&2
    echo "gpu_kit: $(sed -n 1p "$K/kit/MANIFEST"); $(ls "$USE" | wc -l) of $(ls "$K/kit/lib" | wc -l) kit libraries used" >&2
    echo "export LD_LIBRARY_PATH=$USE:$CUDAPATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    ;;
*)
    sed -n '2,13p' "$0"; exit 2;;
esac
