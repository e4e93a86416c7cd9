# Sourced by the bench scripts: what a program compiled against libdarknet3d.a needs, read from the library itself.
# lib_flags <libdarknet3d.a> sets LIB_CFLAGS and LIB_LIBS: -ldnnl when it was built with oneDNN (LIB_DNNL=1); on a GPU
# build (LIB_GPU=1) -DGPU, and -DCUDNN when it calls cuDNN, which change Darknet's layer struct (compiled without them a
# program reads the layers at the wrong offsets), with the CUDA libraries (CUDA_HOME, default /usr/local/cuda).
lib_flags() {
    LIB_CFLAGS=""; LIB_LIBS=""; LIB_GPU=0; LIB_DNNL=0
    if nm "$1" 2>/dev/null | grep -q ' U dnnl_'; then LIB_DNNL=1; LIB_LIBS="-ldnnl"; fi
    if ar t "$1" 2>/dev/null | grep -q '\.cu\.o$'; then
        LIB_GPU=1
        lib_cuda=${CUDA_HOME:-/usr/local/cuda}
        LIB_CFLAGS="-DGPU -I$lib_cuda/include"
        LIB_LIBS="$LIB_LIBS -L$lib_cuda/lib64 -L$lib_cuda/lib64/stubs -lcudart -lcublas -lcurand -lcuda -lstdc++ -ldl"
        if nm "$1" 2>/dev/null | grep -q ' U cudnn'; then LIB_CFLAGS="$LIB_CFLAGS -DCUDNN"; LIB_LIBS="$LIB_LIBS -lcudnn"; fi
    fi
}
