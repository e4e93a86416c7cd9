/* Helpers the seg3d commands share: the -stride and -decoder flags, the stride a command uses, file-name tests, the same-file test, mkdir -p and the clock. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include "cfg_keys.h"
#include "infer.h"
#include "cmd_common.h"

int cmd_stride_flag(const char *cmd, int argc, char **argv, int i, int stride[3])
{
    char err[256];
    if(arg_int3(cmd, "-stride", argc, argv, i, stride, err, sizeof(err)) == 0) return 0;
    fprintf(stderr, "error: %s\n", err);
    return -1;
}

int cmd_batch_flag(const char *cmd, const char *arg, int *batch)
{
    long long v;
    char err[256];
    if(arg_long(cmd, "-batch", arg, &v, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return -1; }
    *batch = (int)v;
    return 0;
}

int cmd_resolve_stride(const char *cfg, const network *net, int have_flag, int stride[3])
{
    char err[512];
    int r = have_flag;
    if(!have_flag && (r = cfg_infer_stride(cfg, stride, err, sizeof(err))) < 0){ fprintf(stderr, "error: %s\n", err); return -1; }
    if(r == 0){
        infer_default_stride(net, stride);
        fprintf(stderr, "note: no -stride and no [net] infer_stride in %s: using half the window, %d %d %d (D H W)\n",
                cfg, stride[0], stride[1], stride[2]);
    }
    const int win[3] = { net->d, net->h, net->w };
    if(stride[0] > win[0] || stride[1] > win[1] || stride[2] > win[2])
        fprintf(stderr, "note: %s %d %d %d (D H W) is larger than the window %d %d %d: windows are placed at most a window apart, "
                "%d %d %d, so that every voxel is predicted\n", have_flag ? "-stride" : "[net] infer_stride", stride[0], stride[1], stride[2],
                win[0], win[1], win[2], stride[0] < win[0] ? stride[0] : win[0], stride[1] < win[1] ? stride[1] : win[1], stride[2] < win[2] ? stride[2] : win[2]);
    return 0;
}

int cmd_decoder(const char *s)
{
    if(strcmp(s, "a") == 0) return 0;
    if(strcmp(s, "b") == 0) return 1;
    if(strcmp(s, "mean") == 0) return -1;
    return -2;
}

int cmd_is_h5(const char *p){ size_t n = strlen(p); return n > 3 && strcmp(p + n - 3, ".h5") == 0; }

int cmd_is_dir(const char *p){ struct stat st; return stat(p, &st) == 0 && S_ISDIR(st.st_mode); }

/* The absolute name of the file a write to path would create or replace: its folder resolved, and path followed
 * through symbolic links (to a target that may not exist yet). 0, or -1 when the folder cannot be resolved. */
static int write_target(const char *path, char out[PATH_MAX])
{
    char cur[PATH_MAX], link[PATH_MAX], dir[PATH_MAX];
    int depth;
    if(snprintf(cur, sizeof(cur), "%s", path) >= (int)sizeof(cur)) return -1;
    for(depth = 0; depth < 40; ++depth){
        if(realpath(cur, out)) return 0;
        ssize_t l = readlink(cur, link, sizeof(link) - 1);
        if(l < 0) break;   /* no such file yet: a write creates it */
        link[l] = 0;
        const char *slash = strrchr(cur, '/');
        int w = (link[0] == '/' || !slash) ? snprintf(dir, sizeof(dir), "%s", link)
                                           : snprintf(dir, sizeof(dir), "%.*s/%s", (int)(slash - cur), cur, link);
        if(w < 0 || w >= (int)sizeof(dir)) return -1;
        memcpy(cur, dir, (size_t)w + 1);
    }
    const char *slash = strrchr(cur, '/'), *base = slash ? slash + 1 : cur;
    if(!slash) snprintf(dir, sizeof(dir), ".");
    else if(slash == cur) snprintf(dir, sizeof(dir), "/");
    else snprintf(dir, sizeof(dir), "%.*s", (int)(slash - cur), cur);
    if(!realpath(dir, link)) return -1;
    return snprintf(out, PATH_MAX, "%s/%s", link, base) < PATH_MAX ? 0 : -1;
}

int cmd_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    char ra[PATH_MAX], rb[PATH_MAX];
    if(!strcmp(a, b)) return 1;
    if(stat(a, &sa) == 0 && stat(b, &sb) == 0){
        /* two devices (/dev/stdout and /dev/stderr on one terminal) are written in place, each on its own */
        if(!S_ISREG(sa.st_mode) || !S_ISREG(sb.st_mode)) return 0;
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    }
    return write_target(a, ra) == 0 && write_target(b, rb) == 0 && !strcmp(ra, rb);
}

int cmd_mkdir_p(const char *dir)
{
    char tmp[PATH_MAX];
    if(!*dir){ errno = ENOENT; return -1; }
    int w = snprintf(tmp, sizeof(tmp), "%s", dir);
    if(w < 0 || (size_t)w >= sizeof(tmp)){ errno = ENAMETOOLONG; return -1; }
    char *p;
    for(p = tmp + 1; *p; ++p){
        if(*p == '/'){ *p = 0; mkdir(tmp, 0755); *p = '/'; }
    }
    if(mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    /* an existing file of that name is no folder to write into, nor is a folder this user cannot write */
    struct stat st;
    if(stat(tmp, &st) != 0) return -1;
    if(!S_ISDIR(st.st_mode)){ errno = ENOTDIR; return -1; }
    if(access(tmp, W_OK | X_OK) != 0) return -1;
    return 0;
}

double cmd_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, 0);
    return tv.tv_sec + tv.tv_usec * 1e-6;
}
