/* The .data file parser (strict keys, paths relative to the .data file), case lists and the per-case volume cache. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dataset.h"
#include "volume_io.h"
#include "msd.h"
#include "text_bom.h"

const char *dataset_split_names[SPLIT_N] = {"labeled", "unlabeled", "valid", "test"};

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if(d) memcpy(d, s, n);
    return d;
}

static char *trim(char *s)
{
    while(*s && isspace((unsigned char)*s)) ++s;
    char *e = s + strlen(s);
    while(e > s && isspace((unsigned char)e[-1])) --e;
    *e = 0;
    return s;
}

/* folder of a file path ("." when it has none) */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if(!slash) return xstrdup(".");
    if(slash == path) return xstrdup("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if(!d) return NULL;
    memcpy(d, path, n);
    d[n] = 0;
    return d;
}

/* base/rel unless rel is absolute */
static char *join(const char *base, const char *rel)
{
    if(rel[0] == '/' || !base || !strcmp(base, ".")) return xstrdup(rel);
    size_t n = strlen(base) + strlen(rel) + 2;
    char *p = malloc(n);
    if(p) snprintf(p, n, "%s%s%s", base, base[strlen(base) - 1] == '/' ? "" : "/", rel);
    return p;
}

int dataset_expand_pattern(const char *pattern, const char *id, char *out, size_t outlen)
{
    size_t o = 0;
    int subs = 0;
    const char *p;
    for(p = pattern; *p; ++p){
        const char *piece = NULL;
        char one[2] = {0, 0};
        if(*p == '%'){
            if(p[1] == 's'){ piece = id; ++subs; ++p; }
            else if(p[1] == '%'){ one[0] = '%'; piece = one; ++p; }
            else return -1;
        } else { one[0] = *p; piece = one; }
        size_t n = strlen(piece);
        if(o + n + 1 > outlen) return -1;
        memcpy(out + o, piece, n);
        o += n;
    }
    out[o] = 0;
    return subs == 1 ? 0 : -1;
}

static void free_list(case_list *l)
{
    int i;
    for(i = 0; i < l->n; ++i){
        dataset_case *c = &l->cases[i];
        free(c->name); free(c->image_path); free(c->label_path); free(c->image); free(c->label);
    }
    free(l->cases);
    free(l->list_path);
    memset(l, 0, sizeof(*l));
}

void dataset_free(dataset *ds)
{
    if(!ds) return;
    int s;
    for(s = 0; s < SPLIT_N; ++s) free_list(&ds->split[s]);
    free(ds->data_path); free(ds->root); free(ds->backup);
    free(ds->image_pattern); free(ds->label_pattern); free(ds->h5_image); free(ds->h5_label);
    if(ds->msd){ msd_free(ds->msd); free(ds->msd); }
    pthread_mutex_destroy(&ds->lock);
    free(ds);
}

/* Reads a case list and resolves each case's image and label paths. */
static int read_list(dataset *ds, case_list *l, const char *where, char *err, size_t errlen)
{
    FILE *f = fopen(l->list_path, "r");
    if(!f){ snprintf(err, errlen, "%s: list '%s': cannot open: %s", where, l->list_path, strerror(errno)); return -1; }
    char line[4096];
    int cap = 0, lineno = 0;
    while(fgets(line, sizeof(line), f)){
        ++lineno;
        if(!strchr(line, '\n') && !feof(f)){
            snprintf(err, errlen, "%s:%d: line too long", l->list_path, lineno); fclose(f); return -1;
        }
        char *s = trim(text_skip_bom(line, lineno));
        if(!*s || *s == '#') continue;
        if(strpbrk(s, " \t")){
            snprintf(err, errlen, "%s:%d: '%s': one case id per line (no spaces)", l->list_path, lineno, s); fclose(f); return -1;
        }
        if(l->n == cap){
            cap = cap ? 2 * cap : 64;
            dataset_case *nc = realloc(l->cases, cap * sizeof(*nc));
            if(!nc){ snprintf(err, errlen, "%s: out of memory", l->list_path); fclose(f); return -1; }
            l->cases = nc;
        }
        dataset_case *c = &l->cases[l->n];
        memset(c, 0, sizeof(*c));
        l->n++;
        char rel[4096];
        c->name = xstrdup(s);
        if(ds->msd){
            const msd_part *part = &ds->msd->tr;
            int at = msd_find(part, s);
            if(at < 0){ part = &ds->msd->ts; at = msd_find(part, s); }
            if(at < 0){
                snprintf(err, errlen, "%s:%d: case '%s' is in neither imagesTr nor imagesTs of %s", l->list_path, lineno, s, ds->msd->dir);
                fclose(f); return -1;
            }
            c->image_path = xstrdup(part->image[at]);
            c->label_path = xstrdup(part->label[at]);
            if(!c->name || !c->image_path || !c->label_path){ snprintf(err, errlen, "%s: out of memory", l->list_path); fclose(f); return -1; }
            continue;
        }
        if(dataset_expand_pattern(ds->image_pattern, s, rel, sizeof(rel))){
            snprintf(err, errlen, "%s:%d: case path too long", l->list_path, lineno); fclose(f); return -1;
        }
        c->image_path = join(ds->root, rel);
        if(dataset_expand_pattern(ds->label_pattern, s, rel, sizeof(rel))){
            snprintf(err, errlen, "%s:%d: case path too long", l->list_path, lineno); fclose(f); return -1;
        }
        c->label_path = join(ds->root, rel);
        if(!c->name || !c->image_path || !c->label_path){ snprintf(err, errlen, "%s: out of memory", l->list_path); fclose(f); return -1; }
    }
    fclose(f);
    if(l->n == 0){ snprintf(err, errlen, "%s: list '%s' holds no cases", where, l->list_path); return -1; }
    return 0;
}

enum { K_LABELED, K_UNLABELED, K_VALID, K_TEST, K_ROOT, K_IMAGE, K_LABEL, K_BACKUP, K_H5_IMAGE, K_H5_LABEL, K_LPB, K_MSD, K_N };
static const char *keys[K_N] = {"labeled", "unlabeled", "valid", "test", "root", "image", "label", "backup",
                                "h5_image", "h5_label", "labeled_per_batch", "msd"};

/* A split given as a part of an MSD / nnU-Net folder: every case of imagesTr or imagesTs. */
static int msd_split(dataset *ds, case_list *l, const char *part_name, const char *where, char *err, size_t errlen)
{
    const msd_part *part = !strcmp(part_name, "imagesTr") ? &ds->msd->tr : &ds->msd->ts;
    int i;
    size_t n = strlen(ds->msd->dir) + strlen(part_name) + 2;
    l->list_path = malloc(n);
    l->cases = calloc(part->n > 0 ? part->n : 1, sizeof(dataset_case));
    if(!l->list_path || !l->cases){ snprintf(err, errlen, "%s: out of memory", where); return -1; }
    snprintf(l->list_path, n, "%s/%s", ds->msd->dir, part_name);
    if(part->n == 0){ snprintf(err, errlen, "%s: %s holds no cases", where, l->list_path); return -1; }
    for(i = 0; i < part->n; ++i){
        dataset_case *c = &l->cases[l->n++];
        c->name = xstrdup(part->id[i]);
        c->image_path = xstrdup(part->image[i]);
        c->label_path = xstrdup(part->label[i]);
        if(!c->name || !c->image_path || !c->label_path){ snprintf(err, errlen, "%s: out of memory", where); return -1; }
    }
    return 0;
}

/* Reads the key = value lines of a .data file into val[] (each strdup'd) and the line of each into keyline[]. */
static int read_data_keys(const char *data_path, char **val, int *keyline, char *err, size_t errlen)
{
    FILE *f = fopen(data_path, "r");
    if(!f){ snprintf(err, errlen, "%s: cannot open: %s", data_path, strerror(errno)); return -1; }
    char line[4096];
    int lineno = 0, k, bad = 0;
    while(fgets(line, sizeof(line), f)){
        ++lineno;
        if(!strchr(line, '\n') && !feof(f)){ snprintf(err, errlen, "%s:%d: line too long", data_path, lineno); bad = 1; break; }
        char *s = trim(text_skip_bom(line, lineno));
        if(!*s || *s == '#' || *s == ';') continue;
        char *eq = strchr(s, '=');
        if(!eq){ snprintf(err, errlen, "%s:%d: expected 'key = value', got '%s'", data_path, lineno, s); bad = 1; break; }
        *eq = 0;
        char *key = trim(s), *v = trim(eq + 1);
        for(k = 0; k < K_N; ++k) if(!strcmp(key, keys[k])) break;
        if(k == K_N){
            snprintf(err, errlen, "%s:%d: unknown key '%s' (known: labeled unlabeled valid test root image label backup "
                     "h5_image h5_label labeled_per_batch msd)", data_path, lineno, key);
            bad = 1; break;
        }
        if(val[k]){ snprintf(err, errlen, "%s:%d: key '%s' given twice (first on line %d)", data_path, lineno, key, keyline[k]); bad = 1; break; }
        if(!*v){ snprintf(err, errlen, "%s:%d: key '%s': empty value", data_path, lineno, key); bad = 1; break; }
        val[k] = xstrdup(v);
        keyline[k] = lineno;
    }
    fclose(f);
    return bad ? -1 : 0;
}

/* The rules between keys: msd excludes the layout keys (and supplies image, label and labeled), the required keys are
 * there, and the image/label patterns each hold one %s. */
static int check_data_keys(const char *data_path, char **val, int *keyline, char *err, size_t errlen)
{
    static const int required[] = {K_LABELED, K_IMAGE, K_LABEL};
    static const int not_with_msd[] = {K_ROOT, K_IMAGE, K_LABEL, K_H5_IMAGE, K_H5_LABEL};
    char tmp[4096];
    int r;
    if(val[K_MSD]){
        for(r = 0; r < 5; ++r) if(val[not_with_msd[r]]){
            snprintf(err, errlen, "%s:%d: key '%s' does not go with 'msd' (line %d): the folder's layout names the files",
                     data_path, keyline[not_with_msd[r]], keys[not_with_msd[r]], keyline[K_MSD]);
            return -1;
        }
        val[K_IMAGE] = xstrdup("imagesTr/%s_0000.nii.gz");   /* informative: cases carry their own paths */
        val[K_LABEL] = xstrdup("labelsTr/%s.nii.gz");
        if(!val[K_LABELED]){ val[K_LABELED] = xstrdup("imagesTr"); keyline[K_LABELED] = keyline[K_MSD]; }
    }
    for(r = 0; r < 3; ++r) if(!val[required[r]]){
        snprintf(err, errlen, "%s: missing required key '%s'", data_path, keys[required[r]]); return -1;
    }
    if(dataset_expand_pattern(val[K_IMAGE], "x", tmp, sizeof(tmp))){
        snprintf(err, errlen, "%s:%d: key 'image': pattern '%s' must contain exactly one %%s (use %%%% for a literal %%)",
                 data_path, keyline[K_IMAGE], val[K_IMAGE]); return -1;
    }
    if(dataset_expand_pattern(val[K_LABEL], "x", tmp, sizeof(tmp))){
        snprintf(err, errlen, "%s:%d: key 'label': pattern '%s' must contain exactly one %%s (use %%%% for a literal %%)",
                 data_path, keyline[K_LABEL], val[K_LABEL]); return -1;
    }
    return 0;
}

/* labeled_per_batch and the MSD folder (when given) of the dataset of data_path, which lies in dir */
static int load_batch_and_msd(dataset *ds, const char *data_path, const char *dir, char **val, int *keyline, char *err, size_t errlen)
{
    if(val[K_LPB]){
        char *end;
        errno = 0;
        long n = strtol(val[K_LPB], &end, 10);
        if(errno || *end || n < 1 || n > 1 << 20){
            snprintf(err, errlen, "%s:%d: key 'labeled_per_batch': '%s' is not a positive integer", data_path, keyline[K_LPB], val[K_LPB]);
            return -1;
        }
        ds->labeled_per_batch = (int)n;
    }
    if(val[K_MSD]){
        char *mdir = join(dir, val[K_MSD]);
        ds->msd = calloc(1, sizeof(msd_set));
        if(!mdir || !ds->msd){ free(mdir); snprintf(err, errlen, "%s: out of memory", data_path); return -1; }
        char merr[1536];
        int mrc = msd_read(mdir, ds->msd, merr, sizeof(merr));
        free(mdir);
        if(mrc){ snprintf(err, errlen, "%s:%d: key 'msd': %s", data_path, keyline[K_MSD], merr); return -1; }
    }
    return 0;
}

/* the case lists of the splits given, each a list file (relative to dir) or an MSD part */
static int load_splits(dataset *ds, const char *data_path, const char *dir, char **val, int *keyline, char *err, size_t errlen)
{
    int s;
    for(s = 0; s < SPLIT_N; ++s){
        if(!val[s]) continue;   /* K_LABELED..K_TEST == SPLIT_LABELED..SPLIT_TEST */
        char where[4200];
        snprintf(where, sizeof(where), "%s:%d: key '%s'", data_path, keyline[s], keys[s]);
        if(ds->msd && (!strcmp(val[s], "imagesTr") || !strcmp(val[s], "imagesTs"))){
            if(msd_split(ds, &ds->split[s], val[s], where, err, errlen)) return -1;
            continue;
        }
        ds->split[s].list_path = join(dir, val[s]);
        if(read_list(ds, &ds->split[s], where, err, errlen)) return -1;
    }
    return 0;
}

dataset *dataset_load(const char *data_path, char *err, size_t errlen)
{
    char *val[K_N] = {0};
    int keyline[K_N] = {0};
    int k;
    dataset *ds = NULL;
    char *dir = NULL;
    if(read_data_keys(data_path, val, keyline, err, errlen)) goto fail;
    if(check_data_keys(data_path, val, keyline, err, errlen)) goto fail;
    ds = calloc(1, sizeof(*ds));
    dir = dir_of(data_path);
    if(!ds || !dir){ snprintf(err, errlen, "%s: out of memory", data_path); goto fail; }
    pthread_mutex_init(&ds->lock, NULL);
    ds->data_path = xstrdup(data_path);
    ds->root = join(dir, val[K_ROOT] ? val[K_ROOT] : ".");
    ds->backup = join(dir, val[K_BACKUP] ? val[K_BACKUP] : "backup");
    ds->image_pattern = xstrdup(val[K_IMAGE]);
    ds->label_pattern = xstrdup(val[K_LABEL]);
    ds->h5_image = xstrdup(val[K_H5_IMAGE] ? val[K_H5_IMAGE] : "image");
    ds->h5_label = xstrdup(val[K_H5_LABEL] ? val[K_H5_LABEL] : "label");
    if(load_batch_and_msd(ds, data_path, dir, val, keyline, err, errlen)) goto fail;
    if(load_splits(ds, data_path, dir, val, keyline, err, errlen)) goto fail;
    free(dir);
    for(k = 0; k < K_N; ++k) free(val[k]);
    return ds;
fail:
    free(dir);
    for(k = 0; k < K_N; ++k) free(val[k]);
    dataset_free(ds);
    return NULL;
}

int dataset_case_load(dataset *ds, dataset_case *c, int with_label, char *err, size_t errlen)
{
    pthread_mutex_lock(&ds->lock);
    int rc = 0;
    volume img = {0}, lab = {0};
    if(c->image && (!with_label || c->label)) goto done;
    if(!c->image){
        if(volume_read(c->image_path, ds->h5_image, &img, err, errlen)){ rc = -1; goto done; }
        intensity_apply(&ds->norm, &img);
    }
    if(with_label && !c->label){
        if(volume_read(c->label_path, ds->h5_label, &lab, err, errlen)){ rc = -1; goto done; }
        int nx = c->image ? c->nx : img.nx, ny = c->image ? c->ny : img.ny, nz = c->image ? c->nz : img.nz;
        if(volume_label_check(&lab, c->label_path, nx, ny, nz, c->image_path, err, errlen)){ rc = -1; goto done; }
        size_t n = (size_t)nx * ny * nz, i;
        uint8_t *l8 = malloc(n);
        if(!l8){ snprintf(err, errlen, "%s: out of memory", c->label_path); rc = -1; goto done; }
        for(i = 0; i < n; ++i) l8[i] = (uint8_t)lab.data[i];
        c->label = l8;
        ds->cache_bytes += n;
    }
    if(!c->image){
        c->nx = img.nx; c->ny = img.ny; c->nz = img.nz;
        c->dx = img.dx; c->dy = img.dy; c->dz = img.dz;
        c->image = img.data;
        img.data = NULL;
        ds->cache_bytes += (size_t)c->nx * c->ny * c->nz * sizeof(float);
    }
done:
    c->loaded = c->image != NULL && (!with_label || c->label != NULL);
    volume_free(&img);
    volume_free(&lab);
    pthread_mutex_unlock(&ds->lock);
    return rc;
}

int dataset_preload(dataset *ds, int split, char *err, size_t errlen)
{
    if(split < 0 || split >= SPLIT_N){ snprintf(err, errlen, "%s: bad split %d", ds->data_path, split); return -1; }
    case_list *l = &ds->split[split];
    int i;
    for(i = 0; i < l->n; ++i)
        if(dataset_case_load(ds, &l->cases[i], split != SPLIT_UNLABELED, err, errlen)) return -1;
    return 0;
}

void dataset_case_unload(dataset *ds, dataset_case *c)
{
    pthread_mutex_lock(&ds->lock);
    size_t n = (size_t)c->nx * c->ny * c->nz;
    if(c->image) ds->cache_bytes -= n * sizeof(float);
    if(c->label) ds->cache_bytes -= n;
    free(c->image); free(c->label);
    c->image = NULL; c->label = NULL; c->loaded = 0;
    pthread_mutex_unlock(&ds->lock);
}
