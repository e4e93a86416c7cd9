/* What the seg3d commands share: reading the -stride and -decoder flags, the stride a command uses, the .h5 test, the same-file test and mkdir -p. */
#ifndef CMD_COMMON_H
#define CMD_COMMON_H
#include "darknet.h"

/* -stride D H W at argv[i] (the flag itself): 0, or -1 after printing the error (the caller exits with 2) */
int cmd_stride_flag(const char *cmd, int argc, char **argv, int i, int stride[3]);

/* -batch N of predict/test (windows per forward pass, the key table's range); 0, or -1 with the error printed */
int cmd_batch_flag(const char *cmd, const char *arg, int *batch);

/* The stride of a command: the -stride flag when have_flag, else [net] infer_stride of cfg, else half the
 * window (a note says so). 0, or -1 after printing the error. */
int cmd_resolve_stride(const char *cfg, const network *net, int have_flag, int stride[3]);

/* -decoder a|b|mean: 0, 1, -1; -2 for anything else */
int cmd_decoder(const char *s);

/* 1 when the path names an HDF5 file (.h5) */
int cmd_is_h5(const char *path);

/* 1 when the path is an existing folder */
int cmd_is_dir(const char *path);

/* 1 when paths a and b name one file: the same name, two names (hard or symbolic links) of one existing file, or
 * two names that a write would resolve to the same place (the folders resolved, a symbolic link followed to its
 * target, existing or not); else 0 */
int cmd_same_file(const char *a, const char *b);

/* Creates a folder and its parents; 0, or -1 with errno set (an existing folder is not an error). */
int cmd_mkdir_p(const char *dir);

/* Seconds since the epoch, microsecond resolution. */
double cmd_now(void);

#endif
