/* libFuzzer target for the cfg path: the input is written to a file and loaded as ./darknet seg3d loads a cfg (load_network_checked: pre-checks, parse_network_cfg_err with our registered sections, post-checks, free_network). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "darknet3d.h"

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    darknet3d_init();
    gpu_index = -1;
    snprintf(path, sizeof(path), "/tmp/fuzz_cfg_%d.cfg", (int)getpid());
    return 0;
}

/* Sections a darknet3d cfg may use; Darknet's other layer parsers ([convolutional], [yolo], ...) are stock code
 * that abort on bad values and are outside what darknet3d validates. Numbers above 16 are skipped too: a cfg
 * may legitimately ask for more memory than the fuzzer allows, which is not what we are looking for. */
static int acceptable(const uint8_t *d, size_t n)
{
    static const char *ok[] = {"[net]", "[network]", "[conv3d]", "[deconv3d]", "[upsample3d]", "[maxpool3d]", "[r2s]",
                               "[dtransform]", "[dualsplit]", "[dbisl]", "[route]", "[shortcut]", "[dropout]", 0};
    size_t i = 0;
    while(i < n){
        size_t e = i;
        while(e < n && d[e] != '\n') ++e;
        char line[128];
        size_t k = 0, j;
        for(j = i; j < e && k + 1 < sizeof(line); ++j) if(d[j] != ' ' && d[j] != '\t' && d[j] != '\r') line[k++] = (char)d[j];
        line[k] = 0;
        if(line[0] == '['){
            int m, found = 0;
            for(m = 0; ok[m]; ++m) if(strcmp(line, ok[m]) == 0) found = 1;
            if(!found) return 0;
        }
        for(j = i; j < e; ){
            if(d[j] >= '0' && d[j] <= '9'){
                long v = 0;
                while(j < e && d[j] >= '0' && d[j] <= '9'){ v = v * 10 + (d[j] - '0'); if(v > 16) return 0; ++j; }
            } else ++j;
        }
        i = e + 1;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if(size > 4096 || !acceptable(data, size)) return 0;
    FILE *f = fopen(path, "wb");
    if(!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    network *net = load_network_checked(path, 0, 0);
    if(net) free_network(net);
    return 0;
}
