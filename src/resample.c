/* `./darknet seg3d resample`: integer-factor block downsampling of a volume (images: block mean; labels: block majority), used to prepare reduced-resolution data sets such as LA-mini. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "cfg_keys.h"
#include "volume_io.h"
#include "cmd_common.h"
#include "resample.h"

int volume_downsample(const volume *in, int f, int is_label, volume *out)
{
    if(f < 1 || !in || !in->data || f > in->nx || f > in->ny || f > in->nz) return -1;
    int nx = in->nx / f, ny = in->ny / f, nz = in->nz / f;
    if(volume_alloc(out, nx, ny, nz)) return -1;
    out->dx = in->dx * f; out->dy = in->dy * f; out->dz = in->dz * f;
    if(volume_geom_coarsen(out, in, f)){ volume_free(out); return -1; }
    int x, y, z;
    #pragma omp parallel for private(x, y)
    for(z = 0; z < nz; ++z) for(y = 0; y < ny; ++y) for(x = 0; x < nx; ++x){
        double s = 0;
        int n = 0, a, b, c;
        for(c = z * f; c < z * f + f; ++c)
            for(b = y * f; b < y * f + f; ++b)
                for(a = x * f; a < x * f + f; ++a){
                    float v = in->data[a + (size_t)in->nx * (b + (size_t)in->ny * c)];
                    s += is_label ? (v != 0) : v;
                    ++n;
                }
        float m = n ? (float)(s / n) : 0.f;
        out->data[x + (size_t)nx * (y + (size_t)ny * z)] = is_label ? (m > 0.5f) : m;
    }
    return 0;
}

int seg3d_resample(int argc, char **argv)
{
    if(argc < 6){
        fprintf(stderr, "usage: ./darknet seg3d resample <in.nii[.gz]|in.h5> <out.nii[.gz]> <factor> [-label] [-zscore] [-spacing DX DY DZ]\n"
                        "  block-averages by an integer factor (labels: majority of the block); spacing is multiplied by the factor\n"
                        "  and the qform and sform place each voxel at the centre of its block in the input's world space;\n"
                        "  -zscore then normalises the image to mean 0, standard deviation 1 over the volume;\n"
                        "  -spacing: the voxel spacing in mm of an input that carries none (.h5; 1 mm otherwise); factor 1 converts\n");
        return 2;
    }
    char err[1024];
    long long f;
    if(arg_long("seg3d resample", "<factor>", argv[5], &f, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return 2; }
    int is_label = 0, zscore = 0, has_spacing = 0, i, a;
    float spacing[3] = {1, 1, 1};
    for(i = 6; i < argc; ++i){
        if(strcmp(argv[i], "-label") == 0) is_label = 1;
        else if(strcmp(argv[i], "-zscore") == 0) zscore = 1;
        else if(strcmp(argv[i], "-spacing") == 0){
            if(i + 3 >= argc){ fprintf(stderr, "error: seg3d resample -spacing: expected three numbers DX DY DZ (mm)\n"); return 2; }
            for(a = 0; a < 3; ++a)
                if(arg_float("seg3d resample", "-spacing", argv[++i], &spacing[a], err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return 2; }
            has_spacing = 1;
        }
        else { fprintf(stderr, "error: unknown option '%s'\n", argv[i]); return 2; }
    }
    if(is_label && zscore){ fprintf(stderr, "error: -zscore applies to images, not to -label volumes\n"); return 2; }
    if(volume_write_name_check(argv[4], err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return 1; }
    if(cmd_same_file(argv[4], argv[3])){
        fprintf(stderr, "error: %s: the output would overwrite the input %s; name another file\n", argv[4], argv[3]); return 1;
    }
    volume in = {0}, out = {0};
    if(volume_read(argv[3], is_label ? "label" : NULL, &in, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return 1; }
    if(has_spacing && in.geom){
        fprintf(stderr, "error: %s: -spacing is for inputs without a geometry (.h5); this file's header sets its spacing (%g %g %g mm) "
                "and its orientation, which the output keeps\n", argv[3], in.dx, in.dy, in.dz);
        volume_free(&in); return 2;
    }
    if(has_spacing){ in.dx = spacing[0]; in.dy = spacing[1]; in.dz = spacing[2]; }
    const char *axis = f > in.nx ? "x" : f > in.ny ? "y" : f > in.nz ? "z" : NULL;
    if(axis){
        fprintf(stderr, "error: %s: <factor> %lld is larger than the volume's %s dimension %d (%d x %d x %d); "
                "each dimension must hold at least one block of the factor\n", argv[3], f, axis,
                axis[0] == 'x' ? in.nx : axis[0] == 'y' ? in.ny : in.nz, in.nx, in.ny, in.nz);
        volume_free(&in); return 1;
    }
    if(in.nx % f || in.ny % f || in.nz % f)
        fprintf(stderr, "note: %s: %d x %d x %d is not a multiple of %lld on every axis: the last %lld x %lld x %lld voxels (x, y, z) "
                "make no block and are left out\n", argv[3], in.nx, in.ny, in.nz, f, in.nx % f, in.ny % f, in.nz % f);
    if(volume_downsample(&in, (int)f, is_label, &out)){ fprintf(stderr, "error: out of memory\n"); volume_free(&in); return 1; }
    if(zscore) volume_zscore(&out);
    int rc = volume_write(argv[4], &out, NULL, is_label, err, sizeof(err));
    if(rc) fprintf(stderr, "error: %s\n", err);
    else printf("%s: %d x %d x %d -> %d x %d x %d (spacing %g %g %g)\n", argv[4], in.nx, in.ny, in.nz, out.nx, out.ny, out.nz, out.dx, out.dy, out.dz);
    volume_free(&in);
    volume_free(&out);
    return rc ? 1 : 0;
}
