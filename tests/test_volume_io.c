/* Tests of src/volume_io.c: NIfTI round trips (datatypes, scaling, geometry), 4D, corrupt files, and .h5 vs NIfTI on the shared LA cases. */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include "testlib.h"
#include "nifti2_io.h"
#include "hdf5.h"
#include "nifti_test.h"
#include "volume_io.h"

#define OUT "tests/out/volume_io"

static void mkout(void) { mkdir("tests/out", 0755); mkdir(OUT, 0755); }

/* Writes a NIfTI file of datatype dt directly with nifti_clib: values raw[i] = (i*7) % mod, slope/inter given,
 * an oblique-ish qform and an sform, 4th dim nt. */
static int write_raw(const char *path, int dt, int nx, int ny, int nz, int nt, double slope, double inter, int mod)
{
    int64_t dims[8] = {nt > 1 ? 4 : 3, nx, ny, nz, nt, 1, 1, 1};
    if(nt == 1 && dims[0] == 3){ /* also exercise an explicit 4D header with one frame */ }
    nifti_image *nim = nifti_make_new_nim(dims, dt, 1);
    if(!nim) return -1;
    size_t n = (size_t)nx * ny * nz * nt, i;
    for(i = 0; i < n; ++i){
        int r = (int)((i * 7) % mod);
        switch(dt){
            case DT_UINT8: ((uint8_t *)nim->data)[i] = (uint8_t)r; break;
            case DT_INT16: ((int16_t *)nim->data)[i] = (int16_t)(r - mod / 2); break;
            case DT_FLOAT32: ((float *)nim->data)[i] = r * 0.25f - 3; break;
            case DT_FLOAT64: ((double *)nim->data)[i] = r * 0.5 - 1; break;
        }
    }
    nim->scl_slope = slope; nim->scl_inter = inter;
    nifti_test_rotated_qform(nim, 0.625f, 0.7f, 1.25f);
    nim->sform_code = NIFTI_XFORM_ALIGNED_ANAT;
    int a, b;
    for(a = 0; a < 4; ++a) for(b = 0; b < 4; ++b) nim->sto_xyz.m[a][b] = (a == b) ? 1.5 + a : (a < 3 && b == 3 ? 5.0 * a : 0.1 * (a + b) * (a < 3));
    nim->sto_xyz.m[3][0] = nim->sto_xyz.m[3][1] = nim->sto_xyz.m[3][2] = 0; nim->sto_xyz.m[3][3] = 1;
    nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
    if(nifti_set_filenames(nim, path, 0, 1)){ nifti_image_free(nim); return -1; }
    nifti_image_write(nim);
    nifti_image_free(nim);
    return 0;
}

static double expect_val(int dt, size_t i, double slope, double inter, int mod)
{
    int r = (int)((i * 7) % mod);
    double raw = 0;
    switch(dt){
        case DT_UINT8: raw = r; break;
        case DT_INT16: raw = r - mod / 2; break;
        case DT_FLOAT32: raw = r * 0.25f - 3; break;
        case DT_FLOAT64: raw = r * 0.5 - 1; break;
    }
    return slope != 0 ? raw * slope + inter : raw;
}

static void test_datatypes_and_scaling(void)
{
    mkout();
    struct { int dt; double slope, inter; int mod; const char *ext; } cases[] = {
        {DT_UINT8, 0.0167, -1.2, 251, ".nii.gz"}, {DT_UINT8, 0, 0, 2, ".nii"}, {DT_INT16, 2.5, 100, 3001, ".nii"},
        {DT_INT16, 1, 0, 1001, ".nii.gz"}, {DT_FLOAT32, 1, 0, 97, ".nii"}, {DT_FLOAT32, 0.5, 1, 97, ".nii.gz"},
        {DT_FLOAT64, 0, 0, 13, ".nii"},
    };
    int c;
    for(c = 0; c < (int)(sizeof(cases) / sizeof(cases[0])); ++c){
        char path[256], err[512];
        snprintf(path, sizeof(path), OUT "/dt%d_%d%s", cases[c].dt, c, cases[c].ext);
        CHECK(write_raw(path, cases[c].dt, 7, 5, 3, 1, cases[c].slope, cases[c].inter, cases[c].mod) == 0);
        volume v;
        int rc = volume_read(path, NULL, &v, err, sizeof(err));
        CHECK_MSG(rc == 0, "%s", err);
        if(rc) continue;
        CHECK(v.nx == 7 && v.ny == 5 && v.nz == 3);
        CHECK_NEAR(v.dx, 0.625, 1e-6); CHECK_NEAR(v.dy, 0.7, 1e-6); CHECK_NEAR(v.dz, 1.25, 1e-6);
        CHECK(v.geom != NULL);
        size_t i; double maxd = 0;
        for(i = 0; i < 105; ++i){
            double e = expect_val(cases[c].dt, i, cases[c].slope, cases[c].inter, cases[c].mod);
            double d = fabs(v.data[i] - e) / (1 + fabs(e));
            if(d > maxd) maxd = d;
        }
        CHECK_MSG(maxd < 1e-6, "case %d max rel err %g", c, maxd);
        volume_free(&v);
        CHECK(v.data == NULL && v.geom == NULL);
    }
}

static int mat_close(nifti_dmat44 a, nifti_dmat44 b)
{
    int i, j;
    for(i = 0; i < 4; ++i) for(j = 0; j < 4; ++j) if(fabs(a.m[i][j] - b.m[i][j]) > 1e-4) return 0;
    return 1;
}

/* a derived volume written with geometry_from keeps qform/sform/spacing; float and uint8 outputs; .nii and .nii.gz.
 * derived.nii (uint8) and derived.nii.gz (float) exist side by side: each must read back its own data. */
static void test_write_keeps_geometry(void)
{
    mkout();
    char err[512];
    const char *src = OUT "/geom_src.nii.gz";
    CHECK(write_raw(src, DT_INT16, 6, 4, 5, 1, 0.5, 2, 77) == 0);
    volume ref;
    if(volume_read(src, NULL, &ref, err, sizeof(err))){ CHECK_MSG(0, "%s", err); return; }
    nifti_image *srch = nifti_image_read(src, 0);
    const char *outs[] = {OUT "/derived.nii", OUT "/derived.nii.gz"};
    int o, u8;
    for(o = 0; o < 2; ++o) for(u8 = 0; u8 < 2; ++u8){
        volume d;
        CHECK(volume_alloc(&d, 6, 4, 5) == 0);
        size_t i;
        for(i = 0; i < 120; ++i) d.data[i] = u8 ? (float)(i % 3) + (i % 5 == 0 ? 0.4f : 0.f) : (float)i * 0.37f - 5;
        CHECK_MSG(volume_write(outs[o], &d, &ref, u8, err, sizeof(err)) == 0, "%s", err);
        nifti_image *h = nifti_image_read(outs[o], 0);  /* header only: nifti_clib would take x.nii data for x.nii.gz */
        CHECK(h != NULL);
        if(h){
            CHECK(h->datatype == (u8 ? DT_UINT8 : DT_FLOAT32));
            CHECK(h->qform_code == srch->qform_code && h->sform_code == srch->sform_code);
            CHECK(mat_close(h->qto_xyz, srch->qto_xyz));
            CHECK(mat_close(h->sto_xyz, srch->sto_xyz));
            CHECK_NEAR(h->dx, srch->dx, 1e-6); CHECK_NEAR(h->dz, srch->dz, 1e-6);
            nifti_image_free(h);
        }
        volume back;
        if(volume_read(outs[o], NULL, &back, err, sizeof(err))){ CHECK_MSG(0, "%s", err); volume_free(&d); continue; }
        CHECK(back.nx == 6 && back.ny == 4 && back.nz == 5);
        double maxd = 0;
        for(i = 0; i < 120; ++i){
            double e = u8 ? (double)(i % 3) : d.data[i];
            if(fabs(back.data[i] - e) > maxd) maxd = fabs(back.data[i] - e);
        }
        CHECK_MSG(maxd == 0, "max diff %g", maxd);
        /* writing the read volume again uses its own geometry (v->geom) */
        CHECK_MSG(volume_write(OUT "/rewrite.nii", &back, NULL, 0, err, sizeof(err)) == 0, "%s", err);
        nifti_image *h2 = nifti_image_read(OUT "/rewrite.nii", 0);
        CHECK(h2 && mat_close(h2->sto_xyz, srch->sto_xyz));
        if(h2) nifti_image_free(h2);
        volume_free(&back);
        volume_free(&d);
    }
    nifti_image_free(srch);
    volume_free(&ref);
}

/* volume_read with stderr sent to a file: what it printed, its return code in *rc and its error in err */
static const char *read_said(const char *path, volume *v, char *err, size_t errlen, int *rc)
{
    static char buf[2048];
    FILE *f = fopen(OUT "/stderr.txt", "w+");
    *rc = -2;
    if(!f) return NULL;
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(f), 2);
    *rc = volume_read(path, NULL, v, err, errlen);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* what a successful volume_read printed (NULL when the read failed) */
static const char *read_noting(const char *path, volume *v)
{
    char err[512];
    int rc;
    const char *said = read_said(path, v, err, sizeof(err), &rc);
    return rc == 0 ? said : NULL;
}

static void test_identity_geometry_spacing(void)
{
    mkout();
    char err[512];
    volume v;
    CHECK(volume_alloc(&v, 3, 4, 2) == 0);
    CHECK(v.dx == 1 && v.dy == 1 && v.dz == 1 && v.geom == NULL);
    v.dx = 0.5f; v.dy = 2; v.dz = 3;
    int i;
    for(i = 0; i < 24; ++i){ CHECK(v.data[i] == 0); v.data[i] = (float)i; }
    CHECK_MSG(volume_write(OUT "/ident.nii.gz", &v, NULL, 0, err, sizeof(err)) == 0, "%s", err);
    volume b;
    CHECK_MSG(volume_read(OUT "/ident.nii.gz", NULL, &b, err, sizeof(err)) == 0, "%s", err);
    CHECK(b.nx == 3 && b.ny == 4 && b.nz == 2);
    CHECK_NEAR(b.dx, 0.5, 1e-6); CHECK_NEAR(b.dy, 2, 1e-6); CHECK_NEAR(b.dz, 3, 1e-6);
    for(i = 0; i < 24; ++i) CHECK(b.data[i] == (float)i);
    nifti_image *h = nifti_image_read(OUT "/ident.nii.gz", 0);
    CHECK(h && h->qform_code > 0 && fabs(h->qto_xyz.m[0][0] - 0.5) < 1e-6 && fabs(h->qto_xyz.m[2][2] - 3) < 1e-6);
    if(h) nifti_image_free(h);
    volume_free(&b);
    /* a header voxel size of 0 is no size: 1 mm along that axis, the others kept */
    v.dy = 0;
    CHECK_MSG(volume_write(OUT "/pixdim0.nii.gz", &v, NULL, 0, err, sizeof(err)) == 0, "%s", err);
    const char *said = read_noting(OUT "/pixdim0.nii.gz", &b);
    CHECK_MSG(said && strstr(said, "pixdim0.nii.gz: pixdim[2] = 0 is not a voxel size; 1 mm is used"), "said: %s", said ? said : "(read failed)");
    CHECK_NEAR(b.dx, 0.5, 1e-6); CHECK_NEAR(b.dy, 1, 1e-6); CHECK_NEAR(b.dz, 3, 1e-6);
    volume_free(&b);
    /* a voxel side of 1e20 or 1e-30 mm is no size either: mm and mL would overflow or vanish */
    v.dy = 2; v.dx = 1e20f; v.dz = 1e-30f;
    CHECK_MSG(volume_write(OUT "/pixdim_far.nii.gz", &v, NULL, 0, err, sizeof(err)) == 0, "%s", err);
    said = read_noting(OUT "/pixdim_far.nii.gz", &b);
    CHECK_MSG(said && strstr(said, "pixdim[1] = 1e+20 is not a voxel size") && strstr(said, "pixdim[3] = 1e-30 is not a voxel size"),
              "said: %s", said ? said : "(read failed)");
    CHECK_NEAR(b.dx, 1, 1e-6); CHECK_NEAR(b.dy, 2, 1e-6); CHECK_NEAR(b.dz, 1, 1e-6);
    volume_free(&b);
    v.dx = 0.5f; v.dy = 2; v.dz = 3;
    said = read_noting(OUT "/ident.nii.gz", &b);   /* sizes of their own: nothing said */
    CHECK_MSG(said && !strstr(said, "pixdim"), "said: %s", said ? said : "(read failed)");
    volume_free(&b);
    /* bad names and empty volumes are errors, not crashes */
    CHECK(volume_write(OUT "/x.img", &v, NULL, 0, err, sizeof(err)) == -1 && strstr(err, "x.img"));
    CHECK(volume_write(OUT "/no_such_dir/x.nii", &v, NULL, 0, err, sizeof(err)) == -1 && strstr(err, "no_such_dir"));
    volume_free(&v);
    CHECK(volume_alloc(&v, 0, 4, 2) == -1);
}

static void test_4d(void)
{
    mkout();
    char err[512];
    volume v;
    /* explicit 4D header with nt = 1 */
    int64_t dims[8] = {4, 4, 3, 2, 1, 1, 1, 1};
    nifti_image *nim = nifti_make_new_nim(dims, DT_FLOAT32, 1);
    int i;
    for(i = 0; i < 24; ++i) ((float *)nim->data)[i] = (float)i;
    nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
    nifti_set_filenames(nim, OUT "/one_frame.nii", 0, 1);
    nifti_image_write(nim);
    nifti_image_free(nim);
    CHECK_MSG(volume_read(OUT "/one_frame.nii", NULL, &v, err, sizeof(err)) == 0, "%s", err);
    CHECK(v.nx == 4 && v.ny == 3 && v.nz == 2 && v.data && v.data[23] == 23);
    volume_free(&v);
    CHECK(write_raw(OUT "/three_frames.nii.gz", DT_FLOAT32, 4, 3, 2, 3, 1, 0, 9) == 0);
    CHECK(volume_read(OUT "/three_frames.nii.gz", NULL, &v, err, sizeof(err)) == -1);
    CHECK_MSG(strstr(err, "three_frames.nii.gz") && strstr(err, "3 frames"), "%s", err);
    CHECK(v.data == NULL && v.geom == NULL);
}

static void test_corrupt_files(void)
{
    mkout();
    char err[512];
    volume v;
    CHECK(volume_read(OUT "/missing.nii.gz", NULL, &v, err, sizeof(err)) == -1 && strstr(err, "missing.nii.gz"));
    CHECK(volume_read(OUT "/whatever.png", NULL, &v, err, sizeof(err)) == -1 && strstr(err, "unknown volume format"));
    /* truncated .nii: header intact, data short */
    CHECK(write_raw(OUT "/full.nii", DT_FLOAT32, 8, 8, 8, 1, 1, 0, 31) == 0);
    FILE *f = fopen(OUT "/full.nii", "rb");
    char buf[4096];
    size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
    if(f) fclose(f);
    CHECK(n > 352 + 1000);
    f = fopen(OUT "/trunc.nii", "wb"); fwrite(buf, 1, 352 + 1000, f); fclose(f);
    CHECK(volume_read(OUT "/trunc.nii", NULL, &v, err, sizeof(err)) == -1);
    CHECK_MSG(strstr(err, "trunc.nii") != NULL, "%s", err);
    /* dim[0] = 8, dim[2] = 0, datatype 3: refused naming the value, without nifti_clib's own "** ERROR" line */
    static const struct { int at; short val; const char *said; } bad[] = {
        {40, 8, "dim[0] = 8: a NIfTI header gives 1 to 7 dimensions"}, {44, 0, "dim[2] = 0: each dimension holds at least one voxel"},
        {70, 3, "datatype 3 is not a NIfTI datatype"}};
    size_t k;
    for(k = 0; k < sizeof(bad) / sizeof(bad[0]); ++k){
        char b2[4096];
        memcpy(b2, buf, n);
        memcpy(b2 + bad[k].at, &bad[k].val, sizeof(short));
        f = fopen(OUT "/baddim.nii", "wb"); fwrite(b2, 1, n, f); fclose(f);
        int rc;
        const char *said = read_said(OUT "/baddim.nii", &v, err, sizeof(err), &rc);
        CHECK_MSG(rc == -1 && strstr(err, "baddim.nii: ") && strstr(err, bad[k].said), "%s", err);
        CHECK_MSG(said && !strstr(said, "** ERROR"), "nifti_clib printed: %s", said ? said : "");
    }
    /* truncated .nii.gz */
    CHECK(write_raw(OUT "/full.nii.gz", DT_FLOAT32, 16, 16, 16, 1, 1, 0, 1009) == 0);
    f = fopen(OUT "/full.nii.gz", "rb");
    n = f ? fread(buf, 1, sizeof(buf), f) : 0;
    if(f) fclose(f);
    f = fopen(OUT "/trunc.nii.gz", "wb"); fwrite(buf, 1, n / 2, f); fclose(f);
    CHECK(volume_read(OUT "/trunc.nii.gz", NULL, &v, err, sizeof(err)) == -1);
    CHECK_MSG(strstr(err, "trunc.nii.gz") != NULL, "%s", err);
    /* garbage */
    f = fopen(OUT "/garbage.nii", "wb"); for(n = 0; n < 2000; ++n) fputc((int)(n * 131 % 251), f); fclose(f);
    CHECK(volume_read(OUT "/garbage.nii", NULL, &v, err, sizeof(err)) == -1 && strstr(err, "garbage.nii"));
    f = fopen(OUT "/garbage.h5", "wb"); for(n = 0; n < 2000; ++n) fputc((int)(n * 131 % 251), f); fclose(f);
    CHECK(volume_read(OUT "/garbage.h5", NULL, &v, err, sizeof(err)) == -1 && strstr(err, "garbage.h5"));
    CHECK(v.data == NULL);
}

/* overwrites n bytes at offset of a file */
static int patch(const char *path, long offset, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "r+b");
    if(!f) return -1;
    int ok = fseek(f, offset, SEEK_SET) == 0 && fwrite(bytes, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* a single-file NIfTI whose vox_offset points into its header (or is NaN) is refused naming the file and the value,
 * not read from the end of the header with every voxel shifted: NIfTI-1 below 352, NIfTI-2 below 544 */
static void test_vox_offset(void)
{
    mkout();
    char err[512];
    volume v;
    const float bad1[2] = { 200, NAN };
    const char *shown[2] = { "vox_offset 200:", "vox_offset nan:" };
    int k;
    for(k = 0; k < 2; ++k){
        CHECK(write_raw(OUT "/vo1.nii", DT_FLOAT32, 4, 4, 2, 1, 1, 0, 31) == 0);
        CHECK(volume_read(OUT "/vo1.nii", NULL, &v, err, sizeof(err)) == 0);
        volume_free(&v);
        CHECK(patch(OUT "/vo1.nii", 108, &bad1[k], 4) == 0);
        CHECK(volume_read(OUT "/vo1.nii", NULL, &v, err, sizeof(err)) == -1 && v.data == NULL);
        CHECK_MSG(strstr(err, OUT "/vo1.nii: ") == err && strstr(err, shown[k]) && strstr(err, "byte 352 or later"), "%s", err);
    }
    /* vox_offset 0 is unset (nibabel's reading): the voxels from byte 352, the same as with 352, and a note */
    volume ref;
    const float zero = 0;
    CHECK(write_raw(OUT "/vo1.nii", DT_FLOAT32, 4, 4, 2, 1, 1, 0, 31) == 0);
    CHECK(volume_read(OUT "/vo1.nii", NULL, &ref, err, sizeof(err)) == 0);
    CHECK(patch(OUT "/vo1.nii", 108, &zero, 4) == 0);
    int rc;
    const char *said = read_said(OUT "/vo1.nii", &v, err, sizeof(err), &rc);
    CHECK_MSG(rc == 0 && said && strstr(said, "vo1.nii: vox_offset 0 (unset): the voxels are read from byte 352"), "%s / %s", err, said ? said : "");
    CHECK(rc == 0 && ref.data && v.data && memcmp(ref.data, v.data, 32 * sizeof(float)) == 0);
    if(rc == 0) volume_free(&v);
    volume_free(&ref);
    /* NIfTI-2 by hand (this nifti_clib writes no NIfTI-2 header): 540-byte header, extension flag, 32 floats */
    nifti_2_header h2;
    memset(&h2, 0, sizeof(h2));
    h2.sizeof_hdr = 540;
    memcpy(h2.magic, "n+2\0\r\n\032\n", 8);
    h2.datatype = DT_FLOAT32; h2.bitpix = 32;
    h2.dim[0] = 3; h2.dim[1] = 4; h2.dim[2] = 4; h2.dim[3] = 2;
    for(k = 0; k < 8; ++k){ h2.pixdim[k] = 1; if(k > 3) h2.dim[k] = 1; }
    h2.vox_offset = 544;
    const float data[32] = { 0 }, ext = 0;
    FILE *f = fopen(OUT "/vo2.nii", "wb");
    CHECK(f && sizeof(h2) == 540);
    if(!f) return;
    fwrite(&h2, 1, 540, f); fwrite(&ext, 1, 4, f); fwrite(data, 1, sizeof(data), f);
    fclose(f);
    CHECK_MSG(volume_read(OUT "/vo2.nii", NULL, &v, err, sizeof(err)) == 0, "%s", err);
    volume_free(&v);
    const int64_t bad2 = 540;
    CHECK(patch(OUT "/vo2.nii", 168, &bad2, 8) == 0);
    CHECK(volume_read(OUT "/vo2.nii", NULL, &v, err, sizeof(err)) == -1);
    CHECK_MSG(strstr(err, OUT "/vo2.nii: vox_offset 540: a single-file NIfTI-2 keeps its voxels at byte 544 or later"), "%s", err);
}

/* a .nii.gz whose gzip trailer does not match its data (CRC or length), or that ends before the trailer, is refused
 * naming the file: the reader goes on to the end of the stream after the voxels */
static void test_gzip_trailer(void)
{
    mkout();
    char err[512], buf[1 << 16];
    volume v;
    CHECK(write_raw(OUT "/gz.nii.gz", DT_FLOAT32, 16, 16, 16, 1, 1, 0, 1009) == 0);
    FILE *f = fopen(OUT "/gz.nii.gz", "rb");
    size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
    if(f) fclose(f);
    CHECK(n > 8 && n < sizeof(buf));
    CHECK_MSG(volume_read(OUT "/gz.nii.gz", NULL, &v, err, sizeof(err)) == 0, "%s", err);
    volume_free(&v);
    const struct { const char *name, *want; long at; } cut[3] = {
        { OUT "/gz_crc.nii.gz", "gzip data is corrupt (CRC check failed)", -8 },
        { OUT "/gz_len.nii.gz", "gzip data is corrupt (length check failed)", -4 },
        { OUT "/gz_short.nii.gz", "gzip data is cut short before its trailer (truncated file)", 0 },
    };
    int k;
    for(k = 0; k < 3; ++k){
        char b[1 << 16];
        memcpy(b, buf, n);
        if(cut[k].at) b[n + cut[k].at] ^= 0x5a;
        f = fopen(cut[k].name, "wb");
        if(f){ fwrite(b, 1, cut[k].at ? n : n - 8, f); fclose(f); }
        CHECK(volume_read(cut[k].name, NULL, &v, err, sizeof(err)) == -1 && v.data == NULL);
        CHECK_MSG(strstr(err, cut[k].name) == err && strstr(err, cut[k].want), "%s", err);
    }
}

/* writes path with one dataset "image" of float32 of the given shape; chunked (and never written) when chunk is set,
 * else contiguous and written with zeros */
static int write_h5_shape(const char *path, int nd, const hsize_t *dims, int chunk)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if(f < 0) return -1;
    hid_t sp = H5Screate_simple(nd, dims, NULL), pl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t ch[3] = {16, 16, 16};
    if(chunk) H5Pset_chunk(pl, 3, ch);
    hid_t d = H5Dcreate2(f, "image", H5T_IEEE_F32LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    int rc = d < 0 ? -1 : 0;
    if(d >= 0 && !chunk){
        float zero[64] = {0};
        rc = H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, zero) < 0 ? -1 : 0;
    }
    if(d >= 0) H5Dclose(d);
    H5Pclose(pl); H5Sclose(sp); H5Fclose(f);
    return rc;
}

/* an .h5 dataset with a zero-length dimension is refused as empty, naming the file, the dataset and its shape; one
 * that declares more voxels than the file could hold (chunks never written) is refused before anything is allocated */
static void test_h5_empty_and_unwritten(void)
{
    mkout();
    char err[512];
    volume v;
    const hsize_t zero[3] = {0, 8, 8}, zero4[4] = {1, 4, 0, 4}, small[3] = {4, 4, 4}, huge[3] = {2047, 1024, 1024};
    CHECK(write_h5_shape(OUT "/zero.h5", 3, zero, 0) == 0);
    CHECK(volume_read(OUT "/zero.h5", NULL, &v, err, sizeof(err)) == -1 && v.data == NULL);
    CHECK_MSG(strcmp(err, OUT "/zero.h5: dataset 'image' is 0 x 8 x 8: empty") == 0, "%s", err);
    CHECK(write_h5_shape(OUT "/zero4.h5", 4, zero4, 0) == 0);
    CHECK(volume_read(OUT "/zero4.h5", NULL, &v, err, sizeof(err)) == -1);
    CHECK_MSG(strcmp(err, OUT "/zero4.h5: dataset 'image' is 1 x 4 x 0 x 4: empty") == 0, "%s", err);
    CHECK(write_h5_shape(OUT "/small.h5", 3, small, 0) == 0);
    CHECK_MSG(volume_read(OUT "/small.h5", NULL, &v, err, sizeof(err)) == 0 && v.nx == 4, "%s", err);
    volume_free(&v);
    CHECK(write_h5_shape(OUT "/unwritten.h5", 3, huge, 1) == 0);
    CHECK(volume_read(OUT "/unwritten.h5", NULL, &v, err, sizeof(err)) == -1 && v.data == NULL);
    CHECK_MSG(strstr(err, OUT "/unwritten.h5: dataset 'image' claims 2047 x 1024 x 1024 voxels of 4 bytes, more than the file holds"), "%s", err);
}

/* h5py stores numpy bool as an HDF5 enum of int8 (FALSE = 0, TRUE = 1): read as its 0/1 values */
static void test_h5_bool_enum(void)
{
    mkout();
    char err[512];
    volume v;
    const hsize_t dims[3] = {2, 3, 4};
    int8_t val[24], k;
    hid_t ty = H5Tenum_create(H5T_NATIVE_INT8);
    k = 0; H5Tenum_insert(ty, "FALSE", &k);
    k = 1; H5Tenum_insert(ty, "TRUE", &k);
    int i;
    for(i = 0; i < 24; ++i) val[i] = (int8_t)(i % 3 == 0);
    hid_t f = H5Fcreate(OUT "/bool.h5", H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), sp = H5Screate_simple(3, dims, NULL);
    hid_t ds = H5Dcreate2(f, "label", ty, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(ds >= 0 && H5Dwrite(ds, ty, H5S_ALL, H5S_ALL, H5P_DEFAULT, val) >= 0);
    H5Dclose(ds); H5Sclose(sp); H5Fclose(f); H5Tclose(ty);
    CHECK_MSG(volume_read(OUT "/bool.h5", "label", &v, err, sizeof(err)) == 0, "%s", err);
    if(!v.data) return;
    CHECK(v.nx == 2 && v.ny == 3 && v.nz == 4);
    int ones = 0, others = 0;
    for(i = 0; i < 24; ++i){ ones += v.data[i] == 1; others += v.data[i] != 0 && v.data[i] != 1; }
    CHECK_MSG(ones == 8 && others == 0, "%d ones, %d other values", ones, others);
    /* h5[i][j][k] -> data[i + nx*(j + ny*k)]: h5 element (1,2,3) is flat index 23, value 23 % 3 == 0 -> 0 */
    CHECK(v.data[1 + 2 * (2 + 3 * 3)] == 0 && v.data[0] == 1);
    volume_free(&v);
}

static int file_exists(const char *p) { struct stat st; return stat(p, &st) == 0; }

/* .h5 (UA-MT preprocessing) vs the NIfTI of the same case: identical after the documented mapping */
static void test_h5_matches_nifti(void)
{
    const char *ids[] = {"06SR5RBREL16DQ6M8LWS", "0RZDK210BSMWAA6467LU"};
    char h5[512], nii[512], lab[512], err[512];
    snprintf(h5, sizeof(h5), "../shared/data/LA_h5/%s.h5", ids[0]);
    if(!file_exists(h5)) SKIP("../shared/data/LA_h5 not present (shared LA .h5 files needed)");
    int c;
    for(c = 0; c < 2; ++c){
        snprintf(h5, sizeof(h5), "../shared/data/LA_h5/%s.h5", ids[c]);
        snprintf(nii, sizeof(nii), "../shared/data/LA/%s/image.nii.gz", ids[c]);
        snprintf(lab, sizeof(lab), "../shared/data/LA/%s/label.nii.gz", ids[c]);
        if(!file_exists(nii)) SKIP("../shared/data/LA/%s missing", ids[c]);
        volume a, b, la, lb;
        CHECK_MSG(volume_read(h5, NULL, &a, err, sizeof(err)) == 0, "%s", err);
        CHECK_MSG(volume_read(nii, NULL, &b, err, sizeof(err)) == 0, "%s", err);
        CHECK_MSG(volume_read(h5, "label", &la, err, sizeof(err)) == 0, "%s", err);
        CHECK_MSG(volume_read(lab, NULL, &lb, err, sizeof(err)) == 0, "%s", err);
        if(!a.data || !b.data || !la.data || !lb.data) return;
        printf("  %s: h5 %d x %d x %d, nifti %d x %d x %d (spacing %.3f %.3f %.3f)\n", ids[c], a.nx, a.ny, a.nz,
               b.nx, b.ny, b.nz, b.dx, b.dy, b.dz);
        CHECK(a.nx == b.nx && a.ny == b.ny && a.nz == b.nz);
        CHECK(la.nx == lb.nx && la.ny == lb.ny && la.nz == lb.nz);
        if(a.nx == b.nx && a.ny == b.ny && a.nz == b.nz){
            size_t n = (size_t)a.nx * a.ny * a.nz, i, nl = 0;
            double maxd = 0, maxv = 0; size_t ldiff = 0;
            for(i = 0; i < n; ++i){
                double d = fabs(a.data[i] - b.data[i]);
                if(d > maxd) maxd = d;
                if(fabs(a.data[i]) > maxv) maxv = fabs(a.data[i]);
                ldiff += la.data[i] != lb.data[i];
                nl += la.data[i] != 0;
            }
            /* the NIfTI stores uint8 codes with slope/inter: equal up to the quantisation step */
            CHECK_MSG(maxd <= maxv / 255 * 0.51 + 1e-6, "image max abs diff %g (max |v| %g)", maxd, maxv);
            CHECK_MSG(ldiff == 0 && nl > 0, "label diffs %zu, foreground %zu", ldiff, nl);
        }
        volume_free(&a); volume_free(&b); volume_free(&la); volume_free(&lb);
    }
    volume v;
    snprintf(h5, sizeof(h5), "../shared/data/LA_h5/%s.h5", ids[0]);
    CHECK(volume_read(h5, "nonexistent", &v, err, sizeof(err)) == -1 && strstr(err, "nonexistent") && strstr(err, ids[0]));
}

int main(void)
{
    RUN(test_datatypes_and_scaling);
    RUN(test_write_keeps_geometry);
    RUN(test_identity_geometry_spacing);
    RUN(test_4d);
    RUN(test_corrupt_files);
    RUN(test_vox_offset);
    RUN(test_gzip_trailer);
    RUN(test_h5_empty_and_unwritten);
    RUN(test_h5_bool_enum);
    RUN(test_h5_matches_nifti);
    TEST_MAIN_END();
}
