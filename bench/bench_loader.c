/* Loader benchmark: time to read the 80 LA cases into the cache, cache memory, and batches/s at crop 112x112x80, batch 4 (2 labeled + 2 unlabeled).
 * Build: make BUILDDIR=build/cpu GPU=0 build/cpu/libdarknet3d.a &&
 *        cc -O3 -fopenmp -Idarknet-src/include -Isrc -Ilayers -Icore bench/bench_loader.c build/cpu/libdarknet3d.a -o build/cpu/bench_loader \
 *           -lopenblas -lnifti2 -lznz -lhdf5_serial -lpng -lz -lm -pthread
 * Run:   ./build/cpu/bench_loader [LA folder, default ../shared/data/LA] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "dataset.h"
#include "loader.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv)
{
    const char *la = argc > 1 ? argv[1] : "../shared/data/LA";
    char abs[4096], err[1024];
    if(!realpath(la, abs)){ fprintf(stderr, "%s: not found\n", la); return 1; }
    mkdir("tests/out", 0755);
    FILE *f = fopen("tests/out/bench_la.data", "w");
    if(!f){ fprintf(stderr, "cannot write tests/out/bench_la.data\n"); return 1; }
    /* all 80 as the labeled stream (so labels are cached too); the unlabeled stream reuses the 64 cases (images only, already cached) */
    fprintf(f, "labeled = %s/train.list\nunlabeled = %s/unlabeled_64.list\nroot = %s\nimage = %%s/image.nii.gz\nlabel = %%s/label.nii.gz\n", abs, abs, abs);
    fclose(f);
    dataset *ds = dataset_load("tests/out/bench_la.data", err, sizeof(err));
    if(!ds){ fprintf(stderr, "%s\n", err); return 1; }
    double t0 = now();
    if(dataset_preload(ds, SPLIT_LABELED, err, sizeof(err))){ fprintf(stderr, "%s\n", err); return 1; }
    double t_read = now() - t0;
    size_t cache80 = ds->cache_bytes;
    if(dataset_preload(ds, SPLIT_UNLABELED, err, sizeof(err))){ fprintf(stderr, "%s\n", err); return 1; }
    size_t vox = 0;
    int i;
    for(i = 0; i < ds->split[SPLIT_LABELED].n; ++i){ dataset_case *c = &ds->split[SPLIT_LABELED].cases[i]; vox += (size_t)c->nx * c->ny * c->nz; }
    printf("read %d cases (image float32 + label uint8) in %.2f s (%.3f s/case); cache %.1f MiB (%.2f Mvoxels)\n",
           ds->split[SPLIT_LABELED].n, t_read, t_read / ds->split[SPLIT_LABELED].n, cache80 / 1048576.0, vox / 1e6);
    /* the unlabeled cases are separate dataset_case entries (a second copy of 64 images): report only the 80 */
    loader_params p;
    memset(&p, 0, sizeof(p));
    p.batch = 4; p.subdivisions = 1; p.labeled_per_batch = 2;
    p.d = 80; p.h = 112; p.w = 112;
    p.flip = LOADER_FLIP_W | LOADER_FLIP_H; p.rot90 = 1; p.seed = 1;
    loader *L = loader_create(ds, &p, err, sizeof(err));
    if(!L){ fprintf(stderr, "%s\n", err); return 1; }
    loader_batch b = loader_alloc_batch(L);
    int n = 100;
    t0 = now();
    for(i = 0; i < n; ++i) if(loader_fill(L, &b, err, sizeof(err))){ fprintf(stderr, "%s\n", err); return 1; }
    double t_sync = now() - t0;
    printf("loader_fill (caller's thread): %.1f batches/s (%.2f ms/batch)\n", n / t_sync, 1e3 * t_sync / n);
    loader_batch *bp;
    t0 = now();
    for(i = 0; i < n; ++i) if(loader_next(L, &bp, err, sizeof(err))){ fprintf(stderr, "%s\n", err); return 1; }
    double t_thr = now() - t0;
    printf("loader_next (background thread, consumer idle): %.1f batches/s (%.2f ms/batch)\n", n / t_thr, 1e3 * t_thr / n);
    loader_free_batch(&b);
    loader_free(L);
    dataset_free(ds);
    return 0;
}
