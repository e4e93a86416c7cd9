/* Files written whole or not at all: a hidden name beside the path, fsync, rename (see file_publish.h). */
#include <cairo.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "file_publish.h"

/* p's names for path (file_publish.h); 0, or -1 with err */
static int publish_names(publishing *p, const char *path, char *err, size_t errlen)
{
    struct stat st;
    p->path = path;
    p->in_place = stat(path, &st) == 0 && !S_ISREG(st.st_mode);
    int w = snprintf(p->target, sizeof(p->target), "%s", path);
    char real[PATH_MAX];
    if(!p->in_place && lstat(path, &st) == 0 && S_ISLNK(st.st_mode) && realpath(path, real))
        w = snprintf(p->target, sizeof(p->target), "%s", real);
    const char *t = p->target, *slash = strrchr(t, '/');
    int dir = slash ? (int)(slash - t + 1) : 0;
    if(w >= 0 && (size_t)w < sizeof(p->target))
        w = p->in_place ? snprintf(p->to, sizeof(p->to), "%s", t)
                        : snprintf(p->to, sizeof(p->to), "%.*s.~%ld-%s", dir, t, (long)getpid(), t + dir);
    if(w < 0 || (size_t)w >= sizeof(p->to)){ snprintf(err, errlen, "%s: file name too long", path); return -1; }
    return 0;
}

/* opens p->to for writing, or NULL with err naming path */
static FILE *open_to(publishing *p, char *err, size_t errlen)
{
    FILE *f = fopen(p->to, "wb");
    if(!f){
        int e = errno;
        publish_abort(p);
        snprintf(err, errlen, "%s: cannot write it: %s", p->path, strerror(e));
    }
    return f;
}

FILE *publish_fopen(publishing *p, const char *path, char *err, size_t errlen)
{
    return publish_names(p, path, err, errlen) ? NULL : open_to(p, err, errlen);
}

int publish_begin(publishing *p, const char *path, char *err, size_t errlen)
{
    if(publish_names(p, path, err, errlen)) return -1;
    if(p->in_place) return 0;   /* opening a pipe here would wait for its reader */
    FILE *f = open_to(p, err, errlen);
    if(!f) return -1;
    if(fclose(f) != 0){
        snprintf(err, errlen, "%s: cannot write it: %s", path, strerror(errno));
        return publish_abort(p);
    }
    return 0;
}

int publish_fclose(publishing *p, FILE *f, char *err, size_t errlen)
{
    int bad = ferror(f), e = errno;
    if(fclose(f) != 0 && !bad){ bad = 1; e = errno; }
    if(bad){
        snprintf(err, errlen, "%s: write failed: %s", p->path, strerror(e));
        return publish_abort(p);
    }
    return publish_commit(p, err, errlen);
}

int publish_abort(publishing *p)
{
    if(!p->in_place) remove(p->to);
    return -1;
}

int publish_commit(publishing *p, char *err, size_t errlen)
{
    if(p->in_place) return 0;
    int fd = open(p->to, O_RDONLY);
    int ok = fd >= 0 && fsync(fd) == 0;
    int e = errno;
    if(fd >= 0 && close(fd) != 0 && ok){ ok = 0; e = errno; }
    if(!ok){
        snprintf(err, errlen, "%s: writing failed (cannot flush it to the disk: %s)", p->path, strerror(e));
        return publish_abort(p);
    }
    if(rename(p->to, p->target) != 0){
        snprintf(err, errlen, "%s: cannot replace it: %s", p->path, strerror(errno));
        return publish_abort(p);
    }
    return 0;
}

int publish_png(void *surf, const char *path, char *err, size_t errlen)
{
    publishing p;
    cairo_status_t st = cairo_surface_status((cairo_surface_t *)surf);
    if(st == CAIRO_STATUS_SUCCESS){
        if(publish_begin(&p, path, err, errlen)) return -1;
        st = cairo_surface_write_to_png((cairo_surface_t *)surf, p.to);
        if(st == CAIRO_STATUS_SUCCESS) return publish_commit(&p, err, errlen);
        publish_abort(&p);
    }
    snprintf(err, errlen, "%s: cannot write the PNG (cairo: %s)", path, cairo_status_to_string(st));
    return -1;
}
