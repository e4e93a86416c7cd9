/* Intensity normalisation of images as they are read: the [net] normalize choice and its CT window. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cfg_keys.h"
#include "cfg_options.h"
#include "intensity.h"

/* one window key: 1 found (value in *out), 0 absent, -1 with err */
static int window_key(const char *cfg, const char *key, float *out, int *line, char *err, size_t errlen)
{
    char v[256];
    const cfg_key *k = cfg_key_find("[net]", key);
    if(!k || k->kind != K_FLOAT){ snprintf(err, errlen, "key '%s': [net] has no number row for it in src/cfg_keys.def", key); return -1; }
    int r = cfg_net_value(cfg, key, v, sizeof(v), line, err, errlen);
    if(r <= 0) return r;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if(end == v || *end || errno || !isfinite(x) || x < k->lo || x > k->hi){
        snprintf(err, errlen, "%s:%d: [net]: key '%s': expected a number in [%g, %g], got '%s'", cfg, *line, key, k->lo, k->hi, v);
        return -1;
    }
    *out = (float)x;
    return 1;
}

int intensity_read(const char *cfg, intensity_norm *n, char *err, size_t errlen)
{
    char v[256];
    int line = 0, lline = 0, hline = 0;
    n->mode = NORM_NONE; n->lo = -125; n->hi = 275;
    int r = cfg_net_value(cfg, "normalize", v, sizeof(v), &line, err, errlen);
    if(r < 0) return -1;
    if(r == 0 || strcmp(v, "none") == 0) n->mode = NORM_NONE;
    else if(strcmp(v, "zscore") == 0) n->mode = NORM_ZSCORE;
    else if(strcmp(v, "ctwindow") == 0) n->mode = NORM_CTWINDOW;
    else {
        snprintf(err, errlen, "%s:%d: [net]: key 'normalize': expected none, zscore or ctwindow, got '%s'", cfg, line, v);
        return -1;
    }
    int hl = window_key(cfg, "window_lo", &n->lo, &lline, err, errlen);
    if(hl < 0) return -1;
    int hh = window_key(cfg, "window_hi", &n->hi, &hline, err, errlen);
    if(hh < 0) return -1;
    if(n->mode != NORM_CTWINDOW && (hl || hh)){
        snprintf(err, errlen, "%s:%d: [net]: key '%s': applies only with normalize=ctwindow", cfg, hl ? lline : hline, hl ? "window_lo" : "window_hi");
        return -1;
    }
    if(n->lo >= n->hi){
        snprintf(err, errlen, "%s:%d: [net]: key '%s': the window needs window_lo < window_hi, got %g and %g",
                 cfg, hh ? hline : lline, hh ? "window_hi" : "window_lo", n->lo, n->hi);
        return -1;
    }
    return 0;
}

void intensity_apply(const intensity_norm *n, volume *v)
{
    if(n->mode == NORM_NONE) return;
    if(n->mode == NORM_CTWINDOW){
        size_t i, cnt = (size_t)v->nx * v->ny * v->nz;
        float lo = n->lo, hi = n->hi;
        for(i = 0; i < cnt; ++i){
            float x = v->data[i];
            v->data[i] = x < lo ? lo : (x > hi ? hi : x);
        }
    }
    volume_zscore(v);
}
