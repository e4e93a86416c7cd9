/* Checks of the stock Darknet sections a darknet3d cfg uses ([net], [route], [shortcut], [dropout]), which Darknet's parser reads without validation (it crashes, aborts or mixes tensors of different shapes on bad values). */
#ifndef CFG_CHECK_H
#define CFG_CHECK_H
#include <stddef.h>
#include "darknet.h"

/* Before parse_network_cfg_err: reads the cfg text and checks what Darknet would not survive or would silently
 * misread: [net] numbers (non-numeric, batch/subdivisions < 1, sizes, lr policy and its keys), [route] layers= and
 * [shortcut] from= (integers naming an earlier layer), [dropout] not first; and in every section, a key given twice
 * (Darknet would take the first silently). Other sections' keys and values are left to the parser. Returns 0, or -1 with err = "file:line: [section] (layer N): key '...': ..." */
int cfg_precheck(const char *cfg, char *err, size_t errlen);

/* A parser error "cfg:L: [section] (layer N): key 'k': ..." names the section's line L (Darknet keeps no line per
 * key): rewrites L to the line of key k in that section, as the checks here name it. Other errors stay as they are. */
void cfg_error_key_line(const char *cfg, char *err, size_t errlen);

/* After parsing: a [shortcut] adds two tensors of the same shape, a [route] concatenates inputs of the same
 * depth, height and width. Returns 0, or -1 with err naming file:line, the section and its key. */
int cfg_postcheck(const char *cfg, const network *net, char *err, size_t errlen);
/* 1 when the cfg text has a section of this type ("[dbisl]"); 0 when not; -1 when it cannot be read (the parser then reports it). */
int cfg_has_section(const char *cfg, const char *type);
#endif
