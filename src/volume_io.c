/* Volume reading/writing: NIfTI through nifti_clib (any numeric datatype to float32, scaling applied, header kept as geometry) and .h5 through HDF5. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "nifti2_io.h"
#include "hdf5.h"
#include "volume_io.h"
#include "file_publish.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int volume_alloc(volume *v, int nx, int ny, int nz)
{
    memset(v, 0, sizeof(*v));
    if(nx <= 0 || ny <= 0 || nz <= 0) return -1;
    size_t n = (size_t)nx * ny * nz;
    if(n > (size_t)INT32_MAX) return -1;  /* flat indices are int in the samplers and layers */
    v->data = calloc(n, sizeof(float));
    if(!v->data) return -1;
    v->nx = nx; v->ny = ny; v->nz = nz;
    v->dx = v->dy = v->dz = 1;
    return 0;
}

void volume_free(volume *v)
{
    if(!v) return;
    free(v->data);
    if(v->geom) nifti_image_free((nifti_image *)v->geom);
    memset(v, 0, sizeof(*v));
}

int volume_geom_coarsen(volume *out, const volume *in, int f)
{
    if(f < 1 || !out) return -1;
    if(!in || !in->geom) return 0;
    nifti_image *g = nifti_copy_nim_info((const nifti_image *)in->geom);
    if(!g) return -1;
    nifti_free_extensions(g);
    double h = (f - 1) / 2.0, c[3];
    int r, k;
    /* qform: the quaternion and qfac stay, the spacing grows by f, the origin moves to the centre of block 0 */
    for(r = 0; r < 3; ++r) c[r] = g->qto_xyz.m[r][3] + h * (g->qto_xyz.m[r][0] + g->qto_xyz.m[r][1] + g->qto_xyz.m[r][2]);
    g->pixdim[1] = g->dx = out->dx; g->pixdim[2] = g->dy = out->dy; g->pixdim[3] = g->dz = out->dz;
    g->qoffset_x = c[0]; g->qoffset_y = c[1]; g->qoffset_z = c[2];
    g->qto_xyz = nifti_quatern_to_dmat44(g->quatern_b, g->quatern_c, g->quatern_d, c[0], c[1], c[2], g->dx, g->dy, g->dz, g->qfac);
    g->qto_ijk = nifti_dmat44_inverse(g->qto_xyz);
    /* sform: each column grows by f, the origin moves to the centre of block 0 */
    for(r = 0; r < 3; ++r){
        g->sto_xyz.m[r][3] += h * (g->sto_xyz.m[r][0] + g->sto_xyz.m[r][1] + g->sto_xyz.m[r][2]);
        for(k = 0; k < 3; ++k) g->sto_xyz.m[r][k] *= f;
    }
    g->sto_ijk = nifti_dmat44_inverse(g->sto_xyz);
    if(out->geom) nifti_image_free((nifti_image *)out->geom);
    out->geom = g;
    return 0;
}

/* nifti_clib reports problems on stderr at debug level >= 1; we report our own error instead */
static void nifti_quiet(void) { nifti_set_debug_level(0); }

/* A voxel side outside [1e-6, 1e6] mm is no size (distances in mm and volumes in mL would overflow or vanish) */
static int spacing_usable(double d)
{
    d = fabs(d);
    return isfinite(d) && d >= 1e-6 && d <= 1e6;
}

static float spacing_or_one(double d)
{
    return spacing_usable(d) ? (float)fabs(d) : 1.f;
}

/* The fields of a NIfTI-1 or -2 header the checks below read, as on disk but in this machine's byte order (nifti_clib
 * validates and converts them only later, printing its own lines for bad ones). Read once per file. */
typedef struct {
    int nver;            /* 1 or 2; 0: no header could be read */
    int magic;           /* the header has NIfTI's magic ("n+1", "ni1", "n+2", "ni2") */
    int64_t dim[8];
    int dtype;
    double pixdim[8], vox_offset;
} raw_header;

static void raw_header_read(const char *path, raw_header *r)
{
    int a;
    memset(r, 0, sizeof(*r));
    void *h = nifti_read_header(path, &r->nver, 0);
    if(!h){ r->nver = 0; return; }
    if(r->nver == 2){
        nifti_2_header *h2 = h;
        if(h2->sizeof_hdr != 540){   /* nifti_read_header leaves a byte-swapped header as it is on disk */
            nifti_swap_8bytes(8, h2->dim); nifti_swap_2bytes(1, &h2->datatype);
            nifti_swap_8bytes(8, h2->pixdim); nifti_swap_8bytes(1, &h2->vox_offset);
        }
        for(a = 0; a < 8; ++a){ r->dim[a] = h2->dim[a]; r->pixdim[a] = h2->pixdim[a]; }
        r->dtype = h2->datatype; r->vox_offset = (double)h2->vox_offset;
        r->magic = !memcmp(h2->magic, "n+2", 4) || !memcmp(h2->magic, "ni2", 4);
    } else {
        nifti_1_header *h1 = h;
        if(h1->sizeof_hdr != 348){
            nifti_swap_2bytes(8, h1->dim); nifti_swap_2bytes(1, &h1->datatype);
            nifti_swap_4bytes(8, h1->pixdim); nifti_swap_4bytes(1, &h1->vox_offset);
        }
        for(a = 0; a < 8; ++a){ r->dim[a] = h1->dim[a]; r->pixdim[a] = h1->pixdim[a]; }
        r->dtype = h1->datatype; r->vox_offset = h1->vox_offset;
        r->magic = !memcmp(h1->magic, "n+1", 4) || !memcmp(h1->magic, "ni1", 4);
    }
    free(h);
}

/* A header voxel size of 0, NaN, infinity or outside spacing_usable's range is no size: nifti_clib reads the first
 * three as 1, spacing_or_one all of them; said once per file, naming it. */
static void note_bad_pixdim(const char *path, const raw_header *r, const nifti_image *nim)
{
    int a;
    for(a = 1; a <= 3 && a <= nim->dim[0] && r->nver; ++a)
        if(!spacing_usable(r->pixdim[a]))
            fprintf(stderr, "note: %s: pixdim[%d] = %g is not a voxel size; 1 mm is used along that axis (distances in mm "
                    "and volumes in mL assume it)\n", path, a, r->pixdim[a]);
}

/* A single-file NIfTI keeps its voxels after the header and the 4-byte extension flag: from byte 352 (NIfTI-1) or
 * 544 (NIfTI-2) on. nifti_clib reads a smaller or non-finite vox_offset as the header's size, every voxel shifted,
 * so the raw header is read: 0 (unset, as nibabel reads it) means the first byte after the flag, with a note; any
 * other value below that, or not finite, is refused naming the file and the value. 0 with *offset set, or -1. */
static int check_vox_offset(const char *path, const raw_header *r, int64_t *offset, char *err, size_t errlen)
{
    int least = r->nver == 2 ? 544 : 352;
    double off = r->vox_offset;
    if(!r->nver) return 0;   /* nifti_image_read has read it: nothing more to learn here */
    if(isfinite(off) && off >= least) return 0;
    if(off == 0){
        fprintf(stderr, "note: %s: vox_offset 0 (unset): the voxels are read from byte %d, after the header and its "
                "extension flag\n", path, least);
        *offset = least;
        return 0;
    }
    snprintf(err, errlen, "%s: vox_offset %g: a single-file NIfTI-%d keeps its voxels at byte %d or later, after its %d-byte "
             "header and the 4-byte extension flag (corrupt header)", path, off, r->nver == 2 ? 2 : 1, least, least - 4);
    return -1;
}

/* What zlib says is wrong with a gzip stream, in words: the trailer's checks by name, else zlib's message */
static const char *gz_fault(gzFile g, int *errnum)
{
    const char *msg = gzerror(g, errnum);
    if(*errnum == Z_DATA_ERROR && msg && strstr(msg, "incorrect data check")) return "CRC check failed";
    if(*errnum == Z_DATA_ERROR && msg && strstr(msg, "incorrect length check")) return "length check failed";
    return msg ? msg : "unknown error";
}

/* nbytes at offset of a gzipped file into buf, then the rest of the stream, so that zlib checks the trailer's CRC and
 * length: a corrupt or cut file is refused, not read as wrong voxels. 0, or -1 with err naming the file. */
static int gz_read_data(const char *path, int64_t offset, void *buf, size_t nbytes, char *err, size_t errlen)
{
    gzFile g = gzopen(path, "rb");
    if(!g){ snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return -1; }
    gzbuffer(g, 1 << 17);
    size_t done = 0;
    int got = 0, errnum = Z_OK;
    if(gzseek(g, (z_off_t)offset, SEEK_SET) == (z_off_t)offset){
        while(done < nbytes && (got = gzread(g, (char *)buf + done, nbytes - done > (1u << 30) ? 1u << 30 : (unsigned)(nbytes - done))) > 0)
            done += (size_t)got;
        char tail[4096];
        while(done == nbytes && gzread(g, tail, sizeof(tail)) > 0);
    }
    const char *fault = gz_fault(g, &errnum);
    if(errnum != Z_OK && errnum != Z_BUF_ERROR)
        snprintf(err, errlen, "%s: gzip data is corrupt (%s)", path, fault);
    else if(done < nbytes)
        snprintf(err, errlen, "%s: NIfTI data could not be read (truncated or corrupt file)", path);
    else if(errnum == Z_BUF_ERROR)
        snprintf(err, errlen, "%s: gzip data is cut short before its trailer (truncated file)", path);
    gzclose(g);
    return errnum == Z_OK && done == nbytes ? 0 : -1;
}

/* Reads the voxel data of a single-file NIfTI whose header nim (and r, raw) holds into nim->data, unconverted; on
 * failure frees nim. */
static int nifti_read_data(const char *path, const raw_header *r, nifti_image *nim, char *err, size_t errlen)
{
    size_t nbytes = (size_t)nim->nvox * nim->nbyper;
    int ok = 0, gz = nifti_is_gzfile(path);
    /* a corrupt header can claim any size: never allocate more than the file can hold (deflate expands at most ~1032x) */
    struct stat st;
    double room = stat(path, &st) == 0 ? (double)st.st_size * (gz ? 1100.0 : 1.0) : 0;
    if(nim->nvox < 1 || nim->nbyper < 1 || (double)nim->nvox * nim->nbyper > room){
        snprintf(err, errlen, "%s: NIfTI header claims %lld voxels of %d bytes, more than the file holds (truncated or corrupt file)",
                 path, (long long)nim->nvox, nim->nbyper);
        nifti_image_free(nim); return -1;
    }
    int64_t offset = nim->iname_offset;
    if(check_vox_offset(path, r, &offset, err, errlen)){ nifti_image_free(nim); return -1; }
    nim->iname_offset = offset;
    nim->data = malloc(nbytes ? nbytes : 1);
    if(!nim->data){ snprintf(err, errlen, "%s: out of memory", path); nifti_image_free(nim); return -1; }
    /* raw read + byte swap rather than nifti_read_buffer, which silently turns NaN/Inf voxels into 0:
     * volume_read refuses them instead */
    if(gz){
        if(gz_read_data(path, nim->iname_offset, nim->data, nbytes, err, errlen)){ nifti_image_free(nim); return -1; }
        ok = 1;
    } else {
        znzFile zf = znzopen(path, "rb", 0);
        if(!znz_isnull(zf) && znzseek(zf, (long)nim->iname_offset, SEEK_SET) >= 0) ok = znzread(nim->data, 1, nbytes, zf) == nbytes;
        if(!znz_isnull(zf)) znzclose(zf);
    }
    if(!ok){
        snprintf(err, errlen, "%s: NIfTI data could not be read (truncated or corrupt file)", path);
        nifti_image_free(nim); return -1;
    }
    if(nim->swapsize > 1 && nim->byteorder != nifti_short_order()) nifti_swap_Nbytes(nim->nvox, nim->swapsize, nim->data);
    return 0;
}

/* out[0..n) = nim's voxels as floats with the header's scaling applied; -1 (nothing freed) on a datatype that is not a number */
static int nifti_to_floats(const char *path, const nifti_image *nim, size_t n, float *out, char *err, size_t errlen)
{
    size_t i;
    const void *d = nim->data;
    switch(nim->datatype){
#define CONV(DT, T) case DT: for(i = 0; i < n; ++i) out[i] = (float)((const T *)d)[i]; break;
        CONV(DT_UINT8, uint8_t)
        CONV(DT_INT8, int8_t)
        CONV(DT_UINT16, uint16_t)
        CONV(DT_INT16, int16_t)
        CONV(DT_UINT32, uint32_t)
        CONV(DT_INT32, int32_t)
        CONV(DT_UINT64, uint64_t)
        CONV(DT_INT64, int64_t)
        CONV(DT_FLOAT32, float)
        CONV(DT_FLOAT64, double)
#undef CONV
        default:
            snprintf(err, errlen, "%s: unsupported NIfTI datatype %d (%s); need an integer or real type", path,
                     nim->datatype, nifti_datatype_string(nim->datatype));
            return -1;
    }
    /* NIfTI: scl_slope == 0 means "no scaling" */
    double slope = nim->scl_slope, inter = nim->scl_inter;
    if(slope != 0 && isfinite(slope) && isfinite(inter) && !(slope == 1 && inter == 0)){
        for(i = 0; i < n; ++i) out[i] = (float)(out[i] * slope + inter);
    }
    return 0;
}

/* The header's dim[] and datatype, checked before nifti_clib converts it (which prints its own "** ERROR" line for
 * these): 1 to 7 dimensions of at least one voxel each, a NIfTI datatype. 0 (or no header to read: nifti_image_read
 * reports that), or -1 with err naming the file and the value. */
static int check_header_dims(const char *path, const raw_header *r, char *err, size_t errlen)
{
    const int64_t *dim = r->dim;
    int a;
    if(!r->nver || !r->magic) return 0;   /* no NIfTI header at all, which nifti_image_read reports as such */
    if(dim[0] < 1 || dim[0] > 7){
        snprintf(err, errlen, "%s: dim[0] = %lld: a NIfTI header gives 1 to 7 dimensions (corrupt header)", path, (long long)dim[0]);
        return -1;
    }
    for(a = 1; a <= dim[0]; ++a) if(dim[a] < 1){
        snprintf(err, errlen, "%s: dim[%d] = %lld: each dimension holds at least one voxel (corrupt header)", path, a, (long long)dim[a]);
        return -1;
    }
    if(!nifti_is_valid_datatype(r->dtype)){
        snprintf(err, errlen, "%s: datatype %d is not a NIfTI datatype (corrupt header)", path, r->dtype);
        return -1;
    }
    return 0;
}

static int read_nifti(const char *path, volume *v, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if(!fp){ snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return -1; }
    fclose(fp);
    nifti_quiet();
    raw_header rh;
    raw_header_read(path, &rh);
    if(check_header_dims(path, &rh, err, errlen)) return -1;
    nifti_image *nim = nifti_image_read(path, 0);
    if(!nim){
        /* zlib may meet a corrupt or cut stream while nifti_clib reads the header: say so rather than blame the header */
        if(!nifti_is_gzfile(path) || gz_read_data(path, 0, NULL, 0, err, errlen) == 0)
            snprintf(err, errlen, "%s: not a readable NIfTI header", path);
        return -1;
    }
    /* nifti_clib looks for the image data by base name and prefers x.nii over x.nii.gz: when both
     * exist, nifti_image_read("x.nii.gz", 1) takes x.nii's data. A single-file NIfTI holds its own
     * data, so we read it from exactly the file asked for. */
    if(nim->nifti_type != NIFTI_FTYPE_NIFTI1_1 && nim->nifti_type != NIFTI_FTYPE_NIFTI2_1){
        snprintf(err, errlen, "%s: not a single-file NIfTI (.hdr/.img pairs are not supported)", path);
        nifti_image_free(nim); return -1;
    }
    if(nifti_read_data(path, &rh, nim, err, errlen)) return -1;
    int64_t frames = 1;
    int a;
    for(a = 4; a <= 7 && a <= nim->dim[0]; ++a) frames *= nim->dim[a] > 0 ? nim->dim[a] : 1;
    if(nim->dim[0] > 7 || frames != 1){
        snprintf(err, errlen, "%s: %lld frames (dims 4..7); a single 3D volume is required", path, (long long)frames);
        nifti_image_free(nim); return -1;
    }
    int64_t nx = nim->nx > 0 ? nim->nx : 1, ny = (nim->dim[0] >= 2 && nim->ny > 0) ? nim->ny : 1,
            nz = (nim->dim[0] >= 3 && nim->nz > 0) ? nim->nz : 1;
    if(nx * ny * nz > INT32_MAX || nx > INT32_MAX){
        snprintf(err, errlen, "%s: volume too large (%lld x %lld x %lld)", path, (long long)nx, (long long)ny, (long long)nz);
        nifti_image_free(nim); return -1;
    }
    size_t n = (size_t)(nx * ny * nz);
    float *out = malloc(n * sizeof(float));
    if(!out){ snprintf(err, errlen, "%s: out of memory", path); nifti_image_free(nim); return -1; }
    if(nifti_to_floats(path, nim, n, out, err, errlen)){ free(out); nifti_image_free(nim); return -1; }
    memset(v, 0, sizeof(*v));
    v->nx = (int)nx; v->ny = (int)ny; v->nz = (int)nz;
    note_bad_pixdim(path, &rh, nim);
    v->dx = spacing_or_one(nim->dx);
    v->dy = nim->dim[0] >= 2 ? spacing_or_one(nim->dy) : 1.f;
    v->dz = nim->dim[0] >= 3 ? spacing_or_one(nim->dz) : 1.f;
    v->data = out;
    free(nim->data);
    nim->data = NULL;
    nifti_free_extensions(nim);  /* geometry only: extensions are not carried to derived volumes */
    v->geom = nim;
    return 0;
}

/* HDF5 prints its error stack on failure by default; silence it while we work, restore after */
typedef struct { H5E_auto2_t fn; void *data; } h5_quiet_state;
static void h5_quiet_begin(h5_quiet_state *s) { H5Eget_auto2(H5E_DEFAULT, &s->fn, &s->data); H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
static void h5_quiet_end(h5_quiet_state *s) { H5Eset_auto2(H5E_DEFAULT, s->fn, s->data); }

/* The 3D shape of a dataset: (X,Y,Z) or a singleton-padded form such as (1,X,Y,Z) or (X,Y,Z,1). A dataset with a
 * zero-length dimension is empty; one whose voxels (of elem bytes each) are more than the file's size could hold,
 * compressed by deflate (at most ~1032x), is refused before anything is allocated, as the NIfTI reader does.
 * 0, or -1 with err naming the file and the dataset. */
static int h5_shape(const char *path, const char *dsname, hid_t sp, size_t elem, hsize_t d3[3], char *err, size_t errlen)
{
    int nd = H5Sget_simple_extent_ndims(sp), a;
    hsize_t dims[8] = {0};
    if(nd < 1 || nd > 8 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0){
        snprintf(err, errlen, "%s: dataset '%s' has an unreadable shape", path, dsname); return -1;
    }
    double nvox = 1;
    for(a = 0; a < nd; ++a) nvox *= (double)dims[a];
    if(nvox == 0){
        int len = snprintf(err, errlen, "%s: dataset '%s' is ", path, dsname);
        for(a = 0; a < nd && len > 0 && (size_t)len < errlen; ++a)
            len += snprintf(err + len, errlen - len, "%s%llu", a ? " x " : "", (unsigned long long)dims[a]);
        if(len > 0 && (size_t)len < errlen) snprintf(err + len, errlen - len, ": empty");
        return -1;
    }
    int lo = 0, hi = nd;
    while(hi - lo > 3 && dims[lo] == 1) ++lo;
    while(hi - lo > 3 && dims[hi - 1] == 1) --hi;
    if(hi - lo != 3){ snprintf(err, errlen, "%s: dataset '%s' has %d non-singleton dimensions; a 3D volume is required", path, dsname, nd); return -1; }
    d3[0] = dims[lo]; d3[1] = dims[lo + 1]; d3[2] = dims[lo + 2];
    if(nvox > INT32_MAX){ snprintf(err, errlen, "%s: dataset '%s' too large", path, dsname); return -1; }
    struct stat st;
    double room = stat(path, &st) == 0 ? (double)st.st_size * 1100.0 : 0;
    if(nvox * (elem ? elem : 1) > room){
        snprintf(err, errlen, "%s: dataset '%s' claims %llu x %llu x %llu voxels of %zu bytes, more than the file holds "
                 "(chunks never written, or a truncated or corrupt file)", path, dsname, (unsigned long long)d3[0],
                 (unsigned long long)d3[1], (unsigned long long)d3[2], elem);
        return -1;
    }
    return 0;
}

/* 1 when an enum type's base is an integer (h5py writes numpy bool as an enum of int8 FALSE = 0, TRUE = 1) */
static int h5_enum_is_integer(hid_t ty)
{
    hid_t sup = H5Tget_super(ty);
    if(sup < 0) return 0;
    int ok = H5Tget_class(sup) == H5T_INTEGER && H5Tget_size(sup) <= 8;
    H5Tclose(sup);
    return ok;
}

/* the n values of an enum-of-integers dataset as floats: HDF5 converts an enum only to an enum, so the values are read
 * as the native enum (its base integer's bytes) and widened here. 0, or -1 when the read fails */
static int h5_read_enum(hid_t ds, hid_t ty, size_t n, float *out)
{
    hid_t mem = H5Tget_native_type(ty, H5T_DIR_DEFAULT), sup = mem >= 0 ? H5Tget_super(mem) : -1;
    size_t sz = sup >= 0 ? H5Tget_size(sup) : 0, i;
    int sgn = sup >= 0 && H5Tget_sign(sup) == H5T_SGN_2;
    unsigned char *raw = (sz == 1 || sz == 2 || sz == 4 || sz == 8) ? malloc(n * sz) : NULL;
    int rc = raw && H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0 ? 0 : -1;
    for(i = 0; rc == 0 && i < n; ++i){
        const unsigned char *p = raw + i * sz;
        if(sz == 1) out[i] = sgn ? (float)*(const int8_t *)p : (float)*p;
        else if(sz == 2) out[i] = sgn ? (float)*(const int16_t *)p : (float)*(const uint16_t *)p;
        else if(sz == 4) out[i] = sgn ? (float)*(const int32_t *)p : (float)*(const uint32_t *)p;
        else out[i] = sgn ? (float)*(const int64_t *)p : (float)*(const uint64_t *)p;
    }
    free(raw);
    if(sup >= 0) H5Tclose(sup);
    if(mem >= 0) H5Tclose(mem);
    return rc;
}

static int read_h5(const char *path, const char *dsname, volume *v, char *err, size_t errlen)
{
    if(!dsname) dsname = "image";
    FILE *fp = fopen(path, "rb");
    if(!fp){ snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return -1; }
    fclose(fp);
    h5_quiet_state q;
    h5_quiet_begin(&q);
    int rc = -1;
    hid_t f = -1, ds = -1, sp = -1, ty = -1;
    float *tmp = NULL, *out = NULL;
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if(f < 0){ snprintf(err, errlen, "%s: not a readable HDF5 file", path); goto done; }
    if(H5Lexists(f, dsname, H5P_DEFAULT) <= 0){ snprintf(err, errlen, "%s: no dataset '%s'", path, dsname); goto done; }
    ds = H5Dopen2(f, dsname, H5P_DEFAULT);
    if(ds < 0){ snprintf(err, errlen, "%s: cannot open dataset '%s'", path, dsname); goto done; }
    ty = H5Dget_type(ds);
    H5T_class_t cls = H5Tget_class(ty);
    if(cls == H5T_ENUM && h5_enum_is_integer(ty) != 1) cls = H5T_NO_CLASS;   /* an enum of integers: h5py's bool */
    if(cls != H5T_INTEGER && cls != H5T_FLOAT && cls != H5T_ENUM){ snprintf(err, errlen, "%s: dataset '%s' is not numeric", path, dsname); goto done; }
    sp = H5Dget_space(ds);
    hsize_t d3[3];
    if(h5_shape(path, dsname, sp, H5Tget_size(ty), d3, err, errlen)) goto done;
    int nx = (int)d3[0], ny = (int)d3[1], nz = (int)d3[2];
    size_t n = (size_t)nx * ny * nz;
    tmp = malloc(n * sizeof(float));
    out = malloc(n * sizeof(float));
    if(!tmp || !out){ snprintf(err, errlen, "%s: out of memory", path); goto done; }
    if((cls == H5T_ENUM ? h5_read_enum(ds, ty, n, tmp) : H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp)) < 0){
        snprintf(err, errlen, "%s: reading dataset '%s' failed (corrupt or truncated file)", path, dsname); goto done;
    }
    /* h5[i][j][k] (k fastest in the file) -> data[i + nx*(j + ny*k)] */
    int i, j, kk;
    for(kk = 0; kk < nz; ++kk) for(j = 0; j < ny; ++j){
        float *o = out + (size_t)nx * (j + (size_t)ny * kk);
        for(i = 0; i < nx; ++i) o[i] = tmp[kk + (size_t)nz * (j + (size_t)ny * i)];
    }
    memset(v, 0, sizeof(*v));
    v->nx = nx; v->ny = ny; v->nz = nz;
    v->dx = v->dy = v->dz = 1;
    v->data = out;
    out = NULL;
    rc = 0;
done:
    free(tmp); free(out);
    if(ty >= 0) H5Tclose(ty);
    if(sp >= 0) H5Sclose(sp);
    if(ds >= 0) H5Dclose(ds);
    if(f >= 0) H5Fclose(f);
    h5_quiet_end(&q);
    return rc;
}

int volume_read(const char *path, const char *h5_dataset, volume *v, char *err, size_t errlen)
{
    memset(v, 0, sizeof(*v));
    if(!path){ snprintf(err, errlen, "(null): no path"); return -1; }
    int rc;
    if(ends_with(path, ".h5") || ends_with(path, ".hdf5")) rc = read_h5(path, h5_dataset, v, err, errlen);
    else if(ends_with(path, ".nii") || ends_with(path, ".nii.gz")) rc = read_nifti(path, v, err, errlen);
    else {
        snprintf(err, errlen, "%s: unknown volume format (expected .nii, .nii.gz or .h5)", path);
        return -1;
    }
    /* a NaN/Inf voxel would poison every loss and metric downstream: refuse it here, where the file is known */
    size_t i, n = rc == 0 ? (size_t)v->nx * v->ny * v->nz : 0;
    for(i = 0; i < n; ++i){
        if(!isfinite(v->data[i])){
            size_t x = i % v->nx, y = (i / v->nx) % v->ny, z = i / ((size_t)v->nx * v->ny);
            snprintf(err, errlen, "%s: voxel (%zu, %zu, %zu) is %s; volumes must hold finite values", path, x, y, z,
                     isnan(v->data[i]) ? "NaN" : "infinite");
            volume_free(v);
            return -1;
        }
    }
    return rc;
}

int volume_label_check(const volume *lab, const char *label_path, int nx, int ny, int nz, const char *image_path,
                       char *err, size_t errlen)
{
    if(lab->nx != nx || lab->ny != ny || lab->nz != nz){
        snprintf(err, errlen, "%s: label is %d x %d x %d but the image %s is %d x %d x %d", label_path,
                 lab->nx, lab->ny, lab->nz, image_path, nx, ny, nz);
        return -1;
    }
    size_t n = (size_t)nx * ny * nz, i;
    for(i = 0; i < n; ++i){
        float x = lab->data[i];
        if(!(x >= 0 && x <= 255) || x != floorf(x)){
            snprintf(err, errlen, "%s: label value %g at voxel %zu is not an integer in 0..255", label_path, x, i);
            return -1;
        }
    }
    return 0;
}

/* The bytes a (possibly gzipped) file yields when read to its end, so a gzip stream cut short counts only what it holds; -1 when it cannot be opened or read. */
static long long readable_bytes(const char *path)
{
    znzFile zf = znzopen(path, "rb", nifti_is_gzfile(path));
    const size_t cap = (size_t)1 << 16;
    char *buf = malloc(cap);
    if(znz_isnull(zf) || !buf){ if(!znz_isnull(zf)) znzclose(zf); free(buf); return -1; }
    long long total = 0;
    size_t got;
    while((got = znzread(buf, 1, cap, zf)) > 0 && got <= cap) total += (long long)got;
    znzclose(zf);
    free(buf);
    return got > cap ? -1 : total;
}

/* Checks that the file written (nifti_image_write reports nothing back) holds at least want bytes when read to its end, then publishes it (file_publish.h). */
static int publish_checked(publishing *p, size_t want, char *err, size_t errlen)
{
    struct stat st;
    if(stat(p->to, &st) != 0 || st.st_size == 0){
        snprintf(err, errlen, "%s: writing failed (empty file: disk full?)", p->path); return publish_abort(p);
    }
    long long got = readable_bytes(p->to);
    if(got < 0 || (size_t)got < want){
        snprintf(err, errlen, "%s: writing failed (short file: disk full?)", p->path); return publish_abort(p);
    }
    return publish_commit(p, err, errlen);
}

int volume_write_name_check(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if(!(ends_with(path, ".nii") || ends_with(path, ".nii.gz"))){
        snprintf(err, errlen, "%s: can only write .nii or .nii.gz", path); return -1;
    }
    if(stat(path, &st) == 0 && !S_ISREG(st.st_mode)){
        snprintf(err, errlen, "%s: not a regular file: a volume is written to a file", path); return -1;
    }
    return 0;
}

int volume_write(const char *path, const volume *v, const volume *geometry_from, int as_uint8, char *err, size_t errlen)
{
    if(!(ends_with(path, ".nii") || ends_with(path, ".nii.gz"))){
        snprintf(err, errlen, "%s: can only write .nii or .nii.gz", path); return -1;
    }
    if(!v || !v->data || v->nx <= 0 || v->ny <= 0 || v->nz <= 0){ snprintf(err, errlen, "%s: empty volume", path); return -1; }
    const nifti_image *g = (geometry_from && geometry_from->geom) ? geometry_from->geom : (nifti_image *)v->geom;
    int dt = as_uint8 ? DT_UINT8 : DT_FLOAT32;
    nifti_quiet();
    nifti_image *nim;
    if(g){
        nim = nifti_copy_nim_info(g);
        if(!nim){ snprintf(err, errlen, "%s: out of memory", path); return -1; }
        nifti_free_extensions(nim);
    } else {
        int64_t dims[8] = {3, v->nx, v->ny, v->nz, 1, 1, 1, 1};
        nim = nifti_make_new_nim(dims, dt, 0);
        if(!nim){ snprintf(err, errlen, "%s: out of memory", path); return -1; }
        nim->pixdim[1] = nim->dx = v->dx;
        nim->pixdim[2] = nim->dy = v->dy;
        nim->pixdim[3] = nim->dz = v->dz;
        nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
        nim->sform_code = NIFTI_XFORM_UNKNOWN;
        nim->quatern_b = nim->quatern_c = nim->quatern_d = 0;
        nim->qoffset_x = nim->qoffset_y = nim->qoffset_z = 0;
        nim->qfac = 1;
        nim->qto_xyz = nifti_quatern_to_dmat44(0, 0, 0, 0, 0, 0, v->dx, v->dy, v->dz, 1);
        nim->qto_ijk = nifti_dmat44_inverse(nim->qto_xyz);
        nim->xyz_units = NIFTI_UNITS_MM;
    }
    /* the shape and type are v's; the header's placement in space is the geometry's */
    int a;
    nim->dim[0] = 3; nim->dim[1] = v->nx; nim->dim[2] = v->ny; nim->dim[3] = v->nz;
    for(a = 4; a < 8; ++a) nim->dim[a] = 1;
    nifti_update_dims_from_array(nim);
    nim->datatype = dt;
    nifti_datatype_sizes(dt, &nim->nbyper, &nim->swapsize);
    nim->scl_slope = 0; nim->scl_inter = 0;   /* stored values are the values */
    nim->cal_min = nim->cal_max = 0;
    nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
    nim->byteorder = nifti_short_order();
    free(nim->fname); free(nim->iname);
    nim->fname = nim->iname = NULL;
    publishing pub;
    if(publish_begin(&pub, path, err, errlen) != 0){ nifti_image_free(nim); return -1; }
    if(pub.in_place){   /* nifti_clib reports no failed write, and a device or pipe cannot be read back to check it */
        snprintf(err, errlen, "%s: not a regular file: a volume is written to a file", path); nifti_image_free(nim); return -1;
    }
    if(nifti_set_filenames(nim, pub.to, 0, 1) != 0){
        snprintf(err, errlen, "%s: bad output file name", path); nifti_image_free(nim); return publish_abort(&pub);
    }
    size_t n = (size_t)v->nx * v->ny * v->nz, i;
    void *buf = malloc(n * (as_uint8 ? 1 : sizeof(float)));
    if(!buf){ snprintf(err, errlen, "%s: out of memory", path); nifti_image_free(nim); return publish_abort(&pub); }
    if(as_uint8){
        uint8_t *b = buf;
        for(i = 0; i < n; ++i){
            float x = v->data[i];
            b[i] = !(x > 0) ? 0 : x >= 255 ? 255 : (uint8_t)lrintf(x);
        }
    } else memcpy(buf, v->data, n * sizeof(float));
    nim->data = buf;
    nifti_image_write(nim);
    nifti_image_free(nim);  /* frees buf */
    return publish_checked(&pub, 352 + n * (as_uint8 ? 1 : 4), err, errlen);
}

void volume_zscore(volume *v)
{
    size_t n = (size_t)v->nx * v->ny * v->nz, j;
    double s = 0, ss = 0;
    for(j = 0; j < n; ++j){ s += v->data[j]; ss += (double)v->data[j] * v->data[j]; }
    double mean = s / n, var = ss / n - mean * mean;
    float inv = var > 1e-12 ? (float)(1.0 / sqrt(var)) : 1.f;
    for(j = 0; j < n; ++j) v->data[j] = (float)((v->data[j] - mean) * inv);
}
