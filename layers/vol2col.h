/* vol2col / col2vol: the 3D im2col used by [conv3d] and [deconv3d] on the CPU, over a range of output positions so the column buffer stays bounded. */
#ifndef VOL2COL_H
#define VOL2COL_H
#include <stddef.h>

/* Geometry of one 3D cross-correlation from an "image" volume (c x d x h x w) to
 * "positions" (od x oh x ow): od = (d + 2*pd - kd)/sd + 1, etc. (PyTorch Conv3d). */
typedef struct {
    int c, d, h, w;          /* image */
    int od, oh, ow;          /* positions */
    int kd, kh, kw;
    int sd, sh, sw;
    int pd, ph, pw;
} geom3d;

/* Rows of the column matrix: c*kd*kh*kw; positions: od*oh*ow. */
static inline size_t geom3d_rows(const geom3d *g) { return (size_t)g->c * g->kd * g->kh * g->kw; }
static inline size_t geom3d_positions(const geom3d *g) { return (size_t)g->od * g->oh * g->ow; }
/* 1 when the column matrix IS the image (1x1x1 kernel, stride 1, no pad): callers skip the copy */
static inline int geom3d_is_identity(const geom3d *g)
{
    return g->kd == 1 && g->kh == 1 && g->kw == 1 && g->sd == 1 && g->sh == 1 && g->sw == 1 &&
           g->pd == 0 && g->ph == 0 && g->pw == 0;
}

/* For a stride-1 correlation g with c_out output channels, the data gradient dX = adjoint(dY) is itself a
 * stride-1 correlation of dY (image: c_out x od x oh x ow) with the spatially flipped, channel-transposed
 * kernel and padding k-1-p, whose positions are g's image voxels. Fills *t and returns 1 when that holds
 * (all strides 1, 0 <= p <= k-1 on every axis), else 0. */
static inline int geom3d_flipped(const geom3d *g, int c_out, geom3d *t)
{
    if(g->sd != 1 || g->sh != 1 || g->sw != 1) return 0;
    if(g->pd > g->kd - 1 || g->ph > g->kh - 1 || g->pw > g->kw - 1) return 0;
    geom3d r = {c_out, g->od, g->oh, g->ow, g->d, g->h, g->w, g->kd, g->kh, g->kw, 1, 1, 1,
                g->kd - 1 - g->pd, g->kh - 1 - g->ph, g->kw - 1 - g->pw};
    *t = r;
    return 1;
}

/* Overwrites col (rows x np, row-major, leading dimension np) with the image values seen by
 * positions [p0, p0+np); out-of-volume taps read as 0. */
void vol2col_cpu(const float *im, const geom3d *g, size_t p0, size_t np, float *col);
/* Adjoint of vol2col_cpu: ADDS every column entry into the image voxel it was read from. */
void col2vol_cpu(const float *col, const geom3d *g, size_t p0, size_t np, float *im);
#endif
