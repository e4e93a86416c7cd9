/* Reads Medical Segmentation Decathlon / nnU-Net raw data set folders: a small JSON reader for dataset.json and the case scan of imagesTr/labelsTr/imagesTs. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "msd.h"
#include "text_bom.h"

/* ---- JSON (RFC 8259 values; strings keep ASCII, other code points become '?') ---- */
enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };
typedef struct jv {
    int type;
    double num;
    char *s;
    int n;
    char **key;                /* J_OBJ: n keys */
    struct jv *v;              /* J_ARR / J_OBJ: n values */
} jv;

static void jv_free(jv *j)
{
    int i;
    if(!j) return;
    for(i = 0; i < j->n; ++i){ if(j->key) free(j->key[i]); jv_free(&j->v[i]); }
    free(j->key); free(j->v); free(j->s);
    memset(j, 0, sizeof(*j));
}

typedef struct { const char *p, *start; char *err; size_t errlen; const char *path; } jparser;

static int jfail(jparser *P, const char *what)
{
    snprintf(P->err, P->errlen, "%s: byte %ld: %s", P->path, (long)(P->p - P->start), what);
    return -1;
}

static void jws(jparser *P) { while(*P->p == ' ' || *P->p == '\t' || *P->p == '\n' || *P->p == '\r') ++P->p; }

static int jstring(jparser *P, char **out)
{
    if(*P->p != '"') return jfail(P, "expected a string");
    ++P->p;
    size_t cap = 16, n = 0;
    char *s = malloc(cap);
    if(!s) return jfail(P, "out of memory");
    while(*P->p != '"'){
        char c = *P->p;
        if(!c || (unsigned char)c < 0x20){ free(s); return jfail(P, "unterminated string"); }
        if(c == '\\'){
            ++P->p;
            switch(*P->p){
            case '"': c = '"'; break;   case '\\': c = '\\'; break; case '/': c = '/'; break;
            case 'b': c = '\b'; break;  case 'f': c = '\f'; break;  case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;  case 't': c = '\t'; break;
            case 'u': {
                int k;
                unsigned code = 0;
                for(k = 1; k <= 4; ++k){
                    char h = P->p[k];
                    int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                    if(d < 0){ free(s); return jfail(P, "bad \\u escape"); }
                    code = code * 16 + (unsigned)d;
                }
                P->p += 4;
                c = code < 0x80 ? (char)code : '?';
                break;
            }
            default: free(s); return jfail(P, "bad escape in string");
            }
        }
        if(n + 2 > cap){
            char *t = realloc(s, cap *= 2);
            if(!t){ free(s); return jfail(P, "out of memory"); }
            s = t;
        }
        s[n++] = c;
        ++P->p;
    }
    ++P->p;
    s[n] = 0;
    *out = s;
    return 0;
}

static int jvalue(jparser *P, jv *out, int depth)
{
    memset(out, 0, sizeof(*out));
    if(depth > 64) return jfail(P, "nested too deeply");
    jws(P);
    char c = *P->p;
    if(c == '"'){ out->type = J_STR; return jstring(P, &out->s); }
    if(c == '{' || c == '['){
        int obj = c == '{';
        out->type = obj ? J_OBJ : J_ARR;
        ++P->p;
        jws(P);
        if(*P->p == (obj ? '}' : ']')){ ++P->p; return 0; }
        int cap = 0;
        for(;;){
            if(out->n == cap){
                cap = cap ? 2 * cap : 8;
                jv *nv = realloc(out->v, cap * sizeof(jv));
                if(nv) out->v = nv;
                char **nk = obj ? realloc(out->key, cap * sizeof(char *)) : NULL;
                if(obj && nk) out->key = nk;
                if(!nv || (obj && !nk)) return jfail(P, "out of memory");
            }
            if(obj){
                jws(P);
                if(jstring(P, &out->key[out->n])) return -1;
                jws(P);
                if(*P->p != ':'){ free(out->key[out->n]); return jfail(P, "expected ':'"); }
                ++P->p;
            }
            int rc = jvalue(P, &out->v[out->n], depth + 1);
            out->n++;      /* counted even on error so that jv_free releases it */
            if(rc) return -1;
            jws(P);
            if(*P->p == ','){ ++P->p; continue; }
            if(*P->p == (obj ? '}' : ']')){ ++P->p; return 0; }
            return jfail(P, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    if(!strncmp(P->p, "true", 4) || !strncmp(P->p, "null", 4)){ out->type = c == 't' ? J_BOOL : J_NULL; out->num = c == 't'; P->p += 4; return 0; }
    if(!strncmp(P->p, "false", 5)){ out->type = J_BOOL; P->p += 5; return 0; }
    if(c == '-' || (c >= '0' && c <= '9')){
        char *end;
        out->type = J_NUM;
        out->num = strtod(P->p, &end);
        if(end == P->p) return jfail(P, "bad number");
        P->p = end;
        return 0;
    }
    return jfail(P, "expected a JSON value");
}

static const jv *jget(const jv *o, const char *key)
{
    int i;
    if(!o || o->type != J_OBJ) return NULL;
    for(i = 0; i < o->n; ++i) if(!strcmp(o->key[i], key)) return &o->v[i];
    return NULL;
}

/* ---- the folder ---- */
static char *cat3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    if(s) snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

static int exists(const char *path) { struct stat st; return stat(path, &st) == 0 && S_ISREG(st.st_mode); }

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* length of a "_NNNN" channel suffix at the end of stem (0 when there is none) */
static int channel_suffix(const char *stem, size_t n)
{
    if(n < 6 || stem[n - 5] != '_') return 0;
    size_t i;
    for(i = n - 4; i < n; ++i) if(stem[i] < '0' || stem[i] > '9') return 0;
    return 5;
}

static void part_free(msd_part *p)
{
    int i;
    for(i = 0; i < p->n; ++i){ free(p->id[i]); free(p->image[i]); free(p->label[i]); }
    free(p->id); free(p->image); free(p->label);
    memset(p, 0, sizeof(*p));
}

void msd_free(msd_set *m)
{
    if(!m) return;
    part_free(&m->tr); part_free(&m->ts);
    free(m->dir); free(m->file_ending);
    memset(m, 0, sizeof(*m));
}

int msd_find(const msd_part *p, const char *id)
{
    int i;
    for(i = 0; i < p->n; ++i) if(!strcmp(p->id[i], id)) return i;
    return -1;
}

/* appends a case (takes ownership of the three strings) */
static int part_add(msd_part *p, char *id, char *image, char *label)
{
    char **a = realloc(p->id, (p->n + 1) * sizeof(char *)), **b = a ? realloc(p->image, (p->n + 1) * sizeof(char *)) : NULL;
    if(a) p->id = a;
    if(b) p->image = b;
    char **c = b ? realloc(p->label, (p->n + 1) * sizeof(char *)) : NULL;
    if(c) p->label = c;
    if(!a || !b || !c || !id || !image || !label){ free(id); free(image); free(label); return -1; }
    p->id[p->n] = id; p->image[p->n] = image; p->label[p->n] = label;
    p->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* sorted names in dir/sub ending in `ending`; *n = -1 when the folder is absent */
static char **scan(const char *dir, const char *sub, const char *ending, int *n, char *err, size_t errlen)
{
    char *path = cat3(dir, "/", sub);
    *n = 0;
    if(!path){ snprintf(err, errlen, "%s: out of memory", dir); return NULL; }
    DIR *d = opendir(path);
    if(!d){ *n = -1; free(path); return NULL; }
    char **names = NULL;
    int cap = 0;
    struct dirent *e;
    while((e = readdir(d))){
        if(e->d_name[0] == '.' || !ends_with(e->d_name, ending)) continue;
        if(*n == cap){
            cap = cap ? 2 * cap : 64;
            char **t = realloc(names, cap * sizeof(char *));
            if(!t) break;
            names = t;
        }
        if(!(names[*n] = strdup(e->d_name))) break;
        ++*n;
    }
    closedir(d);
    free(path);
    if(*n) qsort(names, *n, sizeof(char *), cmp_str);
    return names;
}

static void free_names(char **names, int n) { int i; for(i = 0; i < n; ++i) free(names[i]); free(names); }

/* the image of training case id: imagesTr/<id>_0000<ending>, else `fallback` (dataset.json's entry) when it exists */
static char *train_image(const msd_set *m, const char *id, const char *fallback, char *err, size_t errlen)
{
    char *rel = cat3("imagesTr/", id, "_0000"), *withc = rel ? cat3(m->dir, "/", rel) : NULL, *p = withc ? cat3(withc, m->file_ending, "") : NULL;
    free(rel); free(withc);
    if(!p){ snprintf(err, errlen, "%s: out of memory", m->dir); return NULL; }
    char *second = cat3(p, "", "");
    if(!second){ snprintf(err, errlen, "%s: out of memory", m->dir); free(p); return NULL; }
    memcpy(second + strlen(second) - strlen(m->file_ending) - 5, "_0001", 5);
    int multi = exists(second);
    free(second);
    if(multi){ snprintf(err, errlen, "%s: a second channel exists: multi-channel data sets are not supported (one input channel)", p); free(p); return NULL; }
    if(exists(p)) return p;
    if(fallback && exists(fallback)){ free(p); return strdup(fallback); }
    snprintf(err, errlen, "%s/dataset.json: training case '%s': no image %s%s%s", m->dir, id, p, fallback ? " nor " : "", fallback ? fallback : "");
    free(p);
    return NULL;
}

/* "./labelsTr/x.nii.gz" -> "<dir>/labelsTr/x.nii.gz" */
static char *entry_path(const msd_set *m, const char *rel)
{
    if(rel[0] == '/') return strdup(rel);
    if(rel[0] == '.' && rel[1] == '/') rel += 2;
    return cat3(m->dir, "/", rel);
}

static int read_json(const char *path, jv *root, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if(!f){ snprintf(err, errlen, "%s: cannot open: %s (an MSD / nnU-Net raw folder holds dataset.json)", path, strerror(errno)); return -1; }
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap + 1);
    while(buf && (r = fread(buf + n, 1, cap - n, f)) > 0){
        n += r;
        if(n == cap){
            char *t = cap < (64u << 20) ? realloc(buf, 2 * cap + 1) : NULL;
            if(!t){ free(buf); buf = NULL; break; }
            buf = t; cap *= 2;
        }
    }
    fclose(f);
    if(!buf){ snprintf(err, errlen, "%s: out of memory or larger than 64 MiB", path); return -1; }
    buf[n] = 0;
    if(strlen(buf) != n){ free(buf); snprintf(err, errlen, "%s: holds a NUL byte: not JSON", path); return -1; }
    char *text = text_skip_bom(buf, 1);   /* a byte-order mark is skipped, as in the other text inputs */
    jparser P = {text, text, err, errlen, path};
    int rc = jvalue(&P, root, 0);
    if(!rc){ jws(&P); if(*P.p) rc = jfail(&P, "text after the JSON value"); }
    if(!rc && root->type != J_OBJ){ snprintf(err, errlen, "%s: the top level is not a JSON object", path); rc = -1; }
    free(buf);
    if(rc) jv_free(root);
    return rc;
}

/* What dataset.json must say: one input channel and two labels (background and one structure), none a region. */
static int msd_check_task(const char *json, const jv *root, char *err, size_t errlen)
{
    int i;
    const jv *ch = jget(root, "channel_names") ? jget(root, "channel_names") : jget(root, "modality");
    if(ch && ch->type != J_OBJ){
        snprintf(err, errlen, "%s: '%s' is not an object: it maps channel numbers to names, as {\"0\": \"CT\"}", json,
                 jget(root, "channel_names") ? "channel_names" : "modality");
        return -1;
    }
    if(ch && ch->n > 1){
        snprintf(err, errlen, "%s: %d input channels ('%s' lists %s, ...): multi-channel data sets are not supported yet (one input channel)",
                 json, ch->n, jget(root, "channel_names") ? "channel_names" : "modality", ch->v[0].type == J_STR ? ch->v[0].s : ch->key[0]);
        return -1;
    }
    const jv *labels = jget(root, "labels");
    if(!labels || labels->type != J_OBJ){ snprintf(err, errlen, "%s: no \"labels\" object", json); return -1; }
    for(i = 0; i < labels->n; ++i) if(labels->v[i].type != J_STR && labels->v[i].type != J_NUM){
        snprintf(err, errlen, "%s: label '%s' is a region (a list of values): region-based data sets are not supported", json, labels->key[i]);
        return -1;
    }
    if(labels->n != 2){
        snprintf(err, errlen, "%s: \"labels\" has %d entries: only binary tasks (background and one structure) are supported "
                 "until multi-class heads exist", json, labels->n);
        return -1;
    }
    return 0;
}

/* the training cases that dataset.json's "training" array lists */
static int msd_training_listed(msd_set *m, const char *json, const jv *tr, char *err, size_t errlen)
{
    int i;
    for(i = 0; i < tr->n; ++i){
        const jv *im = jget(&tr->v[i], "image"), *lb = jget(&tr->v[i], "label");
        if(!im || !lb || im->type != J_STR || lb->type != J_STR){
            snprintf(err, errlen, "%s: \"training\" entry %d has no \"image\" and \"label\" strings", json, i); return -1;
        }
        const char *base = strrchr(lb->s, '/') ? strrchr(lb->s, '/') + 1 : lb->s;
        const char *ending = ends_with(base, m->file_ending) ? m->file_ending : ends_with(base, ".nii.gz") ? ".nii.gz" : ends_with(base, ".nii") ? ".nii" : NULL;
        if(!ending){ snprintf(err, errlen, "%s: \"training\" entry %d: label '%s' does not end in %s", json, i, lb->s, m->file_ending); return -1; }
        char *id = strndup(base, strlen(base) - strlen(ending));
        char *fallback = entry_path(m, im->s), *label = entry_path(m, lb->s);
        char *image = id && fallback ? train_image(m, id, fallback, err, errlen) : NULL;
        free(fallback);
        if(!image){ free(id); free(label); if(!id) snprintf(err, errlen, "%s: out of memory", json); return -1; }
        if(!exists(label)){ snprintf(err, errlen, "%s: training case '%s': no label file %s", json, id, label); free(id); free(image); free(label); return -1; }
        if(part_add(&m->tr, id, image, label)){ snprintf(err, errlen, "%s: out of memory", json); return -1; }
    }
    return 0;
}

/* without a "training" array: one training case per label file in labelsTr */
static int msd_training_scanned(msd_set *m, const char *dir, const char *json, char *err, size_t errlen)
{
    int nn = 0, i, rc = 0;
    char **names = scan(dir, "labelsTr", m->file_ending, &nn, err, errlen);
    if(nn < 0){ snprintf(err, errlen, "%s/labelsTr: cannot open: %s", dir, strerror(errno)); return -1; }
    for(i = 0; i < nn && rc == 0; ++i){
        char *id = strndup(names[i], strlen(names[i]) - strlen(m->file_ending));
        char *label = cat3(dir, "/labelsTr/", names[i]);
        char *image = id ? train_image(m, id, NULL, err, errlen) : NULL;
        if(!image){ free(id); free(label); rc = -1; break; }
        if(part_add(&m->tr, id, image, label)){ snprintf(err, errlen, "%s: out of memory", json); rc = -1; }
    }
    free_names(names, nn);
    return rc;
}

/* the test cases: channel 0 of each image in imagesTs, with its label in labelsTs when there is one */
static int msd_test_scanned(msd_set *m, const char *dir, const char *json, char *err, size_t errlen)
{
    int nn = 0, i, rc = 0;
    char **names = scan(dir, "imagesTs", m->file_ending, &nn, err, errlen);
    if(nn < 0) nn = 0;
    for(i = 0; i < nn; ++i){
        size_t stem = strlen(names[i]) - strlen(m->file_ending);
        int sfx = channel_suffix(names[i], stem);
        if(sfx && strncmp(names[i] + stem - 5, "_0000", 5)) continue;   /* other channels were refused above */
        char *id = strndup(names[i], stem - sfx);
        char *image = cat3(dir, "/imagesTs/", names[i]);
        char *lrel = id ? cat3("/labelsTs/", id, m->file_ending) : NULL;
        char *label = lrel ? cat3(dir, lrel, "") : NULL;
        free(lrel);
        if(part_add(&m->ts, id, image, label)){ snprintf(err, errlen, "%s: out of memory", json); rc = -1; break; }
    }
    free_names(names, nn);
    return rc;
}

int msd_read(const char *dir, msd_set *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    jv root = {0};
    m->dir = strdup(dir);
    char *json = cat3(dir, "/", "dataset.json");
    if(!m->dir || !json){ snprintf(err, errlen, "%s: out of memory", dir); goto fail; }
    if(read_json(json, &root, err, errlen)) goto fail;
    if(msd_check_task(json, &root, err, errlen)) goto fail;
    const jv *fe = jget(&root, "file_ending");
    m->file_ending = strdup(fe && fe->type == J_STR && fe->s[0] ? fe->s : ".nii.gz");
    if(!m->file_ending){ snprintf(err, errlen, "%s: out of memory", json); goto fail; }
    const jv *tr = jget(&root, "training");
    if(tr && tr->type == J_ARR ? msd_training_listed(m, json, tr, err, errlen) : msd_training_scanned(m, dir, json, err, errlen)) goto fail;
    if(m->tr.n == 0){ snprintf(err, errlen, "%s: no training cases (neither \"training\" entries nor label files in labelsTr)", json); goto fail; }
    if(msd_test_scanned(m, dir, json, err, errlen)) goto fail;
    free(json);
    jv_free(&root);
    return 0;
fail:
    free(json);
    jv_free(&root);
    msd_free(m);
    return -1;
}
