/* Index arithmetic of one sliding-window position, written once for the host and the CUDA kernels (src/infer_kernels.cu): where a window element is read from and where its probability is added. */
#ifndef SW_INDEX_H
#define SW_INDEX_H
#include "numerics3d.h"

/* The geometry of a sliding window over a D x H x W volume zero-padded to at least the window along each axis
 * (infer.h, sliding_window): axes in the order (d, h, w); a window element's index is w + pw*(h + ph*d). */
typedef struct {
    int dim[3];     /* the volume */
    int patch[3];   /* the window (pd, ph, pw) */
    int off[3];     /* where the volume starts inside the padded volume */
    long PH, PW;    /* the padded volume's height and width */
} sw_geom;

/* element e of the window whose padded start is (z0, y0, x0): the volume's value there, 0 in the padding */
NUMERICS3D_FN float sw_gather_at(const float *vol, sw_geom g, int z0, int y0, int x0, long e)
{
    int w = (int)(e % g.patch[2]);
    long r = e / g.patch[2];
    int h = (int)(r % g.patch[1]), d = (int)(r / g.patch[1]);
    int vd = z0 + d - g.off[0], vh = y0 + h - g.off[1], vw = x0 + w - g.off[2];
    if(vd < 0 || vd >= g.dim[0] || vh < 0 || vh >= g.dim[1] || vw < 0 || vw >= g.dim[2]) return 0.f;
    return vol[vw + (long)g.dim[2]*(vh + (long)g.dim[1]*vd)];
}

/* the index in the padded volume (sum and count arrays) that element e of that window adds to */
NUMERICS3D_FN long sw_scatter_index(sw_geom g, int z0, int y0, int x0, long e)
{
    int w = (int)(e % g.patch[2]);
    long r = e / g.patch[2];
    int h = (int)(r % g.patch[1]), d = (int)(r / g.patch[1]);
    return (x0 + w) + g.PW*((long)(y0 + h) + g.PH*(long)(z0 + d));
}

/* How the foreground probability is read from an output: sigmoid of a logit, the value itself (already a
 * probability), or a two-channel softmax's channel 1, sigmoid(x1 - x0). */
enum { SW_PROB_SIGMOID, SW_PROB_SAME, SW_PROB_SOFTMAX2 };

/* sample b, voxel v of an output with `stride` values per sample and vox voxels per channel */
NUMERICS3D_FN float sw_prob_at(const float *o, long vox, long stride, int mode, long b, long v)
{
    const float *ob = o + b*stride;
    if(mode == SW_PROB_SOFTMAX2) return sigmoid3d(ob[vox + v] - ob[v]);
    return mode == SW_PROB_SAME ? ob[v] : sigmoid3d(ob[v]);
}
#endif
