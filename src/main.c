/* Entry point of ./darknet: registers the darknet3d layer types, picks GPU or CPU, runs `seg3d` commands and hands every other command to Darknet's own main. */
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

/* 1 when argv names a command beyond the global flags Darknet's main removes (-nogpu, -i N): its main indexes
 * argv[1] after removing them, which is NULL without one */
static int names_command(int argc, char **argv)
{
    int i;
    for(i = 1; i < argc; ++i){
        if(strcmp(argv[i], "-nogpu") == 0) continue;
        if(strcmp(argv[i], "-i") == 0){ ++i; continue; }
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if(!names_command(argc, argv)){
        fprintf(stderr, "usage: %s seg3d <command> [args]   (darknet3d's commands; %s seg3d lists them)\n"
                        "       %s <function> [args]        (Darknet's own commands, e.g. detector)\n",
                argv[0], argv[0], argv[0]);
        return 2;
    }
    darknet3d_init();
    int have_gpu = darknet3d_gpu_available(1);
    int c = 1;
    while(c < argc && strcmp(argv[c], "-nogpu") == 0) ++c;
    if(c < argc && strcmp(argv[c], "seg3d") == 0){
        /* -nogpu anywhere: every seg3d command runs on the CPU (as Darknet's own commands do) */
        int i, n = 0;
        for(i = 0; i < argc; ++i){
            if(strcmp(argv[i], "-nogpu") == 0) gpu_index = -1;
            else argv[n++] = argv[i];
        }
        argv[n] = 0;
        return seg3d_main(n, argv);
    }
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
