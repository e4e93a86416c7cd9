/* libFuzzer target for volume reading: the input (after one selector byte) is written to a .nii, .nii.gz or .h5 file and read with volume_read, as the data pipeline and seg3d predict read volumes. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "volume_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *suffix[] = {".nii", ".nii.gz", ".h5", ".h5"};
    static const char *dsname[] = {0, 0, "image", "label"};
    if(size < 1 || size > (1 << 20)) return 0;
    int which = data[0] & 3;
    /* libhdf5 1.10 (Debian) itself crashes on some malformed files (SEGV in H5F__accum_read, found by this target):
     * .h5 inputs are fuzzed only with FUZZ_H5=1 so that CI runs stay about our code */
    static int h5 = -1;
    if(h5 < 0){ const char *e = getenv("FUZZ_H5"); h5 = e && *e == '1'; }
    if(which >= 2 && !h5) return 0;
    char path[96], err[1024];
    snprintf(path, sizeof(path), "/tmp/fuzz_volume_%d%s", (int)getpid(), suffix[which]);
    FILE *f = fopen(path, "wb");
    if(!f) return 0;
    fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    volume v;
    if(volume_read(path, dsname[which], &v, err, sizeof(err)) == 0){
        /* a successful read must describe a whole, finite volume */
        size_t i, n = (size_t)v.nx * v.ny * v.nz;
        if(v.nx < 1 || v.ny < 1 || v.nz < 1) abort();
        for(i = 0; i < n; ++i) if(!isfinite(v.data[i])) abort();
        volume_free(&v);
    }
    unlink(path);
    return 0;
}
