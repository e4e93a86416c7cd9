/* The table of every accepted cfg key and numeric command-line value with its range (core/cfg_keys.def), and the readers of command-line values that use it. */
#ifndef CFG_KEYS_H
#define CFG_KEYS_H
#include <stddef.h>

enum { K_INT, K_FLOAT, K_INT3, K_TEXT };

/* The largest kernel the [dtransform] key, the `seg3d sdf -kernel` flag and the GPU's constant-memory copy of the
 * kernel accept (DT_KERNEL_MAX^3 weights); every one of them reads this limit. */
#define DT_KERNEL_MAX 15

typedef struct {
    const char *where;  /* "[section]", "*" (every layer section) or "seg3d <command>" */
    const char *key;    /* cfg key, "-flag" or "<positional>" */
    int kind;           /* K_INT, K_FLOAT, K_INT3, K_TEXT */
    double lo, mid, hi; /* inclusive range and a typical value (unused for K_TEXT) */
} cfg_key;

extern const cfg_key cfg_keys[];
extern const int cfg_nkeys;

/* The row of key in section where (section rows first, then the "*" rows for layer sections), or NULL. */
const cfg_key *cfg_key_find(const char *where, const char *key);

/* For a key a section no longer accepts because it moved to another section: where it went, as a sentence;
 * NULL for any other key. */
const char *cfg_key_moved(const char *where, const char *key);

/* Command-line values of `cmd` ("seg3d sdf") read against the table: 0, or -1 with err naming the flag,
 * what was given and the accepted range. */
int arg_long(const char *cmd, const char *flag, const char *v, long long *out, char *err, size_t errlen);
int arg_float(const char *cmd, const char *flag, const char *v, float *out, char *err, size_t errlen);
/* a K_INT3 value as cfg text, "D,H,W", each in the row's range: 0 with them in out, else -1 */
int cfg_int3_value(const cfg_key *k, const char *v, int out[3]);
/* three integers at argv[i+1..i+3] */
int arg_int3(const char *cmd, const char *flag, int argc, char **argv, int i, int out[3], char *err, size_t errlen);

/* Prints the table (`./darknet seg3d keys`). */
void cfg_keys_print(void);
#endif
