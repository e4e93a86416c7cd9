/* Checks the GPU error policy of core/cuda3d.h: recoverable failures return -1 with the call's file:line recorded, fatal ones abort with it. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include "testlib.h"
#include "darknet.h"
#include "darknet3d.h"
#include "cuda3d.h"

#ifdef GPU
static int file_contains(const char *path, const char *s)
{
    char buf[4096] = {0};
    FILE *f = fopen(path, "r");
    if(!f) return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    return strstr(buf, s) != 0;
}
#endif

/* an allocation no device can hold (or any allocation without a device) fails without exiting */
static void test_recoverable_alloc(void)
{
#ifndef GPU
    SKIP("CPU build");
#else
    char e[512] = {0};
    float *p = (float *)1;
    cuda3d_take_error(0, 0);
    CHECK(cuda3d_make_array(&p, NULL, (size_t)1 << 46) == -1);
    CHECK(p == NULL);
    CHECK(cuda3d_take_error(e, sizeof(e)) == 1);
    CHECK_MSG(strstr(e, "test_gpu_errors.c:") && strstr(e, "cudaMalloc of"), "%s", e);
    CHECK(cuda3d_take_error(e, sizeof(e)) == 0);
    /* the failure was cleared: the next call on a device sees no stale error */
    if(darknet3d_gpu_available(0)) CHECK(cudaGetLastError() == cudaSuccess);
#endif
}

/* a failing call while the network runs prints file:line and the CUDA error, then aborts */
static void test_fatal_aborts(void)
{
#ifndef GPU
    SKIP("CPU build");
#else
    const char *log = "tests/out/gpu_errors_fatal.txt";
    fflush(stdout);
    pid_t pid = fork();
    if(pid == 0){
        if(!freopen(log, "w", stderr)) _exit(2);
        float x = 1;
        CUDA3D_CHECK(cudaMemcpy((void *)16, &x, sizeof(x), cudaMemcpyHostToDevice));
        _exit(0);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %d", status);
    CHECK_MSG(file_contains(log, "darknet3d: GPU error at tests/test_gpu_errors.c:"), "see %s", log);
    CHECK_MSG(file_contains(log, "cudaMemcpy"), "see %s", log);
#endif
}

/* a layer that does not fit in the device's free memory is a cfg error naming the section and the CUDA call */
#ifdef GPU
/* One cfg per layer kind whose device buffers do not fit in 128 MiB: the parse fails with the section and the
 * recorded cudaMalloc, and loads once the memory is back. */
static void cfg_out_of_gpu_memory(const char *what, const char *cfg)
{
    int werr = write_text("tests/out/gpu_errors.cfg", cfg);
    CHECK(werr == 0);
    if(werr) return;
    size_t free_b = 0, total_b = 0;
    CHECK(cudaMemGetInfo(&free_b, &total_b) == cudaSuccess);
    /* leave 128 MiB free */
    void *hog = 0;
    size_t take = free_b > ((size_t)128 << 20) ? free_b - ((size_t)128 << 20) : 0;
    if(!take || cudaMalloc(&hog, take) != cudaSuccess){ cudaGetLastError(); SKIP("could not reserve device memory"); }
    char err[1024] = {0};
    network *net = parse_network_cfg_err("tests/out/gpu_errors.cfg", err, sizeof(err));
    CHECK_MSG(net == 0, "%s: parsed with 128 MiB of device memory", what);
    CHECK_MSG(strstr(err, what) && strstr(err, "out of GPU memory") && strstr(err, "cudaMalloc"), "%s", err);
    if(net) free_network(net);
    cudaFree(hog);
    CHECK(cudaGetLastError() == cudaSuccess);
    /* with the memory back, the same cfg loads */
    err[0] = 0;
    net = parse_network_cfg_err("tests/out/gpu_errors.cfg", err, sizeof(err));
    CHECK_MSG(net != 0, "%s", err);
    if(net) free_network(net);
}
#endif

static void test_cfg_out_of_gpu_memory(void)
{
#ifndef GPU
    SKIP("CPU build");
#else
    if(!darknet3d_gpu_available(0)) SKIP("no CUDA device");
    gpu_index = 0;
    cuda_set_device(0);
    /* the [conv3d]'s output and delta: 2 x 256 x 64^3 floats = 512 MiB */
    cfg_out_of_gpu_memory("conv3d", "[net]\nbatch=1\nchannels=1\ndepth=64\nheight=64\nwidth=64\n\n[conv3d]\nfilters=256\nsize=1\n");
    gpu_index = -1;
#endif
}

/* [r2s] and [dtransform] on a 256-channel input: output and delta 2 x 256 MiB each */
static void test_cfg_out_of_gpu_memory_r2s_dtransform(void)
{
#ifndef GPU
    SKIP("CPU build");
#else
    if(!darknet3d_gpu_available(0)) SKIP("no CUDA device");
    gpu_index = 0;
    cuda_set_device(0);
    cfg_out_of_gpu_memory("r2s", "[net]\nbatch=1\nchannels=256\ndepth=64\nheight=64\nwidth=64\n\n[r2s]\nk=-5\n");
    cfg_out_of_gpu_memory("dtransform", "[net]\nbatch=1\nchannels=256\ndepth=64\nheight=64\nwidth=64\n\n[dtransform]\ninput=logits\nkernel=3\nh=0.35\n");
    gpu_index = -1;
#endif
}

int main(void)
{
    darknet3d_init();
    if(system("mkdir -p tests/out")) return 1;
    /* first: the forked child must be the first to create a CUDA context */
    RUN(test_fatal_aborts);
    RUN(test_recoverable_alloc);
    RUN(test_cfg_out_of_gpu_memory);
    RUN(test_cfg_out_of_gpu_memory_r2s_dtransform);
    TEST_MAIN_END();
}
