/* Medical Segmentation Decathlon / nnU-Net raw data set folders (dataset.json, imagesTr, labelsTr, imagesTs) as case lists. */
#ifndef MSD_H
#define MSD_H
#include <stddef.h>

/* The cases of one part of the folder: id, image file and label file (the label file may not exist for imagesTs). */
typedef struct {
    int n;
    char **id, **image, **label;
} msd_part;

typedef struct {
    char *dir;                 /* the folder as given */
    char *file_ending;         /* ".nii.gz" unless dataset.json says otherwise */
    msd_part tr, ts;           /* imagesTr + labelsTr, imagesTs + labelsTs */
} msd_set;

/* Reads <dir>/dataset.json and lists the cases:
 *  - training cases: dataset.json's "training" entries (MSD, nnU-Net v1), else every <id><ending> in labelsTr
 *    (nnU-Net v2); the image is imagesTr/<id>_0000<ending>, or the entry's own image file where that exists;
 *  - imagesTs: every imagesTs/<id>_0000<ending> (or <id><ending> without a channel suffix), label labelsTs/<id><ending>.
 * Only binary tasks are accepted: one input channel ("modality" / "channel_names") and one foreground label besides
 * background ("labels"); the foreground is label > 0. Anything else is an error naming dataset.json and what it says.
 * Returns 0, or -1 with err (m is then empty; msd_free is safe either way). */
int msd_read(const char *dir, msd_set *m, char *err, size_t errlen);
void msd_free(msd_set *m);

/* Index of a case id in a part, -1 when absent. */
int msd_find(const msd_part *p, const char *id);

#endif
