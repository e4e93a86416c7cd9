/* Per-case result pictures: three orthogonal slices of an image with reference and prediction outlines, drawn with cairo into a PNG. */
#ifndef OVERLAY_H
#define OVERLAY_H
#include <stddef.h>
#include "volume_io.h"

/* Outline colours (RGB) and the layout, in pixels. */
#define OVERLAY_REF_RGB  0x00, 0xE0, 0x00   /* reference outline: green */
#define OVERLAY_PRED_RGB 0xFF, 0x30, 0xFF   /* prediction outline: magenta */
#define OVERLAY_PANEL 320                   /* the longest physical extent of the volume is drawn this long */
#define OVERLAY_PANEL_MAX 4096              /* no panel side is longer */
#define OVERLAY_GAP 8                       /* margin around and between the panels */
#define OVERLAY_HEADER 30                   /* strip on top: case id, Dice, legend */
#define OVERLAY_LINE 2                      /* outline width */

/* Pixel size of the three panels of a volume (nx x ny x nz voxels of dx x dy x dz mm), and of the whole picture.
 * ppmm = max(OVERLAY_PANEL / longest extent in mm, 1 / smallest spacing): drawn to scale with at least one pixel per
 * voxel, except that the longest side is at most cap = min(max(OVERLAY_PANEL, 4 x most voxels along an axis),
 * OVERLAY_PANEL_MAX) pixels (a thick-slice CT, 512 x 512 x 400 voxels of 0.8 x 0.8 x 2.5 mm, is 512 x 512 x 1250, to
 * scale). Lx = round(nx*dx*ppmm), Ly, Lz likewise, each clamped to [min(voxels along its axis, cap), cap]: a spacing
 * anisotropic beyond that gives a bounded picture in which every voxel still shows; panels left to right: axial (x right, y up) Lx x Ly,
 * coronal (x right, z up) Lx x Lz, sagittal (y right, z up) Ly x Lz;
 * width = 4*GAP + 2*Lx + Ly, height = HEADER + max(Ly, Lz) + GAP. */
void overlay_layout(int nx, int ny, int nz, float dx, float dy, float dz, int *Lx, int *Ly, int *Lz, int *width, int *height);

/* Writes a PNG: the image in grey (0.5th..99.5th percentile), the reference outline (voxels != 0 of ref, when
 * ref is not NULL) and the prediction outline (voxels != 0 of pred) on the axial, coronal and sagittal slices
 * through the centre of the reference (else of the prediction, else of the volume); `title` (the case id) and,
 * when ref is given and dice is finite, its Dice in the top-left corner. Spacing is taken from img.
 * ref and pred must have img's size. Returns 0, or -1 with err naming the file. */
int overlay_png(const char *path, const volume *img, const volume *ref, const volume *pred, const char *title, double dice,
                char *err, size_t errlen);
#endif
