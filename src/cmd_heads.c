/* `./darknet seg3d heads`: what the segmentation and distance heads of a [dbisl] network say over whole volumes: each head's foreground (inside) share, the sign agreement of each decoder's two heads, and the share of the pseudo-supervision's confidence mask under pse_mask=1 and 2. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "darknet3d.h"
#include "layers3d.h"
#include "volume_io.h"
#include "intensity.h"
#include "infer.h"
#include "cmd_common.h"
#include "commands.h"

/* voxel counts over the windows; decoder w: fg[w] seg head > .5, in[w] distance head < 0, agree[w] the two agree */
typedef struct { double n, fg[2], in[2], agree[2], mask1, mask2, mask1_fg, mask2_fg; } heads_counts;
typedef struct {
    network *net;
    int li, ndec;
    int dim[3];             /* the volume's d, h, w */
    unsigned char *seen;    /* a voxel of the volume counted already (windows overlap; padding is no voxel) */
    heads_counts k;
} heads_ctx;

/* a += b, field by field (every field is a double) */
static void heads_add(heads_counts *a, const heads_counts *b)
{
    double *x = (double *)a;
    const double *y = (const double *)b;
    size_t i;
    for(i = 0; i < sizeof(*a) / sizeof(double); ++i) x[i] += y[i];
}

/* the heads at voxel k of window b */
static void heads_count_voxel(heads_ctx *c, const float *seg[2], const float *sdf[2], size_t k)
{
    int f[2] = {0, 0}, r[2] = {0, 0}, w;
    for(w = 0; w < c->ndec; ++w){
        f[w] = seg[w][k] > 0;          /* sigmoid > .5, as the confidence mask reads it */
        r[w] = sdf[w][k] < 0;          /* tanh < 0: inside */
        c->k.fg[w] += f[w]; c->k.in[w] += r[w]; c->k.agree[w] += f[w] == r[w];
    }
    if(c->ndec == 2 && f[0] == f[1]){
        c->k.mask2 += 1; c->k.mask2_fg += f[0];
        if(r[0] == f[0] && r[1] == f[0]){ c->k.mask1 += 1; c->k.mask1_fg += f[0]; }
    }
    c->k.n += 1;
}

/* the voxels of n windows that lie in the volume and no earlier window covered, each counted once */
static void heads_count(heads_ctx *c, const float *seg[2], const float *sdf[2], const int *origin, int n)
{
    const network *net = c->net;
    const int P[3] = {net->d, net->h, net->w};
    size_t vox = (size_t)P[0] * P[1] * P[2];
    int b, d, h, w;
    for(b = 0; b < n; ++b) for(d = 0; d < P[0]; ++d) for(h = 0; h < P[1]; ++h){
        int z = origin[3*b] + d, y = origin[3*b+1] + h;
        if(z < 0 || z >= c->dim[0] || y < 0 || y >= c->dim[1]) continue;
        for(w = 0; w < P[2]; ++w){
            int x = origin[3*b+2] + w;
            size_t at = (size_t)x + (size_t)c->dim[2] * (y + (size_t)c->dim[1] * z);
            if(x < 0 || x >= c->dim[2] || c->seen[at]) continue;
            c->seen[at] = 1;
            heads_count_voxel(c, seg, sdf, b * vox + (size_t)w + (size_t)P[2] * (h + (size_t)P[1] * d));
        }
    }
}

/* sliding_window's callback: one forward pass, then the heads of the n real windows are counted */
static int heads_window_fn(void *ctx, float *in, const int *origin, int n, int slots, float *prob, char *err, size_t errlen)
{
    heads_ctx *c = ctx;
    network *net = c->net;
    layer L = net->layers[c->li];
    size_t vox = (size_t)net->d * net->h * net->w;
    const float *seg[2] = {0, 0}, *sdf[2] = {0, 0};
    int w;
    (void)err; (void)errlen;
    network_predict(net, in);   /* train = 0: dropout off, batch norm on rolling statistics */
    for(w = 0; w < c->ndec; ++w){
        seg[w] = net->layers[L.input_layers[2 * w]].output;
        sdf[w] = net->layers[L.input_layers[2 * w + 1]].output;
    }
    heads_count(c, seg, sdf, origin, n);
    memset(prob, 0, vox * slots * sizeof(float));
    return 0;
}

static void heads_print(const char *what, const heads_ctx *c)
{
    double n = c->k.n > 0 ? c->k.n : 1;
    int w;
    printf("%s: %.0f voxels\n", what, c->k.n);
    for(w = 0; w < c->ndec; ++w)
        printf("  decoder %c: seg head foreground %.4f, distance head inside %.4f, the two agree %.4f\n",
               'a' + w, c->k.fg[w] / n, c->k.in[w] / n, c->k.agree[w] / n);
    if(c->ndec == 2)
        printf("  confidence mask: pse_mask=1 (all four heads) %.4f, foreground share %.4f; "
               "pse_mask=2 (the seg heads) %.4f, foreground share %.4f\n",
               c->k.mask1 / n, c->k.mask1 ? c->k.mask1_fg / c->k.mask1 : 0, c->k.mask2 / n, c->k.mask2 ? c->k.mask2_fg / c->k.mask2 : 0);
}

/* the [dbisl] layer of net (-1 with the error printed when there is none) */
static int heads_layer(const network *net, const char *cfg)
{
    int i;
    for(i = 0; i < net->n; ++i) if(net->layers[i].type == DBISL) return i;
    fprintf(stderr, "error: %s: no [dbisl] section: heads reads the seg and sdf heads a [dbisl] section names\n", cfg);
    return -1;
}

/* one volume's windows added to c; 0, or 1 with the error printed */
static int heads_volume(heads_ctx *c, const intensity_norm *norm, const char *path, const int stride[3])
{
    char err[1024];
    volume v = {0};
    heads_ctx one = *c;
    memset(&one.k, 0, sizeof one.k);
    if(volume_read(path, cmd_is_h5(path) ? "image" : NULL, &v, err, sizeof err) != 0){ fprintf(stderr, "error: %s\n", err); return 1; }
    intensity_apply(norm, &v);
    network *net = c->net;
    const int patch[3] = {net->d, net->h, net->w};
    float *prob = calloc((size_t)v.nx * v.ny * v.nz, sizeof(float));
    one.seen = calloc((size_t)v.nx * v.ny * v.nz, 1);
    one.dim[0] = v.nz; one.dim[1] = v.ny; one.dim[2] = v.nx;
    int rc = !prob || !one.seen ? (snprintf(err, sizeof err, "out of memory"), 1)
           : sliding_window(v.data, v.nz, v.ny, v.nx, patch, stride, net->batch, heads_window_fn, &one, prob, NULL, err, sizeof err) != 0;
    if(rc) fprintf(stderr, "error: %s: %s\n", path, err);
    else {
        heads_print(path, &one);
        heads_add(&c->k, &one.k);
    }
    free(prob);
    free(one.seen);
    volume_free(&v);
    return rc;
}

static int heads_usage(void)
{
    fprintf(stderr, "usage: ./darknet seg3d heads <cfg> <weights> <image.nii[.gz]|.h5> [<image> ...] [-stride D H W]\n"
                    "  a [dbisl] network's heads over whole volumes (CPU; windows of the cfg's size, stride = the window\n"
                    "  unless given; each voxel of the volume counted once, from the first window that covers it); last line:\n"
                    "  seg_a= seg_b= sdf_a= sdf_b= agree_a= agree_b= mask1= mask2= (the second decoder's values and the masks\n"
                    "  nan with one decoder)\n");
    return 2;
}

/* the windows' stride: -stride D H W, else the window itself (every voxel once where the volume is a multiple) */
static int heads_args(int argc, char **argv, int *nimg, int stride[3], int *have_stride)
{
    int i;
    *nimg = 0; *have_stride = 0;
    for(i = 5; i < argc; ++i){
        if(strcmp(argv[i], "-stride") == 0){
            if(cmd_stride_flag("seg3d heads", argc, argv, i, stride)) return -1;
            *have_stride = 1; i += 3;
        } else if(strcmp(argv[i], "-nogpu") == 0) continue;
        else if(argv[i][0] == '-'){ fprintf(stderr, "error: seg3d heads: unknown flag '%s'\n", argv[i]); return -1; }
        else ++*nimg;
    }
    return 0;
}

int seg3d_heads(int argc, char **argv)
{
    int stride[3], have_stride, nimg, i, rc = 0;
    if(argc < 6) return heads_usage();
    if(heads_args(argc, argv, &nimg, stride, &have_stride)) return 2;
    if(nimg == 0) return heads_usage();
    char err[1024];
    intensity_norm norm;
    if(intensity_read(argv[3], &norm, err, sizeof err)){ fprintf(stderr, "error: %s\n", err); return 1; }
    gpu_index = -1;   /* the heads are read from the host outputs */
    network *net = load_network_checked(argv[3], argv[4], 0);
    if(!net) return 1;
    heads_ctx c;
    memset(&c, 0, sizeof c);
    c.net = net;
    c.li = heads_layer(net, argv[3]);
    if(c.li < 0){ free_network(net); return 1; }
    c.ndec = net->layers[c.li].n / 2;
    if(!have_stride){ stride[0] = net->d; stride[1] = net->h; stride[2] = net->w; }
    for(i = 5; i < argc && rc == 0; ++i){
        if(strcmp(argv[i], "-stride") == 0){ i += 3; continue; }
        if(argv[i][0] == '-') continue;
        rc = heads_volume(&c, &norm, argv[i], stride);
    }
    if(rc == 0){
        double n = c.k.n > 0 ? c.k.n : 1, two = c.ndec == 2 ? 1 : NAN;   /* what a second decoder would give: nan without one */
        if(nimg > 1) heads_print("all volumes", &c);
        printf("seg_a=%.6f seg_b=%.6f sdf_a=%.6f sdf_b=%.6f agree_a=%.6f agree_b=%.6f mask1=%.6f mask2=%.6f\n",
               c.k.fg[0] / n, two * c.k.fg[1] / n, c.k.in[0] / n, two * c.k.in[1] / n, c.k.agree[0] / n, two * c.k.agree[1] / n,
               two * c.k.mask1 / n, two * c.k.mask2 / n);
    }
    free_network(net);
    return rc;
}
