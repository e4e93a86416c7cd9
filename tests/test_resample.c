/* Tests of `./darknet seg3d resample` (the DARKNET environment variable, else the build's ./darknet): the output's qform and sform put each voxel at the centre of its input block in the input's world space. */
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "testlib.h"
#include "nifti2_io.h"
#include "nifti_test.h"

#define OUT "tests/out/resample"
#define NX 7
#define NY 9
#define NZ 5

static char darknet_bin[512];

/* A float32 volume with value i + 10 j + 100 k, a rotated qform (qfac -1, non-zero origin) and an oblique sform. */
static int write_rotated(const char *path)
{
    int64_t dims[8] = {3, NX, NY, NZ, 1, 1, 1, 1};
    nifti_image *nim = nifti_make_new_nim(dims, DT_FLOAT32, 1);
    if(!nim) return -1;
    int i, j, k, a;
    for(k = 0; k < NZ; ++k) for(j = 0; j < NY; ++j) for(i = 0; i < NX; ++i)
        ((float *)nim->data)[i + NX * (j + NY * k)] = (float)(i + 10 * j + 100 * k);
    nifti_test_rotated_qform(nim, 0.625f, 0.7f, 1.25f);
    nim->sform_code = NIFTI_XFORM_ALIGNED_ANAT;
    double s[3][4] = {{0.6, 0.1, -0.05, -40}, {-0.08, 0.7, 0.2, 12.5}, {0.03, -0.15, 1.2, 7}};
    for(a = 0; a < 12; ++a) nim->sto_xyz.m[a / 4][a % 4] = s[a / 4][a % 4];
    nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
    if(nifti_set_filenames(nim, path, 0, 1)){ nifti_image_free(nim); return -1; }
    nifti_image_write(nim);
    nifti_image_free(nim);
    return 0;
}

static void world(nifti_dmat44 m, double i, double j, double k, double *w)
{
    int r;
    for(r = 0; r < 3; ++r) w[r] = m.m[r][0] * i + m.m[r][1] * j + m.m[r][2] * k + m.m[r][3];
}

/* the largest distance between an output voxel's world position and the mean of its input block's, under m_in / m_out */
static double worst_centre_error(nifti_dmat44 m_in, nifti_dmat44 m_out, int f, int nx, int ny, int nz)
{
    double worst = 0;
    int i, j, k, a, b, c, r;
    for(k = 0; k < nz; ++k) for(j = 0; j < ny; ++j) for(i = 0; i < nx; ++i){
        double mean[3] = {0, 0, 0}, w[3];
        for(c = 0; c < f; ++c) for(b = 0; b < f; ++b) for(a = 0; a < f; ++a){
            world(m_in, f * i + a, f * j + b, f * k + c, w);
            for(r = 0; r < 3; ++r) mean[r] += w[r] / (f * f * f);
        }
        world(m_out, i, j, k, w);
        for(r = 0; r < 3; ++r) if(fabs(w[r] - mean[r]) > worst) worst = fabs(w[r] - mean[r]);
    }
    return worst;
}

static void check_geometry(const char *out_path, int f)
{
    nifti_image *in = nifti_image_read(OUT "/rot.nii.gz", 0), *out = nifti_image_read(out_path, 0);
    CHECK(in && out);
    if(!in || !out){ nifti_image_free(in); nifti_image_free(out); return; }
    CHECK(out->nx == NX / f && out->ny == NY / f && out->nz == NZ / f);
    CHECK_MSG(out->qform_code == in->qform_code && out->sform_code == in->sform_code, "codes q %d s %d, want q %d s %d",
              out->qform_code, out->sform_code, in->qform_code, in->sform_code);
    CHECK_NEAR(out->qfac, in->qfac, 0);
    CHECK_NEAR(out->quatern_b, in->quatern_b, 1e-6);
    CHECK_NEAR(out->quatern_c, in->quatern_c, 1e-6);
    CHECK_NEAR(out->quatern_d, in->quatern_d, 1e-6);
    CHECK_NEAR(out->dx, in->dx * f, 1e-5);
    CHECK_NEAR(out->dz, in->dz * f, 1e-5);
    CHECK_NEAR(worst_centre_error(in->qto_xyz, out->qto_xyz, f, out->nx, out->ny, out->nz), 0, 1e-4);
    CHECK_NEAR(worst_centre_error(in->sto_xyz, out->sto_xyz, f, out->nx, out->ny, out->nz), 0, 1e-4);
    nifti_image_free(in);
    nifti_image_free(out);
}

static int run(const char *args, int *rc)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s seg3d resample %s > " OUT "/cmd.out 2> " OUT "/cmd.err", darknet_bin, args);
    int st = system(cmd);
    *rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return *rc;
}

static void test_image_geometry_and_values(void)
{
    int rc;
    CHECK_MSG(run(OUT "/rot.nii.gz " OUT "/img2.nii.gz 2", &rc) == 0, "exit %d (see " OUT "/cmd.err)", rc);
    if(rc) return;
    check_geometry(OUT "/img2.nii.gz", 2);
    nifti_image *o = nifti_image_read(OUT "/img2.nii.gz", 1);
    CHECK(o && o->datatype == DT_FLOAT32);
    if(!o || o->datatype != DT_FLOAT32){ nifti_image_free(o); return; }
    /* the block mean of i + 10 j + 100 k is the same function at the block's centre index */
    int i, j, k;
    double worst = 0;
    for(k = 0; k < o->nz; ++k) for(j = 0; j < o->ny; ++j) for(i = 0; i < o->nx; ++i){
        double want = (2 * i + 0.5) + 10 * (2 * j + 0.5) + 100 * (2 * k + 0.5);
        double d = fabs(((float *)o->data)[i + o->nx * (j + o->ny * k)] - want);
        if(d > worst) worst = d;
    }
    CHECK_NEAR(worst, 0, 1e-4);
    nifti_image_free(o);
}

static void test_label_and_factor_3_geometry(void)
{
    int rc;
    CHECK_MSG(run(OUT "/rot.nii.gz " OUT "/lab3.nii.gz 3 -label", &rc) == 0, "exit %d (see " OUT "/cmd.err)", rc);
    if(!rc) check_geometry(OUT "/lab3.nii.gz", 3);
    /* the voxels that make no whole block are named in a note */
    char want[160], said[1024] = "";
    snprintf(want, sizeof(want), "is not a multiple of 3 on every axis: the last %d x %d x %d voxels (x, y, z) make no block",
             NX % 3, NY % 3, NZ % 3);
    FILE *f = fopen(OUT "/cmd.err", "r");
    size_t n = f ? fread(said, 1, sizeof(said) - 1, f) : 0;
    said[n] = 0;
    if(f) fclose(f);
    CHECK_MSG((NX % 3 || NY % 3 || NZ % 3) ? strstr(said, want) != NULL : strstr(said, "make no block") == NULL, "stderr: %s", said);
}

static void test_factor_above_a_dimension_refused(void)
{
    int rc;
    CHECK_MSG(run(OUT "/rot.nii.gz " OUT "/big.nii.gz 6", &rc) == 1, "exit %d, want 1", rc);
    /* the error line, wherever it is (a GPU build on a machine without a GPU prints its notice first) */
    FILE *f = fopen(OUT "/cmd.err", "r");
    char line[1024] = "";
    int found = 0;
    while(f && !found && fgets(line, sizeof(line), f)) found = strstr(line, "error: ") == line;
    if(f) fclose(f);
    CHECK_MSG(found && strstr(line, "<factor> 6") && strstr(line, "z dimension 5"), "stderr: %s", line);
    struct stat st;
    CHECK(stat(OUT "/big.nii.gz", &st) != 0);
}

int main(int argc, char **argv)
{
    const char *env = getenv("DARKNET");
    if(env && *env) snprintf(darknet_bin, sizeof(darknet_bin), "%s", env);
    else tl_darknet_bin(argv[0], darknet_bin, sizeof(darknet_bin));
    (void)argc;
    if(system("rm -rf " OUT " && mkdir -p " OUT)) return 1;
    nifti_set_debug_level(0);
    if(write_rotated(OUT "/rot.nii.gz")){ printf("FAIL test_resample_setup: cannot write " OUT "/rot.nii.gz\n"); return 1; }
    RUN(test_image_geometry_and_values);
    RUN(test_label_and_factor_3_geometry);
    RUN(test_factor_above_a_dimension_refused);
    TEST_MAIN_END();
}
