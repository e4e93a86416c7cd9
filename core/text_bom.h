/* The rule for the start of darknet3d's text inputs (cfg, .data and list files): a UTF-8 byte-order mark, which text editors on Windows write, is skipped. */
#ifndef TEXT_BOM_H
#define TEXT_BOM_H
#include <string.h>

/* line past a UTF-8 byte-order mark when lineno is 1, else line: a file reads the same with and without one */
static inline char *text_skip_bom(char *line, int lineno)
{
    return lineno == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0 ? line + 3 : line;
}
#endif
