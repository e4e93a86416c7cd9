/* Checks of the stock Darknet sections a darknet3d cfg uses ([net], [route], [shortcut], [dropout]) before and after Darknet parses them, so bad values give an error naming file:line and key instead of a crash. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cfg_check.h"
#include "cfg_keys.h"
#include "cfg_options.h"
#include "text_bom.h"

typedef struct { char *key, *val; int line; } kv;
typedef struct { char *type; int line; int n, cap; kv *opt; } sect;
typedef struct { int n, cap; sect *s; int bad_line; char bad[128]; } cfgtext; /* bad_line: first line without '=' */

static void cfgtext_free(cfgtext *t)
{
    int i, j;
    for(i = 0; i < t->n; ++i){
        for(j = 0; j < t->s[i].n; ++j){ free(t->s[i].opt[j].key); free(t->s[i].opt[j].val); }
        free(t->s[i].opt);
        free(t->s[i].type);
    }
    free(t->s);
    memset(t, 0, sizeof(*t));
}

/* Reads the file the way Darknet's read_cfg does (white space removed, '#'/';' comments, key=value at the
 * first '='); lines Darknet would reject are skipped: parse_network_cfg_err reports them. */
static int cfgtext_read(const char *path, cfgtext *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    FILE *f = fopen(path, "r");
    if(!f){ snprintf(err, errlen, "%s: cannot open config file", path); return -1; }
    char *line = 0;
    size_t cap = 0;
    ssize_t got;
    int nu = 0;
    while((got = getline(&line, &cap, f)) >= 0){
        ++nu;
        size_t i, o = 0, len = (size_t)got;
        size_t from = (size_t)(text_skip_bom(line, nu) - line);
        if(memchr(line, 0, len)){
            /* a NUL byte: not a text cfg, and Darknet's fgetl reads before the start of a line whose strlen is 0 */
            snprintf(err, errlen, "%s:%d: a NUL byte (binary data, not a text cfg)", path, nu);
            free(line);
            fclose(f);
            cfgtext_free(t);
            return -1;
        }
        for(i = from; i < len; ++i){
            char c = line[i];
            if(c == '\r' && i + 1 < len && line[i + 1] != '\n'){
                /* Darknet keeps it as part of the key or value: the key this check sees would not be Darknet's */
                snprintf(err, errlen, "%s:%d: a carriage return inside the line", path, nu);
                free(line);
                fclose(f);
                cfgtext_free(t);
                return -1;
            }
            if(c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
            line[o++] = c;
        }
        line[o] = 0;
        if(line[0] == '['){
            if(t->n == t->cap){
                t->cap = t->cap ? 2 * t->cap : 16;
                t->s = realloc(t->s, t->cap * sizeof(sect));
            }
            sect *s = &t->s[t->n++];
            memset(s, 0, sizeof(*s));
            s->type = strdup(line);
            s->line = nu;
        } else if(line[0] && line[0] != '#' && line[0] != ';' && t->n > 0){
            char *eq = strchr(line, '=');
            if(!eq){
                /* Darknet's read_option keeps such a line as a key without value: a typo then reads as a missing key */
                if(!t->bad_line){ t->bad_line = nu; snprintf(t->bad, sizeof(t->bad), "%s", line); }
                continue;
            }
            *eq = 0;
            sect *s = &t->s[t->n - 1];
            if(s->n == s->cap){
                s->cap = s->cap ? 2 * s->cap : 8;
                s->opt = realloc(s->opt, s->cap * sizeof(kv));
            }
            s->opt[s->n].key = strdup(line);
            s->opt[s->n].val = strdup(eq + 1);
            s->opt[s->n].line = nu;
            s->n++;
        }
    }
    free(line);
    fclose(f);
    return 0;
}

/* first value of key, as Darknet's option_find returns it */
static kv *opt(sect *s, const char *key)
{
    int i;
    for(i = 0; i < s->n; ++i) if(strcmp(s->opt[i].key, key) == 0) return &s->opt[i];
    return 0;
}

static int parse_long(const char *v, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if(end == v || *end || errno) return -1;
    *out = x;
    return 0;
}

static int parse_double(const char *v, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    /* a value below the smallest double reads as 0, as Darknet's atof gives it; overflow is refused */
    if(end == v || *end || (errno && !(errno == ERANGE && fabs(x) < 1)) || !isfinite(x)) return -1;
    *out = x;
    return 0;
}

/* prefix of every message: file:line: [section] (layer N): */
static int where(char *err, size_t errlen, const char *cfg, sect *s, kv *o, int layer)
{
    if(layer >= 0) return snprintf(err, errlen, "%s:%d: %s (layer %d): ", cfg, o ? o->line : s->line, s->type, layer);
    return snprintf(err, errlen, "%s:%d: %s: ", cfg, o ? o->line : s->line, s->type);
}

#define FAIL(o, ...) do { int n_ = where(err, errlen, cfg, s, (o), layer); \
    if(n_ >= 0 && (size_t)n_ < errlen) snprintf(err + n_, errlen - n_, __VA_ARGS__); \
    return -1; } while(0)

static int check_int(const char *cfg, sect *s, int layer, const char *key, long def, long *out, char *err, size_t errlen)
{
    kv *o = opt(s, key);
    long x = def;
    const cfg_key *k = cfg_key_find(s->type, key);
    double lo = k ? k->lo : 0, hi = k ? k->hi : 0;
    if(o){
        if(parse_long(o->val, &x)) FAIL(o, "key '%s': expected an integer, got '%s'", key, o->val);
        if(x < lo || x > hi) FAIL(o, "key '%s': %ld is out of range [%.0f, %.0f]", key, x, lo, hi);
    }
    if(out) *out = x;
    return 0;
}

static int check_float(const char *cfg, sect *s, int layer, const char *key, char *err, size_t errlen)
{
    kv *o = opt(s, key);
    double x;
    const cfg_key *k = cfg_key_find(s->type, key);
    double lo = k ? k->lo : 0, hi = k ? k->hi : 0;
    if(!o) return 0;
    if(parse_double(o->val, &x)) FAIL(o, "key '%s': expected a finite number, got '%s'", key, o->val);
    if(x < lo || x > hi) FAIL(o, "key '%s': %g is out of range [%g, %g]", key, x, lo, hi);
    return 0;
}

/* three integers 'D,H,W', each in the key's range (K_INT3) */
static int check_int3(const char *cfg, sect *s, int layer, const cfg_key *k, kv *o, char *err, size_t errlen)
{
    int v[3];
    if(cfg_int3_value(k, o->val, v))
        FAIL(o, "key '%s': expected three integers 'D,H,W' (z,y,x), each in [%.0f, %.0f], got '%s'", o->key, k->lo, k->hi, o->val);
    return 0;
}

/* a word among choices (cfg_choice_of's rule and message), prefixed with file:line: [section] */
static int check_choice(const char *cfg, sect *s, int layer, kv *o, const char **choices, char *err, size_t errlen)
{
    int i, n = where(err, errlen, cfg, s, o, layer);
    if(n < 0 || (size_t)n >= errlen) n = 0;
    return cfg_choice_of(o->key, o->val, choices, &i, err + n, errlen - n);
}

/* comma-separated list of numbers (integers when ints != 0); count in *n */
static int check_list(const char *cfg, sect *s, int layer, kv *o, int ints, int *n, char *err, size_t errlen)
{
    const char *p = o->val;
    int count = 0;
    for(;;){
        char *end;
        errno = 0;
        if(ints) (void)strtol(p, &end, 10); else (void)strtod(p, &end);
        if(end == p || errno) FAIL(o, "key '%s': expected comma-separated %s, got '%s'", o->key, ints ? "integers" : "numbers", o->val);
        ++count;
        if(*end == 0) break;
        if(*end != ',') FAIL(o, "key '%s': expected comma-separated %s, got '%s'", o->key, ints ? "integers" : "numbers", o->val);
        p = end + 1;
    }
    *n = count;
    return 0;
}

/* policy=steps: 'steps' non-decreasing integers, each -1 or in the range of [net] step (Darknet's own cfgs start with
 * -1, a scale applied from the first batch), 'scales' numbers in the range of [net] scale, one scale per step
 * (Darknet multiplies the rate by scales[i] once the batch reaches steps[i]) */
static int check_steps(const char *cfg, sect *s, kv *st, kv *sc, char *err, size_t errlen)
{
    const int layer = -1;
    const cfg_key *ks = cfg_key_find("[net]", "step"), *kc = cfg_key_find("[net]", "scale");
    int nst, nsc, i;
    if(check_list(cfg, s, layer, st, 1, &nst, err, errlen) || check_list(cfg, s, layer, sc, 0, &nsc, err, errlen)) return -1;
    if(nst != nsc) FAIL(sc, "key 'scales': %d values for %d steps (one scale per step)", nsc, nst);
    const char *p = st->val, *q = sc->val;
    long prev = 0;
    for(i = 0; i < nst; ++i){
        char *e1, *e2;
        errno = 0;
        long x = strtol(p, &e1, 10);
        if(errno || (x != -1 && (x < ks->lo || x > ks->hi)))
            FAIL(st, "key 'steps': step %d is '%.*s', not -1 or an integer in [%.0f, %.0f]", i + 1, (int)strcspn(p, ","), p, ks->lo, ks->hi);
        if(i > 0 && x < prev) FAIL(st, "key 'steps': %ld after %ld: the steps must be in increasing order", x, prev);
        double y = strtod(q, &e2);
        if(!isfinite(y) || y < kc->lo || y > kc->hi) FAIL(sc, "key 'scales': scale %d is '%.*s', not a number in [%g, %g]", i + 1, (int)strcspn(q, ","), q, kc->lo, kc->hi);
        prev = x;
        p = e1 + 1;
        q = e2 + 1;
    }
    return 0;
}

static int check_net(const char *cfg, sect *s, char *err, size_t errlen)
{
    const int layer = -1;
    long batch, subdiv, h, w, c, d, ts;
    ts = 1;
    if(check_int(cfg, s, layer, "batch", 1, &batch, err, errlen)) return -1;
    if(check_int(cfg, s, layer, "subdivisions", 1, &subdiv, err, errlen)) return -1;
    if(batch % subdiv) FAIL(opt(s, "subdivisions"), "key 'subdivisions': batch %ld is not a multiple of subdivisions %ld", batch, subdiv);
    if(check_int(cfg, s, layer, "height", 0, &h, err, errlen)) return -1;
    if(check_int(cfg, s, layer, "width", 0, &w, err, errlen)) return -1;
    if(check_int(cfg, s, layer, "channels", 0, &c, err, errlen)) return -1;
    if(check_int(cfg, s, layer, "depth", 1, &d, err, errlen)) return -1;

    if((double)h * w * c * d * (batch / subdiv) * ts > (double)INT_MAX)
        FAIL(opt(s, "height"), "input of batch x channels x depth x height x width = %ld x %ld x %ld x %ld x %ld is too large (more than %d values)",
             batch / subdiv * ts, c, d, h, w, INT_MAX);
    static const char *norms[] = {"none", "zscore", "ctwindow", 0}, *precs[] = {"fp32", "tf32", "fp16", "bf16", 0};
    kv *nz = opt(s, "normalize"), *pr = opt(s, "precision");
    if(nz && check_choice(cfg, s, layer, nz, norms, err, errlen)) return -1;
    if(pr && check_choice(cfg, s, layer, pr, precs, err, errlen)) return -1;
    kv *p = opt(s, "policy");
    if(p){
        static const char *pol[] = {"constant", "step", "exp", "poly", "steps", "sig", "random", 0};
        if(check_choice(cfg, s, layer, p, pol, err, errlen)) return -1;
        if(strcmp(p->val, "steps") == 0){
            kv *st = opt(s, "steps"), *sc = opt(s, "scales");
            if(!st || !sc) FAIL(p, "key 'policy': policy=steps needs the keys 'steps' and 'scales'");
            if(check_steps(cfg, s, st, sc, err, errlen)) return -1;
        }
    }
    return 0;
}

/* layer indices of [route] layers= / [shortcut] from=: integers, negative = relative, each an earlier layer */
static int check_indices(const char *cfg, sect *s, int layer, const char *key, int maxn, char *err, size_t errlen)
{
    kv *o = opt(s, key);
    int n, i;
    if(!o) FAIL(0, "missing required key '%s'", key);
    if(check_list(cfg, s, layer, o, 1, &n, err, errlen)) return -1;
    if(n > maxn) FAIL(o, "key '%s': %s takes %s, got '%s'", key, s->type, maxn == 1 ? "one layer" : "at most 64 layers", o->val);
    const char *p = o->val;
    for(i = 0; i < n; ++i){
        char *end;
        long x = strtol(p, &end, 10);
        long a = x < 0 ? layer + x : x;
        if(a < 0 || a >= layer)
            FAIL(o, "key '%s': layer %ld resolves to %ld, which is not an earlier layer (this is layer %d)", key, x, a, layer);
        p = end + 1;
    }
    return 0;
}

/* a key given a second time in a section: Darknet would take the first silently, so every section refuses it */
static int check_duplicates(const char *cfg, sect *s, int layer, char *err, size_t errlen)
{
    int i, j;
    for(j = 1; j < s->n; ++j)
        for(i = 0; i < j; ++i)
            if(!strcmp(s->opt[i].key, s->opt[j].key))
                FAIL(&s->opt[j], "key '%s' given twice (first on line %d)", s->opt[j].key, s->opt[i].line);
    return 0;
}

/* 'key=' with nothing after it: Darknet's read_option drops such a line, and the key would then read as missing */
static int check_empty_values(const char *cfg, sect *s, int layer, char *err, size_t errlen)
{
    int j;
    for(j = 0; j < s->n; ++j) if(!s->opt[j].val[0]) FAIL(&s->opt[j], "key '%s': no value after '='", s->opt[j].key);
    return 0;
}

/* a section the table describes: [net], the stock sections and ours (a section registered elsewhere is left to the parser) */
static int described(const char *type)
{
    int i;
    for(i = 0; i < cfg_nkeys; ++i) if(!strcmp(cfg_keys[i].where, type)) return 1;
    return 0;
}

/* every key of a described section has a row in core/cfg_keys.def; numeric values of the stock sections and the
 * generic layer keys lie in its range (our sections' readers check theirs with the same rows) */
static int check_keys(const char *cfg, sect *s, int layer, char *err, size_t errlen)
{
    static const char *stock[] = {"[net]", "[network]", "[route]", "[shortcut]", "[short]", "[dropout]", 0};
    const char *type = strcmp(s->type, "[network]") == 0 ? "[net]" : (strcmp(s->type, "[short]") == 0 ? "[shortcut]" : s->type);
    int j, is_stock = 0;
    if(!described(type)) return 0;
    for(j = 0; stock[j]; ++j) if(!strcmp(stock[j], s->type)) is_stock = 1;
    for(j = 0; j < s->n; ++j){
        kv *o = &s->opt[j];
        const cfg_key *k = cfg_key_find(s->type, o->key);
        if(!k && cfg_key_moved(type, o->key)) FAIL(o, "key '%s': %s", o->key, cfg_key_moved(type, o->key));
        if(!k) FAIL(o, "unknown key '%s' (the keys a section accepts are listed by ./darknet seg3d keys)", o->key);
        if(!is_stock && strcmp(k->where, "*")) continue;
        if(k->kind == K_INT && check_int(cfg, s, layer, o->key, 0, 0, err, errlen)) return -1;
        if(k->kind == K_FLOAT && check_float(cfg, s, layer, o->key, err, errlen)) return -1;
        if(k->kind == K_INT3 && check_int3(cfg, s, layer, k, o, err, errlen)) return -1;
    }
    return 0;
}

/* [dbisl] reads its truth from the batch Darknet sizes by the last layer's outputs (src/loader.c packs a label volume
 * there), so it must be the network's last section */
static int check_dbisl_last(const char *cfg, const cfgtext *t, char *err, size_t errlen)
{
    int i;
    for(i = 1; i + 1 < t->n; ++i){
        sect *s = &t->s[i];
        int layer = i - 1;
        if(strcmp(s->type, "[dbisl]") == 0)
            FAIL(0, "[dbisl] must be the last section (the loss reads the labels from the batch the last layer sizes); "
                 "%s on line %d follows it", t->s[i + 1].type, t->s[i + 1].line);
    }
    return 0;
}

/* 1 when the cfg has a section of this type ("[dbisl]"), 0 when not, -1 when it cannot be read */
int cfg_has_section(const char *cfg, const char *type)
{
    cfgtext t;
    char err[256];
    int i, found = 0;
    if(cfgtext_read(cfg, &t, err, sizeof(err))) return -1;
    for(i = 0; i < t.n && !found; ++i) found = strcmp(t.s[i].type, type) == 0;
    cfgtext_free(&t);
    return found;
}

int cfg_precheck(const char *cfg, char *err, size_t errlen)
{
    cfgtext t;
    if(cfgtext_read(cfg, &t, err, errlen)) return -1;
    int i, rc = 0;
    if(t.bad_line){
        for(i = 0; i + 1 < t.n && t.s[i + 1].line < t.bad_line; ++i);
        snprintf(err, errlen, "%s:%d: %s: expected 'key=value', got '%s'", cfg, t.bad_line, t.n ? t.s[i].type : "", t.bad);
        rc = -1;
    }
    if(!rc) rc = check_dbisl_last(cfg, &t, err, errlen);
    for(i = 0; i < t.n && !rc; ++i){
        sect *s = &t.s[i];
        int layer = i - 1;
        if(i == 0 && strcmp(s->type, "[net]") && strcmp(s->type, "[network]")) break; /* the parser reports it */
        rc = check_duplicates(cfg, s, layer, err, errlen) || check_empty_values(cfg, s, layer, err, errlen) ? -1 : check_keys(cfg, s, layer, err, errlen);
        if(rc) break;
        if(i == 0){
            if(strcmp(s->type, "[net]") == 0 || strcmp(s->type, "[network]") == 0) rc = check_net(cfg, s, err, errlen);
            else break; /* the parser reports it */
        } else if(strcmp(s->type, "[route]") == 0){
            rc = check_indices(cfg, s, layer, "layers", 64, err, errlen);
        } else if(strcmp(s->type, "[shortcut]") == 0 || strcmp(s->type, "[short]") == 0){
            rc = check_indices(cfg, s, layer, "from", 1, err, errlen);
            kv *a = opt(s, "activation");   /* Darknet would take ReLU in place of a name it lacks, with a notice */
            if(!rc && a) rc = check_choice(cfg, s, layer, a, cfg_activation_names, err, errlen);

        } else if(strcmp(s->type, "[dropout]") == 0){
            if(layer == 0){
                where(err, errlen, cfg, s, 0, layer);
                snprintf(err + strlen(err), errlen - strlen(err), "[dropout] cannot be the first layer (it works in place on the previous layer's output)");
                rc = -1;
            }
        }
    }
    cfgtext_free(&t);
    return rc;
}

void cfg_error_key_line(const char *cfg, char *err, size_t errlen)
{
    size_t n = strlen(cfg);
    int line, layer, keyat = 0, keyend = 0;
    if(strncmp(err, cfg, n) != 0 || err[n] != ':') return;
    /* "<cfg>:<line>: [type] (layer N): key '<key>'..." */
    if(sscanf(err + n, ":%d: [%*[^]]] (layer %d): key '%n%*[^']%n'", &line, &layer, &keyat, &keyend) != 2 || !keyend) return;
    cfgtext t;
    char tmp[256];
    if(cfgtext_read(cfg, &t, tmp, sizeof(tmp))) return;
    sect *s = layer >= 0 && layer + 1 < t.n ? &t.s[layer + 1] : 0;
    char key[128];
    snprintf(key, sizeof(key), "%.*s", keyend - keyat, err + n + keyat);
    kv *o = s && s->line == line ? opt(s, key) : 0;
    if(o && o->line != line){
        char *rest = strdup(err + n + 1 + strcspn(err + n + 1, ":"));
        if(rest) snprintf(err + n, errlen - n, ":%d%s", o->line, rest);
        free(rest);
    }
    cfgtext_free(&t);
}

static void shape(const layer *l, char *buf, size_t n)
{
    int d = l->out_d > 0 ? l->out_d : 1;
    snprintf(buf, n, "%d x %d x %d x %d", l->out_c, d, l->out_h / d, l->out_w);
}

int cfg_postcheck(const char *cfg, const network *net, char *err, size_t errlen)
{
    cfgtext t;
    if(cfgtext_read(cfg, &t, err, errlen)) return -1;
    int i, j, rc = 0;
    char a[64], b[64];
    for(i = 0; i < net->n && i + 1 < t.n && !rc; ++i){
        const layer *l = &net->layers[i];
        sect *s = &t.s[i + 1];
        int li = i;
        if(l->type == SHORTCUT && i > 0){
            const layer *from = &net->layers[l->index], *prev = &net->layers[i - 1];
            int fd = from->out_d > 0 ? from->out_d : 1, pd = prev->out_d > 0 ? prev->out_d : 1;
            if(from->out_c != prev->out_c || from->out_h != prev->out_h || from->out_w != prev->out_w || fd != pd){
                shape(from, a, sizeof(a)); shape(prev, b, sizeof(b));
                where(err, errlen, cfg, s, opt(s, "from"), li);
                snprintf(err + strlen(err), errlen - strlen(err),
                         "key 'from': layer %d outputs %s (c x d x h x w) but the previous layer %d outputs %s: a shortcut adds tensors of the same shape",
                         l->index, a, i - 1, b);
                rc = -1;
            }
        } else if(l->type == ROUTE && l->n > 0){
            const layer *f = &net->layers[l->input_layers[0]];
            for(j = 1; j < l->n && !rc; ++j){
                const layer *g = &net->layers[l->input_layers[j]];
                int fd = f->out_d > 0 ? f->out_d : 1, gd = g->out_d > 0 ? g->out_d : 1;
                if(g->out_h != f->out_h || g->out_w != f->out_w || gd != fd){
                    shape(f, a, sizeof(a)); shape(g, b, sizeof(b));
                    where(err, errlen, cfg, s, opt(s, "layers"), li);
                    snprintf(err + strlen(err), errlen - strlen(err),
                             "key 'layers': layer %d outputs %s (c x d x h x w) but layer %d outputs %s: a route concatenates channels of inputs with the same depth, height and width",
                             l->input_layers[0], a, l->input_layers[j], b);
                    rc = -1;
                }
            }
        }
    }
    cfgtext_free(&t);
    return rc;
}
