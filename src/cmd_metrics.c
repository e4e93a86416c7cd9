/* `./darknet seg3d metrics`: dice, jaccard, hd95 and asd (voxels and mm) of a predicted label volume against a reference, as medpy computes them, and both volumes in mL. */
#include <math.h>
#include <stdio.h>
#include "volume_io.h"
#include "infer.h"
#include "cmd_common.h"
#include "commands.h"

/* both volumes; 0, or 1 with the error printed */
static int metrics_read(const char *pred, const char *ref, volume *p, volume *r)
{
    char err[1024];
    if(volume_read(pred, cmd_is_h5(pred) ? "label" : NULL, p, err, sizeof(err)) != 0 ||
       volume_read(ref, cmd_is_h5(ref) ? "label" : NULL, r, err, sizeof(err)) != 0){
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    return 0;
}

/* the two result lines; 0, or 1 with the error printed */
static int metrics_report(const char *pred, const char *ref, const volume *p, const volume *r)
{
    char err[1024];
    seg_metrics m;
    if(fabsf(p->dx - r->dx) > 1e-4f*r->dx || fabsf(p->dy - r->dy) > 1e-4f*r->dy || fabsf(p->dz - r->dz) > 1e-4f*r->dz)
        fprintf(stderr, "note: spacing differs (%g %g %g vs %g %g %g): using the reference's\n", p->dx, p->dy, p->dz, r->dx, r->dy, r->dz);
    if(volume_metrics(p, r, &m, err, sizeof(err)) != 0){ fprintf(stderr, "error: %s vs %s: %s\n", pred, ref, err); return 1; }
    const double voxel_ml = volume_voxel_ml(r);
    printf("pred %ld voxels (%.3f mL), ref %ld (%.3f mL), overlap %ld; spacing %g %g %g mm\n", m.npred, m.npred * voxel_ml,
           m.nref, m.nref * voxel_ml, m.ninter, r->dx, r->dy, r->dz);
    printf("dice=%.6f jaccard=%.6f hd95=%.6f asd=%.6f hd95_mm=%.6f asd_mm=%.6f\n", m.dice, m.jaccard, m.hd95, m.asd, m.hd95_mm, m.asd_mm);
    return 0;
}

int seg3d_metrics(int argc, char **argv)
{
    if(argc != 5){ fprintf(stderr, "usage: ./darknet seg3d metrics <pred.nii[.gz]|.h5> <ref.nii[.gz]|.h5>\n"
                                   "  masks are value != 0; spacing from the reference\n"); return 2; }
    volume p = {0}, r = {0};
    int rc = metrics_read(argv[3], argv[4], &p, &r);
    if(rc == 0) rc = metrics_report(argv[3], argv[4], &p, &r);
    volume_free(&p); volume_free(&r);
    return rc;
}
