/* Checks that a weights save reports every failed write (full device, unopenable path) with the path and a non-zero status. */
#include <errno.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "testlib.h"
#include "darknet.h"
#include "darknet3d.h"
#include "conv3d_common.h"
#include "chart.h"
#include "volume_io.h"
#include "overlay.h"

/* 2 x 16 x 3x3x3 conv weights = 864 floats, plus a 64-filter layer: 110 KB, more than one stdio buffer */
static const char *CFG = "[net]\nbatch=1\nchannels=2\ndepth=4\nheight=4\nwidth=4\n"
                         "\n[conv3d]\nfilters=16\nsize=3\npad=1\nbatch_normalize=1\nactivation=relu\n"
                         "\n[conv3d]\nfilters=64\nsize=3\npad=1\n";

static network *parse_text(const char *text, char *err)
{
    if(write_text("tests/out/save.cfg", text)) return 0;
    return parse_network_cfg_err("tests/out/save.cfg", err, 1024);
}

static long file_size(const char *path)
{
    struct stat s;
    return stat(path, &s) == 0 ? (long)s.st_size : -1;
}

static void test_save_ok(void)
{
    char err[1024] = {0};
    network *net = parse_text(CFG, err);
    CHECK_MSG(net != 0, "%s", err);
    if(!net) return;
    CHECK_MSG(save_weights_upto_err(net, "tests/out/save_ok.weights", net->n, err, sizeof(err)) == 0, "%s", err);
    layer a = net->layers[0], b = net->layers[1];
    long want = (long)(3 * sizeof(int) + sizeof(size_t)) +
                (long)sizeof(float) * (a.nweights + a.nbiases + 3 * a.out_c + a.out_c + b.nweights + b.nbiases);
    CHECK_MSG(file_size("tests/out/save_ok.weights") == want, "size %ld, want %ld", file_size("tests/out/save_ok.weights"), want);
    free_network(net);
}

/* /dev/full accepts the open and fails every write with ENOSPC */
static void test_save_full_device(void)
{
    char err[1024] = {0};
    if(access("/dev/full", W_OK) != 0) SKIP("/dev/full is not writable on this machine");
    network *net = parse_text(CFG, err);
    CHECK_MSG(net != 0, "%s", err);
    if(!net) return;
    err[0] = 0;
    CHECK(save_weights_upto_err(net, "/dev/full", net->n, err, sizeof(err)) != 0);
    CHECK_MSG(strstr(err, "/dev/full") && strstr(err, "write failed"), "%s", err);
    /* the first write past the stdio buffer is inside a [conv3d]: the message names it */
    CHECK_MSG(strstr(err, "(conv3d)"), "%s", err);
    /* a network small enough for one buffer fails at the flush in fclose */
    network *small = parse_text("[net]\nbatch=1\nchannels=1\ndepth=2\nheight=2\nwidth=2\n\n[conv3d]\nfilters=1\nsize=1\n", err);
    CHECK_MSG(small != 0, "%s", err);
    if(small){
        err[0] = 0;
        CHECK(save_weights_upto_err(small, "/dev/full", small->n, err, sizeof(err)) != 0);
        CHECK_MSG(strstr(err, "/dev/full") && strstr(err, "write failed"), "%s", err);
        free_network(small);
    }
    free_network(net);
}

/* the layer save itself returns the failure of its fwrite */
static void test_layer_save_status(void)
{
    char err[1024] = {0};
    if(access("/dev/full", W_OK) != 0) SKIP("/dev/full is not writable on this machine");
    network *net = parse_text(CFG, err);
    CHECK_MSG(net != 0, "%s", err);
    if(!net) return;
    FILE *fp = fopen("/dev/full", "wb");
    CHECK(fp != 0);
    if(fp){
        CHECK(c3_save(net->layers[1], fp) != 0);
        fclose(fp);
    }
    fp = fopen("tests/out/save_layer.weights", "wb");
    CHECK(fp && c3_save(net->layers[1], fp) == 0);
    if(fp) CHECK(fclose(fp) == 0);
    free_network(net);
}

static void test_save_unopenable(void)
{
    char err[1024] = {0};
    network *net = parse_text(CFG, err);
    CHECK_MSG(net != 0, "%s", err);
    if(!net) return;
    err[0] = 0;
    CHECK(save_weights_upto_err(net, "tests/out/no-such-dir/x.weights", net->n, err, sizeof(err)) != 0);
    CHECK_MSG(strstr(err, "tests/out/no-such-dir/x.weights") && strstr(err, "cannot open"), "%s", err);
    free_network(net);
    /* a NIfTI volume: the message names the path asked for (not the hidden file written first) and the reason */
    volume v;
    CHECK(volume_alloc(&v, 4, 3, 2) == 0);
    err[0] = 0;
    CHECK(volume_write("tests/out/no-such-dir/x.nii.gz", &v, NULL, 1, err, sizeof(err)) != 0);
    CHECK_MSG(strncmp(err, "tests/out/no-such-dir/x.nii.gz: cannot write it: ", 49) == 0 && strstr(err, strerror(ENOENT)), "%s", err);
    CHECK_MSG(!strstr(err, ".~"), "%s", err);
    volume_free(&v);
}

/* Darknet's own save_weights keeps its signature; a failed write ends the process with a failure status */
static void test_stock_save_exits(void)
{
    char err[1024] = {0};
    if(access("/dev/full", W_OK) != 0) SKIP("/dev/full is not writable on this machine");
    network *net = parse_text(CFG, err);
    CHECK_MSG(net != 0, "%s", err);
    if(!net) return;
    fflush(stdout);
    pid_t pid = fork();
    if(pid == 0){
        freopen("/dev/null", "w", stderr);
        save_weights(net, "/dev/full");
        _exit(0);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) != 0, "status %d", status);
    free_network(net);
}

/* the training chart's PNG and CSV writes report the path */
static void test_chart_full_device(void)
{
    char err[1024] = {0};
    if(access("/dev/full", W_OK) != 0) SKIP("/dev/full is not writable on this machine");
    chart *c = chart_create(1, 4);
    CHECK(c != 0);
    if(!c) return;
    chart_set_name(c, 0, "loss");
    chart_add(c, 0, 1, 0.5f);
    chart_add(c, 0, 2, 0.25f);
    CHECK(chart_write_png(c, "/dev/full", err, sizeof(err)) != 0);
    CHECK_MSG(strstr(err, "/dev/full"), "%s", err);
    err[0] = 0;
    CHECK_MSG(chart_write_png(c, "tests/out/save_chart.png", err, sizeof(err)) == 0, "%s", err);
    CHECK(file_size("tests/out/save_chart.png.csv") > 0);
    chart_free(c);
}

/* the per-case picture's PNG write reports the path */
static void test_overlay_full_device(void)
{
    char err[1024] = {0};
    if(access("/dev/full", W_OK) != 0) SKIP("/dev/full is not writable on this machine");
    volume img, pred;
    CHECK(volume_alloc(&img, 8, 8, 8) == 0 && volume_alloc(&pred, 8, 8, 8) == 0);
    size_t i;
    for(i = 0; i < 512; ++i){ img.data[i] = (float)(i % 7); pred.data[i] = i % 64 < 20; }
    CHECK(overlay_png("/dev/full", &img, NULL, &pred, "case", NAN, err, sizeof(err)) != 0);
    CHECK_MSG(strstr(err, "/dev/full"), "%s", err);
    err[0] = 0;
    CHECK_MSG(overlay_png("tests/out/save_overlay.png", &img, NULL, &pred, "case", NAN, err, sizeof(err)) == 0, "%s", err);
    volume_free(&img);
    volume_free(&pred);
}

/* Writes are published by a rename (src/file_publish.h) unless the path is a device or a pipe: those are written in
 * place and stay what they are; a volume is refused there (it could not be read back to check it). A symbolic link
 * stays a link. */
static void test_publish_not_regular(void)
{
    char err[1024] = {0};
    struct stat st;
    if(access("/dev/full", W_OK) != 0 || access("/dev/null", W_OK) != 0) SKIP("/dev/full or /dev/null is not writable on this machine");
    chart *c = chart_create(1, 4);
    CHECK(c != 0);
    if(!c) return;
    chart_set_name(c, 0, "loss");
    chart_add(c, 0, 1, 0.5f);
    CHECK(chart_write_png(c, "/dev/full", err, sizeof(err)) != 0);
    CHECK_MSG(stat("/dev/full", &st) == 0 && S_ISCHR(st.st_mode), "/dev/full is no longer a device");
    err[0] = 0;
    CHECK_MSG(chart_write_png(c, "/dev/null", err, sizeof(err)) == 0, "%s", err);
    CHECK_MSG(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode), "/dev/null is no longer a device");
    /* a symbolic link stays a link; the file it points to is the one replaced */
    FILE *f = fopen("tests/out/save_link_target.png", "w");
    if(f){ fputs("old", f); fclose(f); }
    remove("tests/out/save_link.png");
    CHECK(symlink("save_link_target.png", "tests/out/save_link.png") == 0);
    err[0] = 0;
    CHECK_MSG(chart_write_png(c, "tests/out/save_link.png", err, sizeof(err)) == 0, "%s", err);
    CHECK_MSG(lstat("tests/out/save_link.png", &st) == 0 && S_ISLNK(st.st_mode), "the link was replaced by a file");
    CHECK_MSG(stat("tests/out/save_link_target.png", &st) == 0 && st.st_size > 100, "the linked file was not written");
    chart_free(c);
    CHECK_MSG(system("ls -a /dev | grep -q '^\\.~'") != 0, "a temporary file was left in /dev");
    remove("tests/out/save_fifo.nii");
    if(mkfifo("tests/out/save_fifo.nii", 0600) != 0) SKIP("mkfifo failed");
    volume v;
    CHECK(volume_alloc(&v, 4, 3, 2) == 0);
    err[0] = 0;
    CHECK(volume_write("tests/out/save_fifo.nii", &v, NULL, 1, err, sizeof(err)) != 0);
    CHECK_MSG(strstr(err, "tests/out/save_fifo.nii: not a regular file"), "%s", err);
    CHECK_MSG(stat("tests/out/save_fifo.nii", &st) == 0 && S_ISFIFO(st.st_mode), "the pipe was replaced");
    volume_free(&v);
    remove("tests/out/save_fifo.nii");
}

/* A file-size limit stands in for a full disk: in a child limited to 4 KiB per file, volume_write of a 256 KiB volume
 * must fail with the path named, for .nii and for .nii.gz (whose cut-short stream is only found by reading it back). */
static int write_limited(const char *path, int as_uint8, const char *log)
{
    fflush(stdout);
    pid_t pid = fork();
    if(pid == 0){
        char err[1024] = {0};
        struct rlimit r = {4096, 4096};
        signal(SIGXFSZ, SIG_IGN);
        if(setrlimit(RLIMIT_FSIZE, &r) != 0) _exit(3);
        volume v;
        if(volume_alloc(&v, 64, 64, 16)) _exit(4);
        size_t i;
        unsigned s = 12345;
        for(i = 0; i < (size_t)64 * 64 * 16; ++i){ s = s * 1103515245u + 12345u; v.data[i] = (float)(s >> 16) / 65536.f * 200.f; }
        int rc = volume_write(path, &v, NULL, as_uint8, err, sizeof(err));
        FILE *f = fopen(log, "w");
        if(f){ fputs(err, f); fclose(f); }
        volume_free(&v);
        _exit(rc == 0 ? 0 : 1);
    }
    int status = 0;
    if(pid <= 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

static void test_volume_write_disk_full(void)
{
    const char *paths[2] = {"tests/out/save_full.nii", "tests/out/save_full.nii.gz"};
    int k;
    for(k = 0; k < 2; ++k){
        char log[64], msg[1024] = {0}, err[1024] = {0};
        /* a complete older file at the path stays as it was, and no temporary file is left beside it */
        volume old, back;
        CHECK(volume_alloc(&old, 6, 5, 4) == 0);
        old.data[7] = 3.f;
        CHECK_MSG(volume_write(paths[k], &old, NULL, 0, err, sizeof(err)) == 0, "%s", err);
        snprintf(log, sizeof(log), "tests/out/save_full_%d.txt", k);
        int rc = write_limited(paths[k], k, log);
        CHECK_MSG(rc == 1, "%s: child status %d", paths[k], rc);
        FILE *f = fopen(log, "r");
        if(f){ if(!fgets(msg, sizeof(msg), f)) msg[0] = 0; fclose(f); }
        CHECK_MSG(strstr(msg, paths[k]) && strstr(msg, "writing failed"), "%s: '%s'", paths[k], msg);
        CHECK_MSG(volume_read(paths[k], NULL, &back, err, sizeof(err)) == 0, "%s", err);
        CHECK_MSG(back.nx == 6 && back.ny == 5 && back.nz == 4 && back.data[7] == 3.f, "%s: the older file changed", paths[k]);
        volume_free(&back);
        volume_free(&old);
        CHECK_MSG(system("ls -a tests/out | grep -q '^\\.~'") != 0, "a temporary file was left in tests/out");
    }
    /* without the limit the same writes succeed */
    volume v;
    char err[1024] = {0};
    CHECK(volume_alloc(&v, 64, 64, 16) == 0);
    CHECK_MSG(volume_write(paths[1], &v, NULL, 1, err, sizeof(err)) == 0, "%s", err);
    volume_free(&v);
}

int main(void)
{
    darknet3d_init();
    /* the writes are the subject, and test_stock_save_exits forks, which a CUDA context does not survive: CPU only */
    gpu_index = -1;
    if(system("mkdir -p tests/out")) return 1;
    RUN(test_save_ok);
    RUN(test_save_full_device);
    RUN(test_layer_save_status);
    RUN(test_save_unopenable);
    RUN(test_stock_save_exits);
    RUN(test_chart_full_device);
    RUN(test_overlay_full_device);
    RUN(test_volume_write_disk_full);
    RUN(test_publish_not_regular);
    TEST_MAIN_END();
}
