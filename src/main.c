/* Entry point of ./darknet: registers the darknet3d layer types, picks GPU or CPU, runs `seg3d` commands and hands every other command to Darknet's own main. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "darknet.h"
#include "darknet3d.h"

int darknet_main(int argc, char **argv); /* Darknet's examples/darknet.c, compiled with -Dmain=darknet_main */

int main(int argc, char **argv)
{
    /* OpenMP threads (vol2col, elementwise loops) and OpenBLAS's own threads share the cores: with libgomp's
     * default spin-waiting they steal each other's time (measured: 6 s -> 0.5 s per dbisl-tiny iteration on
     * 2 cores). libgomp reads OMP_WAIT_POLICY when it loads, before main, so set it and re-execute once. */
    if(!getenv("OMP_WAIT_POLICY")){
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        execv("/proc/self/exe", argv);
        /* exec failed: carry on with the default policy */
    }
    darknet3d_init();
    int have_gpu = darknet3d_gpu_available(1);
    if(argc >= 2 && strcmp(argv[1], "seg3d") == 0){
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
