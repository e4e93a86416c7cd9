/* The one reader of the test fixtures: checks the header scripts/fixtures_io.py writes (magic "D3DF", version, dtype, ndim, shape) against what the test expects, naming the file and the script that regenerates it. */
#ifndef FIXTURE_H
#define FIXTURE_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE_MAGIC "D3DF"
#define FIXTURE_VERSION 1
#define FIXTURE_MAX_NDIM 8
enum { FIX_F32 = 1, FIX_U8 = 2 };

/* The script that writes the fixtures of a tests/fixtures/<folder>/. */
static inline const char *fixture_script(const char *path)
{
    static const char *map[][2] = {
        {"/conv3d/", "scripts/fixtures_conv3d.py"},
        {"/small_layers/", "scripts/fixtures_small_layers.py"},
        {"/dbisl/", "scripts/fixtures_dbisl.py"},
        {"/metrics/", "scripts/fixtures_metrics.py"},
        {"/network/", "scripts/fixtures_network.py"},
        {"/dtransform/", "scripts/dtransform_reference.py fixtures"},
    };
    size_t i;
    for(i = 0; i < sizeof(map) / sizeof(map[0]); ++i) if(strstr(path, map[i][0])) return map[i][1];
    return "its scripts/fixtures_*.py";
}

static inline void fixture_shape_str(char *s, size_t len, int ndim, const long *shape)
{
    int i;
    size_t k = 0;
    s[0] = 0;
    for(i = 0; i < ndim && k < len; ++i) k += snprintf(s + k, len - k, i ? "x%ld" : "%ld", shape[i]);
    if(ndim == 0) snprintf(s, len, "scalar");
}

/* Reads the fixture at path. dtype is FIX_F32 or FIX_U8; the expected shape is ndim dims: ndim 1 compares only
 * the element count (readers of several arrays stored one after the other), ndim 0 accepts any shape. Returns the
 * element count with *out (malloc'd), or -1 with *out NULL, why holding
 * "fixture <path>: <what is wrong>, regenerate with <script>" and the same line printed (indented) on stdout. */
static inline long fixture_load(const char *path, int dtype, int ndim, const long *shape, void **out, char *why, size_t whylen)
{
    char msg[512] = {0}, got[128], want[128];
    unsigned char magic[4];
    uint32_t head[3], dims[FIXTURE_MAX_NDIM];
    long fshape[FIXTURE_MAX_NDIM], count = 1, payload = 0;
    int i;
    *out = 0;
    FILE *f = fopen(path, "rb");
    if(!f){ snprintf(msg, sizeof(msg), "missing"); goto fail; }
    if(fread(magic, 1, 4, f) != 4 || memcmp(magic, FIXTURE_MAGIC, 4)){
        snprintf(msg, sizeof(msg), "no %s header (a raw file from before the headers, or not a fixture)", FIXTURE_MAGIC);
        goto fail;
    }
    if(fread(head, 4, 3, f) != 3){ snprintf(msg, sizeof(msg), "header truncated"); goto fail; }
    if(head[0] != FIXTURE_VERSION){ snprintf(msg, sizeof(msg), "header version %u, this reader knows %d", head[0], FIXTURE_VERSION); goto fail; }
    if(head[1] != (uint32_t)dtype){
        snprintf(msg, sizeof(msg), "dtype %s expected %s", head[1] == FIX_F32 ? "float32" : head[1] == FIX_U8 ? "uint8" : "unknown",
                 dtype == FIX_F32 ? "float32" : "uint8");
        goto fail;
    }
    if(head[2] > FIXTURE_MAX_NDIM){ snprintf(msg, sizeof(msg), "ndim %u > %d", head[2], FIXTURE_MAX_NDIM); goto fail; }
    if(fread(dims, 4, head[2], f) != head[2]){ snprintf(msg, sizeof(msg), "header truncated in the shape"); goto fail; }
    for(i = 0; i < (int)head[2]; ++i){ fshape[i] = dims[i]; count *= dims[i]; }
    fixture_shape_str(got, sizeof(got), (int)head[2], fshape);
    if(ndim == 1 && shape[0] != count){
        snprintf(msg, sizeof(msg), "shape %s (%ld values) expected %ld values", got, count, shape[0]);
        goto fail;
    }
    if(ndim > 1){
        int same = ndim == (int)head[2];
        for(i = 0; same && i < ndim; ++i) same = shape[i] == fshape[i];
        if(!same){
            fixture_shape_str(want, sizeof(want), ndim, shape);
            snprintf(msg, sizeof(msg), "shape %s expected %s", got, want);
            goto fail;
        }
    }
    {
        size_t esize = dtype == FIX_F32 ? 4 : 1;
        long pos = ftell(f);
        fseek(f, 0, SEEK_END);
        payload = ftell(f) - pos;
        fseek(f, pos, SEEK_SET);
        if(payload != (long)(count * esize)){
            snprintf(msg, sizeof(msg), "%ld payload bytes, the header's shape %s needs %ld (truncated or stale)", payload, got, (long)(count * esize));
            goto fail;
        }
        *out = malloc(count ? count * esize : 1);
        if(!*out || fread(*out, esize, count, f) != (size_t)count){ free(*out); *out = 0; snprintf(msg, sizeof(msg), "read error"); goto fail; }
    }
    fclose(f);
    if(why && whylen) why[0] = 0;
    return count;
fail:
    if(f) fclose(f);
    {
        char line[768];
        snprintf(line, sizeof(line), "fixture %s: %s, regenerate with %s", path, msg, fixture_script(path));
        printf("  %s\n", line);
        if(why && whylen) snprintf(why, whylen, "%s", line);
    }
    return -1;
}

/* float32 fixture of n values (n < 0: any shape); count or -1 */
static inline long fixture_f32(const char *path, long n, float **out)
{
    return fixture_load(path, FIX_F32, n < 0 ? 0 : 1, &n, (void **)out, 0, 0);
}

/* float32 fixture of exactly this shape; count or -1 */
static inline long fixture_f32_shape(const char *path, int ndim, const long *shape, float **out)
{
    return fixture_load(path, FIX_F32, ndim, shape, (void **)out, 0, 0);
}

/* uint8 fixture of n values (n < 0: any shape); count or -1 */
static inline long fixture_u8(const char *path, long n, unsigned char **out)
{
    return fixture_load(path, FIX_U8, n < 0 ? 0 : 1, &n, (void **)out, 0, 0);
}
#endif
