/* Strict readers of cfg keys for darknet3d sections: values are validated and every error names the key and what was expected. */
#ifndef CFG_OPTIONS_H
#define CFG_OPTIONS_H
#include <stddef.h>
#include "darknet.h"

/* Each returns 0 on success; on error writes a message naming the key into err and returns -1.
 * A missing key gives def unless required != 0. Values must lie in the range that core/cfg_keys.def gives the
 * key in `section` ("[conv3d]"); a key missing from that table is an error. */
int cfg_int(list *options, const char *section, const char *key, int def, int required, int *out, char *err, size_t errlen);
int cfg_float(list *options, const char *section, const char *key, float def, int required, float *out, char *err, size_t errlen);
/* choices: NULL-terminated list of accepted words; returns the index into choices in *out */
int cfg_choice(list *options, const char *key, const char *def, const char **choices, int *out, char *err, size_t errlen);
/* the same rule for a value already read (v): 0 with its index, or -1 with "key 'K': 'v' is not one of ..." */
int cfg_choice_of(const char *key, const char *v, const char **choices, int *out, char *err, size_t errlen);
/* Darknet activation names */
int cfg_activation(list *options, const char *key, const char *def, ACTIVATION *out, char *err, size_t errlen);
/* the activation names cfg_activation accepts (Darknet's, the ones its layers implement), NULL-terminated */
extern const char *cfg_activation_names[];
/* comma-separated integers (layer indices; negative = relative to `index`), count in *n, resolved to absolute */
int cfg_layers(list *options, const char *key, int index, int *out, int maxn, int *n, char *err, size_t errlen);
#endif

/* Reads the raw value of `key` from the [net] section of a cfg file (Darknet itself ignores keys it does
 * not know there, so darknet3d keeps its run-time settings such as save_every in [net]).
 * Returns 1 found (value in out, its line in *line), 0 absent, -1 with err (unreadable file, or the key given twice). */
int cfg_net_value(const char *cfg, const char *key, char *out, size_t outlen, int *line, char *err, size_t errlen);
/* cfg_net_value + integer check against the [net] row of core/cfg_keys.def; def when absent. 0 or -1 with err naming file:line and key. */
int cfg_net_int(const char *cfg, const char *key, int def, int *out, char *err, size_t errlen);
