/* Files that readers never see half-written: written under a hidden name beside their path, flushed to the disk, then renamed onto the path. */
#ifndef FILE_PUBLISH_H
#define FILE_PUBLISH_H
#include <stddef.h>
#include <stdio.h>

/* One file being written. Write to `to`: the hidden name beside path (same directory, ".~<pid>-<name>", path's
 * extension kept, so that writers which pick a format from it still do), or path itself when path exists and is
 * not a regular file (a device such as /dev/null, a pipe), which is written in place and never replaced. A path
 * that is a symbolic link is published onto the file it points to (the link stays). */
typedef struct {
    const char *path;     /* as given: the name errors use */
    char target[4096];    /* the file replaced: path, or where its symbolic link points */
    char to[4096];
    int in_place;
} publishing;

/* Starts writing path: creates `to` empty, so that a missing or read-only folder is reported here with its reason.
 * 0, or -1 with err naming path. */
int publish_begin(publishing *p, const char *path, char *err, size_t errlen);

/* Flushes `to` to the disk (fsync) and renames it onto path: a reader, or the disk after a power loss, has the
 * older file or the whole new one. `to` is removed on failure. 0, or -1 with err naming path. */
int publish_commit(publishing *p, char *err, size_t errlen);

/* Writing `to` failed: removes it (path is left as it was); returns -1. */
int publish_abort(publishing *p);

/* publish_begin for a writer with a stdio stream: `to` opened for writing, or NULL with err naming path. */
FILE *publish_fopen(publishing *p, const char *path, char *err, size_t errlen);

/* Closes f, opened by publish_fopen: its writes checked (the stream's error flag, fclose's flush), then published,
 * or removed with err "<path>: write failed: <reason>". 0, or -1 with err. */
int publish_fclose(publishing *p, FILE *f, char *err, size_t errlen);

/* surf (a cairo_surface_t *, not destroyed) written as a PNG at path the same way; its drawing errors reported too. */
int publish_png(void *surf, const char *path, char *err, size_t errlen);
#endif
