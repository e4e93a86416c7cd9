/* Entry point of ./darknet: registers the darknet3d layer types, picks GPU or CPU, runs `seg3d` commands and hands every other command to Darknet's own main. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "darknet.h"
#include "darknet3d.h"

extern char **environ;
int darknet_main(int argc, char **argv); /* Darknet's examples/darknet.c, compiled with -Dmain=darknet_main */

/* OMP_WAIT_POLICY is PASSIVE unless the user set it (the rule and why: docs/design.md, "OpenMP wait policy").
 * libgomp reads the variable once, in its constructor, before main and before any constructor of this executable,
 * and glibc resets the environment after an executable's .preinit_array runs, so no setenv here can reach it.
 * This getenv, which takes the place of libc's for every library of the process (ELF symbol interposition), is
 * libc's lookup plus that one default. */
char *getenv(const char *name)
{
    size_t n = strlen(name);
    char **e;
    for(e = environ; e && *e; ++e) if(strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
    if(strcmp(name, "OMP_WAIT_POLICY") == 0) return (char *)"PASSIVE";
    return NULL;
}

/* The first index from i on that is not one of the global flags Darknet's main removes (-nogpu, -i N); argc when
 * none is left */
static int skip_global_flags(int argc, char **argv, int i)
{
    while(i < argc){
        if(strcmp(argv[i], "-nogpu") == 0) i += 1;
        else if(strcmp(argv[i], "-i") == 0) i += 2;
        else return i;
    }
    return argc;
}

/* The index in argv of the command, 0 when there is none (Darknet's main would read argv[1] = NULL once the global
 * flags are removed) */
static int command_index(int argc, char **argv)
{
    int c = skip_global_flags(argc, argv, 1);
    return c < argc ? c : 0;
}

/* Darknet's commands that read positional arguments without checking their count (a missing one is NULL, or read
 * past the end of argv): how many they need after the command name, and what they are */
static const struct { const char *name; int n; const char *args; } stock_positional[] = {
    {"detect", 2, "<cfg> <weights> [image]"}, {"classify", 3, "<cfg> <weights> <image>"},
    {"3d", 3, "<left image> <right image> <out> [shift]"}, {"test", 1, "<image>"}, {"imtest", 1, "<image>"},
    {"rgbgr", 3, "<cfg> <weights> <out weights>"}, {"reset", 3, "<cfg> <weights> <out weights>"},
    {"denormalize", 3, "<cfg> <weights> <out weights>"}, {"normalize", 3, "<cfg> <weights> <out weights>"},
    {"rescale", 3, "<cfg> <weights> <out weights>"}, {"oneoff", 3, "<cfg> <weights> <out weights>"},
    {"statistics", 2, "<cfg> <weights>"}, {"ops", 1, "<cfg>"}, {"speed", 1, "<cfg> [tics]"},
    {"visualize", 1, "<cfg> [weights]"}, {"oneoff2", 4, "<cfg> <weights> <out weights> <layer>"},
    {"print", 3, "<cfg> <weights> <layer>"}, {"partial", 4, "<cfg> <weights> <out weights> <layers>"},
    {"mkimg", 6, "<cfg> <weights> <h> <w> <count> <prefix>"},
};

/* 0, or -1 after a usage line when argv[c] is one of stock_positional with fewer arguments after it than it reads
 * (Darknet's global flags -nogpu and -i N not counted: its main removes them first) */
static int check_stock_arguments(int argc, char **argv, int c)
{
    size_t k;
    int i, n = 0;
    for(i = skip_global_flags(argc, argv, c + 1); i < argc; i = skip_global_flags(argc, argv, i + 1)) ++n;
    for(k = 0; k < sizeof stock_positional / sizeof stock_positional[0]; ++k)
        if(strcmp(argv[c], stock_positional[k].name) == 0 && n < stock_positional[k].n){
            fprintf(stderr, "usage: %s %s %s\n", argv[0], argv[c], stock_positional[k].args);
            return -1;
        }
    return 0;
}

/* 0 when Darknet's -i (the first one before the last argument: its main reads that one) is a GPU index, an
 * integer in [0, INT_MAX]; else -1 with the error printed */
static int check_gpu_index_flag(int argc, char **argv)
{
    int i;
    for(i = 1; i < argc - 1; ++i){
        if(strcmp(argv[i], "-i") != 0) continue;
        char *end, *v = argv[i + 1];
        if(strcmp(v, "-1") == 0) return 0;   /* Darknet's own way to run on the CPU */
        errno = 0;
        long g = isdigit((unsigned char)v[0]) ? strtol(v, &end, 10) : -1;
        if(g >= 0 && !*end && errno != ERANGE && g <= INT_MAX) return 0;
        fprintf(stderr, "error: -i %s: expected a GPU index, an integer in [0, %d], or -1 for the CPU (as -nogpu)\n", v, INT_MAX);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int c = command_index(argc, argv);
    if(!c){
        fprintf(stderr, "usage: %s seg3d <command> [args]   (darknet3d's commands; %s seg3d lists them)\n"
                        "       %s <function> [args]        (Darknet's own commands, e.g. detector)\n",
                argv[0], argv[0], argv[0]);
        return 2;
    }
    darknet3d_init();
    int have_gpu = darknet3d_gpu_available(1);
    if(strcmp(argv[c], "seg3d") == 0){
        /* -nogpu anywhere: every seg3d command runs on the CPU (as Darknet's own commands do); -i N is not theirs */
        int i, n = 0;
        for(i = 1; i < c; ++i)
            if(strcmp(argv[i], "-i") == 0){
                fprintf(stderr, "error: -i %s: seg3d commands do not take Darknet's -i; train picks the GPU with -gpus N, "
                                "the others run on GPU 0, and -nogpu runs any of them on the CPU\n", argv[i + 1]);   /* i + 1 < c: skip_global_flags took -i with its value */
                return 2;
            }
        for(i = 0; i < argc; ++i){
            if(strcmp(argv[i], "-nogpu") == 0) gpu_index = -1;
            else argv[n++] = argv[i];
        }
        argv[n] = 0;
        return seg3d_main(n, argv);
    }
    if(check_gpu_index_flag(argc, argv) || check_stock_arguments(argc, argv, c)) return 2;
    if(!have_gpu){
        /* Darknet's main would call cudaSetDevice and die: pass -nogpu instead */
        char **args = calloc(argc + 2, sizeof(char *));
        int i;
        for(i = 0; i < argc; ++i) args[i] = argv[i];
        args[argc] = "-nogpu";
        return darknet_main(argc + 1, args);
    }
    return darknet_main(argc, argv);
}
