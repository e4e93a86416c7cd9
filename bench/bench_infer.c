/* Times the exact EDT at the raw LA size (576x576x88) and the medpy-compatible metrics on an LA label pair; writes the inputs for the scipy reference timing in bench_infer.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "darknet.h"
#include "edt.h"
#include "metrics.h"
#include "volume_io.h"

int main(int argc, char **argv)
{
    const char *label = argc > 1 ? argv[1] : "../shared/data/LA/06SR5RBREL16DQ6M8LWS/label.nii.gz";
    const char *outdir = argc > 2 ? argv[2] : "tests/out";
    char err[512], path[1024];
    volume v;
    if(volume_read(label, NULL, &v, err, sizeof(err))){ fprintf(stderr, "%s\n", err); return 1; }
    /* 1. EDT on 576x576x88: the LA label pasted in the middle of a raw-size array */
    int D = 88, H = 576, W = 576, d, h, w, rep;
    long n = (long)D*H*W;
    unsigned char *m = calloc(n, 1);
    float *o = malloc(n*sizeof(float));
    int oz = (D - v.nz)/2 > 0 ? (D - v.nz)/2 : 0, oy = (H - v.ny)/2, ox = (W - v.nx)/2;
    for(d = 0; d < v.nz && d < D; ++d) for(h = 0; h < v.ny; ++h) for(w = 0; w < v.nx; ++w)
        m[(w+ox) + (long)W*((h+oy) + (long)H*(d+oz))] = v.data[w + v.nx*(h + v.ny*d)] != 0;
    float sp[3] = { 0.625f, 0.625f, 0.625f };
    double best = 1e30;
    for(rep = 0; rep < 3; ++rep){
        double t = what_time_is_it_now();
        edt3d(m, D, H, W, sp, o);
        t = what_time_is_it_now() - t;
        if(t < best) best = t;
    }
    printf("edt3d 576x576x88 (LA label inside, spacing 0.625): %.3f s (best of 3)\n", best);
    snprintf(path, sizeof(path), "%s/bench_edt_mask.u8", outdir);
    FILE *f = fopen(path, "wb"); if(f){ fwrite(m, 1, n, f); fclose(f); }
    snprintf(path, sizeof(path), "%s/bench_edt_dist.f32", outdir);
    f = fopen(path, "wb"); if(f){ fwrite(o, sizeof(float), n, f); fclose(f); }
    free(m); free(o);
    /* 2. metrics: the label vs a copy shifted by (2, 3, -4) voxels (d, h, w) */
    long vn = (long)v.nx*v.ny*v.nz, i;
    unsigned char *a = calloc(vn, 1), *b = calloc(vn, 1);
    for(d = 0; d < v.nz; ++d) for(h = 0; h < v.ny; ++h) for(w = 0; w < v.nx; ++w){
        long idx = w + (long)v.nx*(h + (long)v.ny*d);
        a[idx] = v.data[idx] != 0;
        int sd = d - 2, sh = h - 3, sw = w + 4;
        if(sd >= 0 && sh >= 0 && sw < v.nx) b[idx] = v.data[sw + (long)v.nx*(sh + (long)v.ny*sd)] != 0;
    }
    float vsp[3] = { v.dz, v.dy, v.dx };
    seg_metrics mm;
    best = 1e30;
    for(rep = 0; rep < 3; ++rep){
        double t = what_time_is_it_now();
        seg_metrics_compute(a, b, v.nz, v.ny, v.nx, vsp, &mm);
        t = what_time_is_it_now() - t;
        if(t < best) best = t;
    }
    printf("metrics %dx%dx%d (label vs shifted copy): %.3f s (best of 3)\n", v.nx, v.ny, v.nz, best);
    printf("dice=%.6f jaccard=%.6f hd95=%.6f asd=%.6f hd95_mm=%.6f asd_mm=%.6f\n", mm.dice, mm.jaccard, mm.hd95, mm.asd, mm.hd95_mm, mm.asd_mm);
    snprintf(path, sizeof(path), "%s/bench_metrics_pair.u8", outdir);
    f = fopen(path, "wb");
    if(f){ int dims[3] = { v.nz, v.ny, v.nx }; fwrite(dims, sizeof(int), 3, f); fwrite(vsp, sizeof(float), 3, f); fwrite(a, 1, vn, f); fwrite(b, 1, vn, f); fclose(f); }
    (void)i;
    free(a); free(b);
    volume_free(&v);
    return 0;
}
