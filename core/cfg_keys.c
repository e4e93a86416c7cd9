/* The table of every accepted cfg key and numeric command-line value with its range, and the readers of command-line values that use it. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cfg_keys.h"

const cfg_key cfg_keys[] = {
#define KEY(where, key, kind, lo, mid, hi) {where, key, kind, lo, mid, hi},
#include "cfg_keys.def"
#undef KEY
};
const int cfg_nkeys = (int)(sizeof(cfg_keys) / sizeof(cfg_keys[0]));

const cfg_key *cfg_key_find(const char *where, const char *key)
{
    int i;
    /* Darknet's other names of two sections */
    if(!strcmp(where, "[network]")) where = "[net]";
    if(!strcmp(where, "[short]")) where = "[shortcut]";
    for(i = 0; i < cfg_nkeys; ++i) if(!strcmp(cfg_keys[i].where, where) && !strcmp(cfg_keys[i].key, key)) return &cfg_keys[i];
    if(where[0] == '[' && strcmp(where, "[net]") && strcmp(where, "[network]"))
        for(i = 0; i < cfg_nkeys; ++i) if(!strcmp(cfg_keys[i].where, "*") && !strcmp(cfg_keys[i].key, key)) return &cfg_keys[i];
    return 0;
}

const char *cfg_key_moved(const char *where, const char *key)
{
    static const char *dt[] = {"kernel", "h", "scale", "binarize", "tau", "exact", "early_stop", 0};
    int i;
    if(strcmp(where, "[dbisl]")) return 0;
    for(i = 0; dt[i]; ++i) if(!strcmp(key, dt[i]))
        return "the s2r transform's settings are keys of its [dtransform] sections: move it there "
               "(a [dtransform] with input=logits after each seg head, named in s2r=)";
    if(!strcmp(key, "k"))
        return "T_r2s's k is a key of its [r2s] sections: move it there (an [r2s] with input=preact after each sdf head, named in r2s=)";
    return 0;
}

static const cfg_key *row(const char *cmd, const char *flag, char *err, size_t errlen)
{
    const cfg_key *k = cfg_key_find(cmd, flag);
    if(!k) snprintf(err, errlen, "%s %s: not in the table of accepted values (core/cfg_keys.def)", cmd, flag);
    return k;
}

int arg_long(const char *cmd, const char *flag, const char *v, long long *out, char *err, size_t errlen)
{
    const cfg_key *k = row(cmd, flag, err, errlen);
    if(!k) return -1;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if(end == v || *end || errno || x < k->lo || x > k->hi){
        snprintf(err, errlen, "%s %s: expected an integer in [%.0f, %.0f], got '%s'", cmd, flag, k->lo, k->hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

int arg_float(const char *cmd, const char *flag, const char *v, float *out, char *err, size_t errlen)
{
    const cfg_key *k = row(cmd, flag, err, errlen);
    if(!k) return -1;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if(end == v || *end || errno || !isfinite(x) || x < k->lo || x > k->hi){
        snprintf(err, errlen, "%s %s: expected a number in [%g, %g], got '%s'", cmd, flag, k->lo, k->hi, v);
        return -1;
    }
    *out = (float)x;
    return 0;
}

int cfg_int3_value(const cfg_key *k, const char *v, int out[3])
{
    const char *p = v;
    int a;
    for(a = 0; a < 3; ++a){
        char *end;
        while(*p == ' ' || *p == '\t') ++p;
        errno = 0;
        long x = strtol(p, &end, 10);
        if(end == p || errno || x < k->lo || x > k->hi) return -1;   /* strtol's range, then the row's: no wrap-around */
        out[a] = (int)x;
        p = end;
        while(*p == ' ' || *p == '\t') ++p;
        if(a < 2 && *p++ != ',') return -1;
    }
    return *p ? -1 : 0;
}

int arg_int3(const char *cmd, const char *flag, int argc, char **argv, int i, int out[3], char *err, size_t errlen)
{
    const cfg_key *k = row(cmd, flag, err, errlen);
    if(!k) return -1;
    int a;
    for(a = 0; a < 3; ++a){
        char *end;
        errno = 0;
        long x = i + 1 + a < argc ? strtol(argv[i + 1 + a], &end, 10) : 0;
        if(i + 1 + a >= argc || end == argv[i + 1 + a] || *end || errno || x < k->lo || x > k->hi){
            snprintf(err, errlen, "%s %s: expected three integers D H W, each in [%.0f, %.0f]", cmd, flag, k->lo, k->hi);
            return -1;
        }
        out[a] = (int)x;
    }
    return 0;
}

void cfg_keys_print(void)
{
    static const char *kinds[] = {"int", "float", "int,int,int", "text"};
    int i;
    printf("%-16s %-16s %-12s %s\n", "where", "key", "kind", "accepted range (typical)");
    for(i = 0; i < cfg_nkeys; ++i){
        const cfg_key *k = &cfg_keys[i];
        if(k->kind == K_TEXT) printf("%-16s %-16s %-12s -\n", k->where, k->key, kinds[k->kind]);
        else printf("%-16s %-16s %-12s [%.10g, %.10g] (%.10g)\n", k->where, k->key, kinds[k->kind], k->lo, k->hi, k->mid);
    }
}
