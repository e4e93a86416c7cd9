/* Strict readers of cfg keys for darknet3d sections: values are validated and every error names the key and what was expected. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cfg_options.h"
#include "option_list.h"
#include "cfg_keys.h"
#include "text_bom.h"

static char *find(list *options, const char *key)
{
    return option_find(options, (char *)key); /* marks the key used */
}

/* the range of key in section from the table; -1 with err when the table lacks it */
static int range(const char *section, const char *key, int kind, double *lo, double *hi, char *err, size_t errlen)
{
    const cfg_key *k = cfg_key_find(section, key);
    if(!k || k->kind != kind){
        snprintf(err, errlen, "key '%s': %s has no %s row for it in core/cfg_keys.def", key, section, kind == K_INT ? "integer" : "number");
        return -1;
    }
    *lo = k->lo; *hi = k->hi;
    return 0;
}

/* The value of key as a number of the table's kind, checked against its range: 1 found (in *x), 0 absent, -1 with err. */
static int read_number(list *options, const char *section, const char *key, int kind, int required, double *x, char *err, size_t errlen)
{
    double lo, hi;
    if(range(section, key, kind, &lo, &hi, err, errlen)) return -1;
    char *v = find(options, key);
    if(!v){
        if(required){ snprintf(err, errlen, "missing required key '%s'", key); return -1; }
        return 0;
    }
    char *end = 0;
    errno = 0;
    *x = kind == K_INT ? (double)strtol(v, &end, 10) : strtod(v, &end);
    while(end && (*end == ' ' || *end == '\t')) ++end;
    if(end == v || *end != '\0' || errno || !isfinite(*x)){
        snprintf(err, errlen, "key '%s': expected %s, got '%s'", key, kind == K_INT ? "an integer" : "a finite number", v);
        return -1;
    }
    if(*x < lo || *x > hi){
        if(kind == K_INT) snprintf(err, errlen, "key '%s': %.0f is out of range [%.0f, %.0f]", key, *x, lo, hi);
        else snprintf(err, errlen, "key '%s': %g is out of range [%g, %g]", key, *x, lo, hi);
        return -1;
    }
    return 1;
}

int cfg_int(list *options, const char *section, const char *key, int def, int required, int *out, char *err, size_t errlen)
{
    double x = def;
    int r = read_number(options, section, key, K_INT, required, &x, err, errlen);
    if(r < 0) return -1;
    *out = r ? (int)x : def;
    return 0;
}

int cfg_float(list *options, const char *section, const char *key, float def, int required, float *out, char *err, size_t errlen)
{
    double x = def;
    int r = read_number(options, section, key, K_FLOAT, required, &x, err, errlen);
    if(r < 0) return -1;
    *out = r ? (float)x : def;
    return 0;
}

int cfg_choice(list *options, const char *key, const char *def, const char **choices, int *out, char *err, size_t errlen)
{
    char *v = find(options, key);
    return cfg_choice_of(key, v ? v : def, choices, out, err, errlen);
}

int cfg_choice_of(const char *key, const char *v, const char **choices, int *out, char *err, size_t errlen)
{
    int i;
    for(i = 0; choices[i]; ++i){
        if(strcmp(v, choices[i]) == 0){ *out = i; return 0; }
    }
    int n = snprintf(err, errlen, "key '%s': '%s' is not one of", key, v);
    for(i = 0; choices[i] && n > 0 && (size_t)n < errlen; ++i) n += snprintf(err + n, errlen - n, " %s", choices[i]);
    return -1;
}

const char *cfg_activation_names[] = {"logistic", "relu", "relie", "linear", "ramp", "tanh", "plse", "leaky", "elu", "loggy", "stair", "hardtan", "lhtan", "selu", 0};

int cfg_activation(list *options, const char *key, const char *def, ACTIVATION *out, char *err, size_t errlen)
{
    static const ACTIVATION acts[] = {LOGISTIC, RELU, RELIE, LINEAR, RAMP, TANH, PLSE, LEAKY, ELU, LOGGY, STAIR, HARDTAN, LHTAN, SELU};
    int i = 0;
    if(cfg_choice(options, key, def, cfg_activation_names, &i, err, errlen)) return -1;
    *out = acts[i];
    return 0;
}

int cfg_layers(list *options, const char *key, int index, int *out, int maxn, int *n, char *err, size_t errlen)
{
    char *v = find(options, key);
    if(!v){ snprintf(err, errlen, "missing required key '%s'", key); return -1; }
    int count = 0;
    const char *p = v;
    while(*p){
        char *end = 0;
        long x = strtol(p, &end, 10);
        if(end == p){ snprintf(err, errlen, "key '%s': expected comma-separated layer indices, got '%s'", key, v); return -1; }
        if(count >= maxn){ snprintf(err, errlen, "key '%s': more than %d layers", key, maxn); return -1; }
        long abs_i = x < 0 ? index + x : x;
        if(abs_i < 0 || abs_i >= index){
            snprintf(err, errlen, "key '%s': layer %ld resolves to %ld, which is not an earlier layer (this is layer %d)", key, x, abs_i, index);
            return -1;
        }
        out[count++] = (int)abs_i;
        p = end;
        while(*p == ' ' || *p == '\t') ++p;
        if(*p == ','){ ++p; while(*p == ' ' || *p == '\t') ++p; if(!*p){ snprintf(err, errlen, "key '%s': trailing comma in '%s'", key, v); return -1; } }
        else if(*p){ snprintf(err, errlen, "key '%s': expected comma-separated layer indices, got '%s'", key, v); return -1; }
    }
    if(count == 0){ snprintf(err, errlen, "key '%s': empty", key); return -1; }
    *n = count;
    return 0;
}

/* Darknet's read_cfg removes every space, tab, CR and LF from a line before it splits key=value, so the key and value
 * read here are the ones Darknet and src/cfg_check.c see ("save _every = 1" is save_every=1); lines of any length. */
int cfg_net_value(const char *cfg, const char *key, char *out, size_t outlen, int *line, char *err, size_t errlen)
{
    FILE *f = fopen(cfg, "r");
    if(!f){ snprintf(err, errlen, "%s: cannot open", cfg); return -1; }
    char *buf = 0;
    size_t cap = 0;
    ssize_t got;
    int lineno = 0, sections = 0, found = 0, first = 0;
    while((got = getline(&buf, &cap, f)) >= 0){
        ++lineno;
        char *s = text_skip_bom(buf, lineno), *r, *w;
        for(r = w = s; r < buf + got; ++r) if(*r != ' ' && *r != '\t' && *r != '\r' && *r != '\n' && *r) *w++ = *r;
        *w = 0;
        if(*s == '['){ if(++sections > 1) break; continue; }
        if(sections != 1 || *s == '#' || *s == ';') continue;
        char *eq = strchr(s, '=');
        if(!eq) continue;
        *eq = 0;
        if(strcmp(s, key) != 0) continue;
        if(found){
            snprintf(err, errlen, "%s:%d: [net]: key '%s' given twice (first on line %d)", cfg, lineno, key, first);
            free(buf);
            fclose(f);
            return -1;
        }
        if(strlen(eq + 1) >= outlen){
            snprintf(err, errlen, "%s:%d: [net]: key '%s': the value is longer than %zu characters", cfg, lineno, key, outlen - 1);
            free(buf);
            fclose(f);
            return -1;
        }
        snprintf(out, outlen, "%s", eq + 1);
        if(line) *line = lineno;
        first = lineno;
        found = 1;
    }
    free(buf);
    fclose(f);
    return found;
}

int cfg_net_int(const char *cfg, const char *key, int def, int *out, char *err, size_t errlen)
{
    char v[256];
    int line = 0;
    double lo, hi;
    if(range("[net]", key, K_INT, &lo, &hi, err, errlen)) return -1;
    int r = cfg_net_value(cfg, key, v, sizeof(v), &line, err, errlen);
    if(r < 0) return -1;
    if(r == 0){ *out = def; return 0; }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if(end == v || *end || errno || x < lo || x > hi){
        snprintf(err, errlen, "%s:%d: [net]: key '%s': expected an integer in [%.0f, %.0f], got '%s'", cfg, line, key, lo, hi, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}
