# Builds Darknet (pinned source in darknet-src/, patched at set-up) and darknet3d together into ./darknet, plus a static library for the tests.
#   make            GPU build when nvcc and cuDNN are present, CPU build otherwise
#   make GPU=0      force the CPU build
#   make ONEDNN=0   [conv3d]'s CPU convolution on vol2col + OpenBLAS instead of oneDNN (on when /usr/include/dnnl.h exists)
#   make test       build and run every test under tests/
#   make demo       the README's main job

# parallel by default: one job per core, at most 8 (each nvcc job can take a GiB or more); a -j on the command line wins
MAKEFLAGS += -j$(shell n=$$(nproc 2>/dev/null || echo 2); [ "$$n" -gt 8 ] && n=8; echo $$n)

CUDA_HOME ?= /usr/local/cuda
HAVE_CUDA := $(shell test -x $(CUDA_HOME)/bin/nvcc && test -f $(CUDA_HOME)/include/cudnn.h && echo 1 || echo 0)
GPU ?= $(HAVE_CUDA)
CUDNN ?= $(GPU)
HAVE_ONEDNN := $(shell test -f /usr/include/dnnl.h && echo 1 || echo 0)
ONEDNN ?= $(HAVE_ONEDNN)
SAN ?= 0

ifeq ($(GPU),1)
VARIANT := gpu
else
VARIANT := cpu
endif
ifeq ($(SAN),1)
VARIANT := $(VARIANT)-san
endif
BUILDDIR ?= build/$(VARIANT)
B := $(BUILDDIR)

CC ?= gcc
CXX ?= g++
NVCC := $(CUDA_HOME)/bin/nvcc
ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=[sm_90,compute_90]

OPT ?= -O3
# cairo draws the PNGs (per-case pictures, training chart)
CAIRO_CFLAGS := $(shell pkg-config --cflags cairo 2>/dev/null || echo -I/usr/include/cairo)
CAIRO_LIBS := $(shell pkg-config --libs cairo 2>/dev/null || echo -lcairo)
INCS := -Idarknet-src/include -Idarknet-src/src -I/usr/include/nifti -I/usr/include/hdf5/serial -I/usr/include/x86_64-linux-gnu $(CAIRO_CFLAGS)
DEFS := -DcudaThreadSynchronize=cudaDeviceSynchronize
CFLAGS_COMMON := $(OPT) -g -fPIC -fopenmp -Wall -Wno-unused-result -Wno-unknown-pragmas -Wno-unused-variable -Wno-unused-but-set-variable
LDLIBS := -lopenblas -lnifti2 -lznz -lhdf5_serial $(CAIRO_LIBS) -lz -lm -pthread -fopenmp
ifeq ($(GPU),1)
DEFS += -DGPU
INCS += -I$(CUDA_HOME)/include
LDLIBS += -L$(CUDA_HOME)/lib64 -L$(CUDA_HOME)/lib64/stubs -lcudart -lcurand -lcuda -lstdc++ -ldl
endif
ifeq ($(CUDNN),1)
DEFS += -DCUDNN
LDLIBS += -lcudnn
endif
ifeq ($(ONEDNN),1)
DEFS += -DONEDNN
LDLIBS += -ldnnl
endif
ifeq ($(SAN),1)
CFLAGS_COMMON += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDLIBS += -fsanitize=address,undefined
endif
CFLAGS := $(CFLAGS_COMMON) $(DEFS) $(INCS)
# Our folders, lowest first: core/ (shared helpers) <- layers/ <- src/ (data, evaluation, commands). A file is compiled
# with the include paths of its own folder and those below it, so an upward #include fails to compile
# (tests/test_layering.sh checks the same rule on the sources). Tests, benchmarks and fuzz targets see all three.
LEVEL_INCS_core := -Icore
LEVEL_INCS_layers := -Ilayers -Icore
LEVEL_INCS_src := -Isrc -Ilayers -Icore
ALL_INCS := $(LEVEL_INCS_src)
# the include paths of the folder of the stem $* (core/edt -> core)
OUR_INCS = $(LEVEL_INCS_$(firstword $(subst /, ,$*)))
# Darknet's own code is compiled with its warnings silenced: it is not ours to fix
DN_CFLAGS := $(CFLAGS) -w

DN_OBJ := gemm utils cuda deconvolutional_layer convolutional_layer list image activations im2col col2im blas \
  crop_layer dropout_layer maxpool_layer softmax_layer data matrix network connected_layer cost_layer parser \
  option_list detection_layer route_layer upsample_layer box normalization_layer avgpool_layer layer local_layer \
  shortcut_layer logistic_layer activation_layer rnn_layer gru_layer crnn_layer demo batchnorm_layer region_layer \
  reorg_layer tree lstm_layer l2norm_layer yolo_layer iseg_layer
DN_CU := convolutional_kernels deconvolutional_kernels activation_kernels im2col_kernels col2im_kernels blas_kernels \
  crop_layer_kernels dropout_layer_kernels maxpool_layer_kernels avgpool_layer_kernels
DN_EX := captcha lsd super art tag cifar go rnn segmenter regressor classifier coco yolo detector nightmare instance-segmenter darknet

OUR_SRC := $(filter-out src/main.c,$(wildcard src/*.c)) $(wildcard layers/*.c) $(wildcard core/*.c)
OUR_CU := $(wildcard layers/*.cu) $(wildcard src/*.cu) $(wildcard core/*.cu)
OUR_HDR := $(wildcard src/*.h) $(wildcard layers/*.h) $(wildcard core/*.h) $(wildcard core/*.cuh) $(wildcard core/*.def)

LIB_OBJS := $(addprefix $(B)/dn/,$(addsuffix .o,$(DN_OBJ))) $(patsubst %.c,$(B)/%.o,$(OUR_SRC))
ifeq ($(GPU),1)
LIB_OBJS += $(addprefix $(B)/dn/,$(addsuffix .o,$(DN_CU))) $(patsubst %.cu,$(B)/%.cu.o,$(OUR_CU))
endif
EX_OBJS := $(addprefix $(B)/ex/,$(addsuffix .o,$(DN_EX)))
LIB := $(B)/libdarknet3d.a

TEST_SRC := $(wildcard tests/test_*.c)
TEST_BINS := $(patsubst tests/%.c,$(B)/tests/%,$(TEST_SRC))

.PHONY: all setup test demo bench clean distclean lib tests-build darknet
all: darknet

# Set-up runs before any rule is looked at: make first remakes this included file (running scripts/setup.sh),
# then restarts, so the pattern rules below see darknet-src/ on a fresh clone. `clean`/`distclean` skip it.
SETUP_MK := darknet-src/.darknet3d-setup.mk
ifneq ($(filter-out clean distclean,$(or $(MAKECMDGOALS),all)),)
include $(SETUP_MK)
endif
$(SETUP_MK): scripts/setup.sh patches/darknet3d.patch
	sh scripts/setup.sh
	echo '# written after scripts/setup.sh succeeded; its mtime marks the set-up' > $@
setup: $(SETUP_MK)

# phony: the link is remade on every make, so it names the variant this make built (GPU=0 or the GPU build) even when the other one is newer
darknet: $(B)/darknet
	ln -sf $(B)/darknet darknet

$(B)/darknet: $(B)/src/main.o $(EX_OBJS) $(LIB)
	$(CC) $^ -o $@ $(LDLIBS)

lib: $(LIB)
$(LIB): $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(B)/dn/%.o: darknet-src/src/%.c $(SETUP_MK)
	@mkdir -p $(dir $@)
	$(CC) $(DN_CFLAGS) -c $< -o $@
$(B)/dn/%.o: darknet-src/src/%.cu $(SETUP_MK)
	@mkdir -p $(dir $@)
	$(NVCC) $(ARCH) -w $(DEFS) $(INCS) --compiler-options "-fPIC -O3" -c $< -o $@
$(B)/ex/darknet.o: darknet-src/examples/darknet.c $(SETUP_MK)
	@mkdir -p $(dir $@)
	$(CC) $(DN_CFLAGS) -Dmain=darknet_main -c $< -o $@
$(B)/ex/%.o: darknet-src/examples/%.c $(SETUP_MK)
	@mkdir -p $(dir $@)
	$(CC) $(DN_CFLAGS) -c $< -o $@
$(B)/%.o: %.c $(OUR_HDR) $(SETUP_MK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(OUR_INCS) -Wextra -Wno-unused-parameter -Wno-sign-compare -c $< -o $@
# the files that test ONEDNN are rebuilt when it changes in the same BUILDDIR
ONEDNN_STAMP := $(B)/.onednn-$(ONEDNN)
$(ONEDNN_STAMP):
	@mkdir -p $(dir $@)
	rm -f $(B)/.onednn-*
	touch $@
$(patsubst %.c,$(B)/%.o,$(shell grep -l ONEDNN layers/*.c src/*.c core/*.c)): $(ONEDNN_STAMP)
$(B)/%.cu.o: %.cu $(OUR_HDR) $(SETUP_MK)
	@mkdir -p $(dir $@)
	$(NVCC) $(ARCH) $(DEFS) $(INCS) $(OUR_INCS) --compiler-options "-fPIC -O3 -Wall" -c $< -o $@

$(B)/tests/%: tests/%.c tests/testlib.h tests/fixture.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ALL_INCS) -Itests $< -o $@ $(LIB) $(LDLIBS)

tests-build: darknet $(TEST_BINS)
test: tests-build
	sh tests/run_tests.sh $(B)

demo: darknet
	sh scripts/demo.sh

bench: darknet
	sh bench/run.sh

clean:
	rm -rf build darknet
distclean: clean
	rm -rf darknet-src .apt-state

# Fuzzing (libFuzzer, clang): `make fuzz-build` builds fuzz/fuzz_*.c against an ASan+UBSan+coverage build of
# Darknet and darknet3d in build/fuzz (or FUZZ_B=...); `make fuzz FUZZ_SECONDS=N` runs each target N seconds (fuzz/run.sh).
FUZZ_B := build/fuzz
FUZZ_SECONDS ?= 30
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_TARGETS := $(patsubst fuzz/%.c,$(FUZZ_B)/%,$(wildcard fuzz/fuzz_*.c))
.PHONY: fuzz-build fuzz asan
fuzz-build: $(SETUP_MK)
	$(MAKE) BUILDDIR=$(FUZZ_B) CC=clang GPU=0 CUDNN=0 SAN=0 OPT="$(FUZZ_FLAGS)" $(FUZZ_B)/libdarknet3d.a
	$(MAKE) GPU=0 CUDNN=0 $(FUZZ_TARGETS)
$(FUZZ_B)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_B)/libdarknet3d.a
	clang -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $(DEFS) $(INCS) $(ALL_INCS) $< -o $@ $(FUZZ_B)/libdarknet3d.a $(filter-out -fopenmp,$(LDLIBS)) -fopenmp
fuzz: fuzz-build
	FUZZ_B=$(FUZZ_B) sh fuzz/run.sh $(FUZZ_SECONDS)

# The whole test suite under ASan+UBSan (build/cpu-san, or SAN_B=...); Darknet's known leaks are listed in tests/lsan.supp.
SAN_B ?= build/cpu-san
asan: $(SETUP_MK)
	$(MAKE) SAN=1 GPU=0 CUDNN=0 BUILDDIR=$(SAN_B) tests-build
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 sh tests/run_tests.sh $(SAN_B)
