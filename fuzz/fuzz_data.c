/* libFuzzer target for the .data parser: the input is written as a .data file next to two small case lists and parsed with dataset_load (lists included, no volumes read). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "dataset.h"

static char dir[64], path[96];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char p[128];
    snprintf(dir, sizeof(dir), "/tmp/fuzz_data_%d", (int)getpid());
    mkdir(dir, 0755);
    snprintf(p, sizeof(p), "%s/l.txt", dir);
    FILE *f = fopen(p, "w"); if(f){ fputs("a\n# c\n\n b \n", f); fclose(f); }
    snprintf(p, sizeof(p), "%s/u.txt", dir);
    f = fopen(p, "w"); if(f){ fputs("c\nd e\n", f); fclose(f); }
    snprintf(path, sizeof(path), "%s/x.data", dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if(size > 8192) return 0;
    FILE *f = fopen(path, "wb");
    if(!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    char err[1024];
    dataset *ds = dataset_load(path, err, sizeof(err));
    if(ds) dataset_free(ds);
    return 0;
}
