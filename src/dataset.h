/* Data sets for seg3d: the .data file (case lists, file patterns), resolved case paths and an in-memory volume cache. */
#ifndef DATASET_H
#define DATASET_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "msd.h"
#include "intensity.h"

/* ---------------------------------------------------------------------------------------------
 * The .data file (Darknet style `key = value`, one per line; `#` or `;` starts a comment line).
 * Unknown keys, duplicate keys, lines without '=' and empty values are errors naming file:line.
 *
 *   labeled   = <list>     required: case ids with labels (the supervised stream)
 *   unlabeled = <list>     optional: case ids used without labels (absent: supervised training)
 *   valid     = <list>     optional: validation cases (labels required)
 *   test      = <list>     optional: test cases (labels required for scoring)
 *   root      = <dir>      optional, default ".": folder the case paths are relative to
 *   image     = <pattern>  required: image file of a case, relative to root, with one %s for the case id
 *   label     = <pattern>  required: label file of a case (may be the same .h5 file as image)
 *   backup    = <dir>      optional, default "backup": where training writes weights
 *   h5_image  = <name>     optional, default "image": dataset read from .h5 images
 *   h5_label  = <name>     optional, default "label": dataset read from .h5 labels
 *   labeled_per_batch = <n> optional: labeled samples in each batch of the cfg (default: half, rounded up;
 *                          all of it when there is no unlabeled list)
 *   msd       = <dir>      optional: a Medical Segmentation Decathlon / nnU-Net raw folder (src/msd.h). The cases'
 *                          files come from its layout, so root, image, label, h5_image and h5_label are errors with it.
 *                          labeled defaults to imagesTr; a split's value may be imagesTr or imagesTs (every case of
 *                          that folder; imagesTs labels are labelsTs/<id>) or a list of ids of either folder.
 *
 * Relative paths (lists, root, backup) are relative to the folder of the .data file, so a .data
 * file works from any working directory. A list holds one case id per line (blank lines and lines
 * starting with '#' are skipped, surrounding white space is trimmed); a case's files are
 * <root>/<pattern with %s replaced by the id>. In a pattern, %% is a literal '%'.
 *
 * LA layout (UA-MT/DTC preprocessing, one folder per case):
 *     root = ../../shared/data/LA        image = %s/image.nii.gz      label = %s/label.nii.gz
 * .h5 layout (UA-MT/DTC/SSL4MIS files <id>.h5 holding datasets image and label):
 *     root = ../../shared/data/LA_h5     image = %s.h5                label = %s.h5
 * ------------------------------------------------------------------------------------------- */

enum { SPLIT_LABELED = 0, SPLIT_UNLABELED, SPLIT_VALID, SPLIT_TEST, SPLIT_N };
extern const char *dataset_split_names[SPLIT_N]; /* "labeled", "unlabeled", "valid", "test" */

/* One case: resolved paths and, once loaded, its cached volume (image float32, label uint8).
 * nx/ny/nz follow volume_io.h: W = nx, H = ny, D = nz, index i + nx*(j + ny*k). */
typedef struct {
    char *name;
    char *image_path, *label_path;
    int loaded;                /* image (and label if with_label was asked) are in memory */
    int nx, ny, nz;
    float dx, dy, dz;
    float *image;
    uint8_t *label;            /* NULL when not loaded (unlabeled stream) */
} dataset_case;

typedef struct {
    char *list_path;           /* resolved path of the list file; NULL when the key was absent */
    int n;
    dataset_case *cases;
} case_list;

typedef struct dataset {
    char *data_path;           /* the .data file as given */
    char *root, *backup;       /* resolved */
    char *image_pattern, *label_pattern, *h5_image, *h5_label;
    int labeled_per_batch;     /* 0 when not given in the .data file */
    case_list split[SPLIT_N];
    pthread_mutex_t lock;      /* guards loading into the cache: the loader thread and an evaluator may both read */
    size_t cache_bytes;        /* bytes of cached image + label data */
    intensity_norm norm;       /* how images are scaled when read ([net] normalize; zeroed: none) */
    msd_set *msd;              /* the msd folder's cases; NULL without the msd key */
} dataset;

/* Parses a .data file and its lists (no volumes are read). NULL with err = "file:line: ..." on error. */
dataset *dataset_load(const char *data_path, char *err, size_t errlen);
void dataset_free(dataset *ds);

/* Makes sure the case is in the cache (reads it once; with_label also reads the label, checks it has the
 * image's shape and holds integers 0..255). Returns 0 or -1 with err naming the file. Thread safe. */
int dataset_case_load(dataset *ds, dataset_case *c, int with_label, char *err, size_t errlen);
/* Loads every case of a split (labels for every split but unlabeled). 0 or -1 with err. */
int dataset_preload(dataset *ds, int split, char *err, size_t errlen);
/* Drops a case's cached data (e.g. test volumes after evaluation). */
void dataset_case_unload(dataset *ds, dataset_case *c);

/* Substitutes the case id into a pattern (one %s, %% for '%'); 0, or -1 when the pattern is invalid. */
int dataset_expand_pattern(const char *pattern, const char *id, char *out, size_t outlen);

#endif
