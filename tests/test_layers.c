/* One table-driven test of every darknet3d layer with a gradient: cfg parse, central finite differences of the input and parameter gradients, guard bytes around every buffer handed to the layers, SGD update, CPU vs GPU and optional timing. */
#include <stdint.h>
#include <time.h>
#include "testlib.h"
#include "darknet.h"
#include "activations.h"
#include "darknet3d.h"
#include "layer3d.h"
#include "conv3d_common.h"
#include "conv3d_wgrad_avx2.h"
#include "amp.h"
#ifdef GPU
#include "cuda.h"
#endif

/* How a row fills the network input. */
enum { IN_UNIFORM,   /* uniform in [-1, 1] */
       IN_SMALL,     /* uniform in [-0.4, 0.4] (the steep part of [r2s]) */
       IN_DISTINCT,  /* distinct values 0.01 apart, shuffled (maxpool: no argmax changes within +-eps) */
       IN_BLOBS };   /* probability maps of blobs in (0, 1) ([dtransform]) */

/* One row: the layer section(s) after a [net] of the given input shape. The loss is sum(g * output of the last
 * layer) with g uniform in [-1, 1]; every gradient (input and all parameters of all layers) is compared with central
 * differences of step eps in double: max|fd - analytic| / max(max|analytic|, 1e-3) <= tol. fd_every checks every
 * k-th input element (1: all). no_fd names why finite differences do not apply (the row still runs the other steps). */
typedef struct {
    const char *name;
    int n, c, d, h, w;
    const char *cfg;
    int train, input;
    float eps, tol, gpu_tol;
    int fd_every;
    const char *no_fd;
    unsigned seed;   /* IN_BLOBS: blob seed of volume i is seed + i, and g is uniform in [-0.5, 0.5] from seed 5 */
} layer_row;

static const layer_row ROWS[] = {
    /* [conv3d]: the former per-file rigs of tests/test_conv3d.c, now through the cfg parser */
    {"conv3d_plain_noncubic", 2, 3, 5, 6, 7, "[conv3d]\nfilters=4\nsize_d=3\nsize_h=2\nsize_w=3\nstride_d=1\nstride_h=1\nstride_w=2\npad_d=1\npad_h=0\npad_w=1\nbias=1\nactivation=logistic\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"conv3d_bn_stride2_train", 2, 3, 5, 6, 7, "[conv3d]\nfilters=4\nsize=3\nstride=2\npad=1\nbatch_normalize=1\nbias=1\nactivation=logistic\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"conv3d_bn_stride2_inference", 2, 3, 5, 6, 7, "[conv3d]\nfilters=4\nsize=3\nstride=2\npad=1\nbatch_normalize=1\nbias=1\nactivation=logistic\n", 0, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"conv3d_bn_nobias_pad0", 2, 3, 5, 6, 7, "[conv3d]\nfilters=3\nsize_d=2\nsize_h=3\nsize_w=1\nstride_d=2\nstride_h=1\nstride_w=1\npad=0\nbatch_normalize=1\nbias=0\nactivation=linear\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"conv3d_bn_stride1_flip", 2, 3, 5, 6, 7, "[conv3d]\nfilters=4\nsize_d=3\nsize_h=2\nsize_w=3\nstride=1\npad_d=2\npad_h=0\npad_w=1\nbatch_normalize=1\nbias=1\nactivation=logistic\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"conv3d_pointwise", 2, 3, 5, 6, 7, "[conv3d]\nfilters=2\nsize=1\nstride=1\npad=0\nbias=1\nactivation=tanh\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"conv3d_1x1x1_input", 2, 3, 1, 1, 1, "[conv3d]\nfilters=3\nsize=3\nstride=1\npad=1\nbias=1\nactivation=tanh\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"conv3d_odd_bn_stride3", 3, 2, 7, 5, 9, "[conv3d]\nfilters=5\nsize=3\nstride_d=3\nstride_h=2\nstride_w=3\npad=1\nbatch_normalize=1\nbias=0\nactivation=logistic\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    /* channels a multiple of 8, as in the paper's model: the shapes cuDNN's tensor-core engines take at fp16/bf16/tf32 */
    /* rows of 16 voxels or more with at most 8 filters take the direct AVX-512 loops (layers/conv3d_direct.h) */
    {"conv3d_direct_thin", 2, 3, 3, 2, 18, "[conv3d]\nfilters=5\nsize=3\nstride=1\npad=1\nbatch_normalize=1\nbias=1\nactivation=logistic\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    /* run with conv3d_wgrad_avx2_mode = 2: the weight gradient through the AVX2 kernels (layers/conv3d_wgrad_avx2.h)
     * on any CPU with AVX2, in a oneDNN build: rows of 11 take the outer-product kernel, rows of 33 the row loops */
    {"conv3d_wgrad_avx2", 2, 3, 3, 4, 11, "[conv3d]\nfilters=9\nsize=3\nstride=1\npad=1\nbatch_normalize=1\nbias=1\nactivation=logistic\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"conv3d_wgrad_avx2_rows", 2, 3, 2, 2, 33, "[conv3d]\nfilters=9\nsize=3\nstride=1\npad=1\nbatch_normalize=1\nbias=1\nactivation=logistic\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"conv3d_c16_bn_tc", 2, 16, 6, 8, 8, "[conv3d]\nfilters=16\nsize=3\npad=1\nbatch_normalize=1\nbias=1\nactivation=logistic\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1,
     "the smaller conv3d rows check the gradients; this one is for the GPU engines of 16-channel shapes"},
    {"deconv3d_c16_tc", 2, 16, 3, 4, 4, "[deconv3d]\nfilters=16\nsize=2\nstride=2\nbatch_normalize=1\nbias=1\nactivation=logistic\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1,
     "the smaller deconv3d rows check the gradients; this one is for the GPU engines of 16-channel shapes"},
    /* the shapes of the GPU's direct kernels for thin layers (layers/conv3d_thin.h): a head, a head over two blocks
     * of 16 channels, a first layer over two blocks of 16 filters, an unpadded 3x3x3 into few filters */
    {"conv3d_thin_head", 2, 16, 3, 4, 5, "[conv3d]\nfilters=1\nsize=1\nbias=1\nactivation=tanh\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"conv3d_thin_head_c20", 2, 20, 2, 3, 5, "[conv3d]\nfilters=2\nsize=1\nbias=0\nactivation=linear\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"conv3d_thin_first", 2, 1, 3, 4, 5, "[conv3d]\nfilters=20\nsize=3\npad=1\nbatch_normalize=1\nbias=1\nactivation=logistic\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"conv3d_thin_k3_pad0", 2, 6, 4, 5, 6, "[conv3d]\nfilters=2\nsize=3\npad=0\nbias=1\nactivation=linear\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"conv3d_thin_k2s2", 2, 4, 4, 6, 5, "[conv3d]\nfilters=6\nsize=2\nstride=2\npad=0\nbatch_normalize=1\nbias=1\nactivation=logistic\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"conv3d_thin_c32_f16", 2, 32, 2, 4, 5, "[conv3d]\nfilters=16\nsize=3\npad=1\nbatch_normalize=1\nbias=1\nactivation=relu\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1,
     "the smaller conv3d rows check the gradients; this one is for the GPU's direct kernels at 32 channels into 16 filters"},
    {"conv3d_bn_leaky", 2, 4, 3, 4, 5, "[conv3d]\nfilters=5\nsize=3\npad=1\nbatch_normalize=1\nbias=1\nactivation=leaky\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1,
     "leaky's kink is crossed by central differences; this row is for the GPU's batch-norm backward, which takes leaky's gradient from x_norm inside its two passes"},
    /* [deconv3d] */
    {"deconv3d_plain_noncubic", 2, 3, 3, 4, 5, "[deconv3d]\nfilters=4\nsize_d=3\nsize_h=2\nsize_w=3\nstride_d=2\nstride_h=1\nstride_w=2\npad_d=1\npad_h=0\npad_w=1\nbias=1\nactivation=logistic\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"deconv3d_bn_stride2_train", 2, 3, 3, 4, 5, "[deconv3d]\nfilters=4\nsize=2\nstride=2\npad=0\nbatch_normalize=1\nbias=1\nactivation=logistic\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"deconv3d_bn_stride2_inference", 2, 3, 3, 4, 5, "[deconv3d]\nfilters=4\nsize=2\nstride=2\npad=0\nbatch_normalize=1\nbias=1\nactivation=logistic\n", 0, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"deconv3d_bn_nobias_pad0", 2, 3, 3, 4, 5, "[deconv3d]\nfilters=3\nsize_d=2\nsize_h=3\nsize_w=1\nstride_d=2\nstride_h=1\nstride_w=1\npad=0\nbatch_normalize=1\nbias=0\nactivation=linear\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"deconv3d_bn_stride1", 2, 3, 3, 4, 5, "[deconv3d]\nfilters=4\nsize_d=3\nsize_h=2\nsize_w=3\nstride=1\npad_d=2\npad_h=0\npad_w=1\nbatch_normalize=1\nbias=1\nactivation=logistic\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"deconv3d_pointwise", 2, 3, 3, 4, 5, "[deconv3d]\nfilters=2\nsize=1\nstride=1\npad=0\nbias=1\nactivation=tanh\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    {"deconv3d_1x1x1_input", 2, 2, 1, 1, 1, "[deconv3d]\nfilters=3\nsize=2\nstride=2\npad=0\nbatch_normalize=1\nbias=1\nactivation=logistic\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    /* [upsample3d]: the former rigs of tests/test_upsample3d.c, both align_corners */
    {"upsample3d_s222_ac0", 2, 3, 5, 6, 7, "[upsample3d]\nstride=2\nalign_corners=0\n", 1, IN_UNIFORM, 1e-2f, 1e-3f, 1e-5f, 1, 0},
    {"upsample3d_s222_ac1", 2, 3, 5, 6, 7, "[upsample3d]\nstride=2\nalign_corners=1\n", 1, IN_UNIFORM, 1e-2f, 1e-3f, 1e-5f, 1, 0},
    {"upsample3d_s123_ac0", 2, 3, 5, 6, 7, "[upsample3d]\nstride_d=1\nstride_h=2\nstride_w=3\nalign_corners=0\n", 1, IN_UNIFORM, 1e-2f, 1e-3f, 1e-5f, 1, 0},
    {"upsample3d_s123_ac1", 2, 3, 5, 6, 7, "[upsample3d]\nstride_d=1\nstride_h=2\nstride_w=3\nalign_corners=1\n", 1, IN_UNIFORM, 1e-2f, 1e-3f, 1e-5f, 1, 0},
    {"upsample3d_s312_ac0", 2, 3, 5, 6, 7, "[upsample3d]\nstride_d=3\nstride_h=1\nstride_w=2\nalign_corners=0\n", 1, IN_UNIFORM, 1e-2f, 1e-3f, 1e-5f, 1, 0},
    {"upsample3d_s312_ac1", 2, 3, 5, 6, 7, "[upsample3d]\nstride_d=3\nstride_h=1\nstride_w=2\nalign_corners=1\n", 1, IN_UNIFORM, 1e-2f, 1e-3f, 1e-5f, 1, 0},
    {"upsample3d_size1_axes_ac0", 1, 2, 1, 3, 1, "[upsample3d]\nstride_d=2\nstride_h=3\nstride_w=2\nalign_corners=0\n", 1, IN_UNIFORM, 1e-2f, 1e-3f, 1e-5f, 1, 0},
    {"upsample3d_size1_axes_ac1", 1, 2, 1, 3, 1, "[upsample3d]\nstride_d=2\nstride_h=3\nstride_w=2\nalign_corners=1\n", 1, IN_UNIFORM, 1e-2f, 1e-3f, 1e-5f, 1, 0},
    {"upsample3d_1x1x1_ac1", 1, 2, 1, 1, 1, "[upsample3d]\nstride=2\nalign_corners=1\n", 1, IN_UNIFORM, 1e-2f, 1e-3f, 1e-5f, 1, 0},
    /* [maxpool3d]: the former rigs of tests/test_maxpool3d.c */
    {"maxpool3d_k2s2p0", 2, 3, 5, 6, 7, "[maxpool3d]\nsize=2\nstride=2\npad=0\n", 1, IN_DISTINCT, 2e-3f, 1e-3f, 1e-5f, 1, 0},
    {"maxpool3d_k3s2p1", 2, 3, 5, 6, 7, "[maxpool3d]\nsize=3\nstride=2\npad=1\n", 1, IN_DISTINCT, 2e-3f, 1e-3f, 1e-5f, 1, 0},
    {"maxpool3d_k3s1_overlap", 2, 3, 5, 6, 7, "[maxpool3d]\nsize=3\nstride=1\npad_d=0\npad_h=1\npad_w=0\n", 1, IN_DISTINCT, 2e-3f, 1e-3f, 1e-5f, 1, 0},
    {"maxpool3d_k123_s132_p011", 2, 3, 5, 6, 7, "[maxpool3d]\nsize_d=1\nsize_h=2\nsize_w=3\nstride_d=1\nstride_h=3\nstride_w=2\npad_d=0\npad_h=1\npad_w=1\n", 1, IN_DISTINCT, 2e-3f, 1e-3f, 1e-5f, 1, 0},
    {"maxpool3d_size1_axes", 1, 2, 1, 6, 1, "[maxpool3d]\nsize_d=1\nsize_h=2\nsize_w=1\nstride_d=1\nstride_h=2\nstride_w=1\npad=0\n", 1, IN_DISTINCT, 2e-3f, 1e-3f, 1e-5f, 1, 0},
    {"maxpool3d_1x1x1", 2, 3, 1, 1, 1, "[maxpool3d]\nsize=1\nstride=1\npad=0\n", 1, IN_DISTINCT, 2e-3f, 1e-3f, 1e-5f, 1, 0},
    /* [r2s]: the former rig of tests/test_r2s.c */
    {"r2s_k-7.5", 3, 1, 5, 4, 7, "[r2s]\nk=-7.5\n", 1, IN_SMALL, 1e-3f, 1e-4f, 1e-4f, 1, 0},
    {"r2s_1x1x1_k3", 2, 1, 1, 1, 1, "[r2s]\nk=3\n", 1, IN_SMALL, 1e-3f, 1e-4f, 1e-4f, 1, 0},
    /* [dualsplit]: branch A r2s k=-2, branch B (through the split) r2s k=3, summed by [shortcut] */
    {"dualsplit_two_branches", 2, 3, 2, 3, 5, "[upsample3d]\nstride_d=2\nstride_h=1\nstride_w=1\n\n[r2s]\nk=-2\n\n[dualsplit]\nlayers=-2\n\n[r2s]\nk=3\n\n[shortcut]\nfrom=1\nactivation=linear\n", 1, IN_UNIFORM, 1e-3f, 1e-3f, 1e-5f, 1, 0},
    {"dualsplit_conv_branches", 2, 2, 3, 4, 5, "[conv3d]\nfilters=3\nsize=3\npad=1\nactivation=tanh\n\n[conv3d]\nfilters=2\nsize=1\nactivation=logistic\n\n[dualsplit]\nlayers=0\n\n[conv3d]\nfilters=2\nsize=3\npad=1\nactivation=linear\n\n[shortcut]\nfrom=1\nactivation=linear\n", 1, IN_UNIFORM, 1e-2f, 5e-3f, 1e-4f, 1, 0},
    /* [dtransform]: the former rig of tests/test_dtransform.c (sigmoid binarisation, small tau: a smooth map) */
    {"dtransform_sigmoid_s1", 1, 1, 6, 5, 8, "[dtransform]\nbinarize=sigmoid\ntau=3\nscale=1\n", 1, IN_BLOBS, 1e-3f, 2e-3f, 1e-3f, 1, 0, 9},
    {"dtransform_sigmoid_s05", 1, 1, 6, 5, 8, "[dtransform]\nbinarize=sigmoid\ntau=3\nscale=0.5\n", 1, IN_BLOBS, 1e-3f, 2e-3f, 1e-3f, 1, 0, 10},
    {"dtransform_sigmoid_2ch_odd", 2, 2, 5, 3, 7, "[dtransform]\nbinarize=sigmoid\ntau=3\nscale=1\n", 1, IN_BLOBS, 3e-4f, 2e-3f, 1e-3f, 1, 0},
    {"dtransform_ste", 1, 1, 6, 5, 8, "[dtransform]\nbinarize=ste\nscale=1\n", 1, IN_BLOBS, 1e-3f, 0, 1e-3f, 1,
     "ste passes the gradient straight through a hard threshold (its backward is not the forward's derivative; tests/test_dtransform.c compares it with PyTorch)"},
    {"dtransform_softmin", 1, 1, 6, 5, 8, "[dtransform]\nbinarize=softmin\nscale=1\n", 1, IN_BLOBS, 1e-3f, 0, 1e-3f, 1,
     "softmin's mask is the hard [p > 0.5] of ste, its gradient passes through the threshold (tests/test_dtransform.c compares it with PyTorch)"},
};

/* ---- guard bytes: every buffer handed to the layers has GUARD floats of a canary pattern on each side ---- */
#define GUARD 64
static const uint32_t CANARY = 0x7fbada55u;   /* a NaN: a layer that reads it poisons its output */

typedef struct { float *base; size_t n; int gpu; } gbuf;

static float *gbuf_make(gbuf *b, size_t n)
{
    size_t i;
    if(n > ((size_t)1 << 36)) n = 0;   /* no test shape comes near; keeps the sizes below in range */
    b->n = n; b->gpu = 0;
    b->base = malloc((n + 2 * GUARD) * sizeof(float));
    for(i = 0; i < n + 2 * GUARD; ++i) memcpy(b->base + i, &CANARY, 4);
    memset(b->base + GUARD, 0, n * sizeof(float));
    return b->base + GUARD;
}

/* number of guard floats that changed */
static int gbuf_damage(const gbuf *b, const float *host)
{
    const float *p = host ? host : b->base;
    int bad = 0;
    size_t i;
    for(i = 0; i < GUARD; ++i){
        bad += memcmp(p + i, &CANARY, 4) != 0;
        bad += memcmp(p + GUARD + b->n + i, &CANARY, 4) != 0;
    }
    return bad;
}

#ifdef GPU
static float *gbuf_make_gpu(gbuf *b, size_t n)
{
    float *h = malloc((n + 2 * GUARD) * sizeof(float));
    gbuf t;
    float *p = gbuf_make(&t, n);
    (void)p;
    memcpy(h, t.base, (n + 2 * GUARD) * sizeof(float));
    free(t.base);
    b->n = n; b->gpu = 1;
    b->base = cuda_make_array(h, n + 2 * GUARD);
    free(h);
    return b->base + GUARD;
}
#endif

static int gbuf_check(const gbuf *b)
{
    if(!b->base) return 0;
#ifdef GPU
    if(b->gpu){
        float *h = malloc((b->n + 2 * GUARD) * sizeof(float));
        cuda_pull_array(b->base, h, b->n + 2 * GUARD);
        int bad = gbuf_damage(b, h);
        free(h);
        return bad;
    }
#endif
    return gbuf_damage(b, 0);
}

static void gbuf_free(gbuf *b)
{
    if(!b->base) return;
#ifdef GPU
    if(b->gpu){ cuda_free(b->base); b->base = 0; return; }
#endif
    free(b->base);
    b->base = 0;
}

/* ---- the network of a row, with guarded input, input delta and workspace ---- */
typedef struct {
    network *net;
    float *orig_input, *orig_ws;
    gbuf in, dx, ws;
#ifdef GPU
    float *orig_input_gpu;
#endif
    size_t nin, nout;
} rig;

static float urand(unsigned *s) { *s = *s * 1664525u + 1013904223u; return (*s >> 8) / 16777216.f; }
static void fill(float *x, size_t n, float lo, float hi, unsigned *s) { size_t i; for(i = 0; i < n; ++i) x[i] = lo + (hi - lo) * urand(s); }

static void blobs(float *x, int D, int H, int W, unsigned seed)
{
    int i, z, y, xx, nb = 2;
    float c[2][4];
    for(i = 0; i < nb; ++i){ c[i][0] = urand(&seed) * D; c[i][1] = urand(&seed) * H; c[i][2] = urand(&seed) * W; c[i][3] = 1.5f + urand(&seed) * 3; }
    for(z = 0; z < D; ++z) for(y = 0; y < H; ++y) for(xx = 0; xx < W; ++xx){
        float f = -100;
        for(i = 0; i < nb; ++i){
            float dz = z - c[i][0], dy = y - c[i][1], dx = xx - c[i][2];
            float v = c[i][3] - sqrtf(dz * dz + dy * dy + dx * dx);
            if(v > f) f = v;
        }
        f += 0.4f * (urand(&seed) - 0.5f);
        x[xx + W * (y + H * z)] = 1.f / (1.f + expf(-1.5f * f));
    }
}

static int is_conv(layer l) { return l.type == CONV3D || l.type == DECONV3D; }

static network *parse_row(const layer_row *r, int gpu, char *err, size_t errlen)
{
    char path[256], text[4096];
    snprintf(path, sizeof(path), "tests/out/layers_%s.cfg", r->name);
    snprintf(text, sizeof(text), "[net]\nbatch=%d\nchannels=%d\ndepth=%d\nheight=%d\nwidth=%d\n\n%s", r->n, r->c, r->d, r->h, r->w, r->cfg);
    if(write_text(path, text)){ snprintf(err, errlen, "cannot write %s", path); return 0; }
    int gi = gpu_index;
    gpu_index = gpu ? 0 : -1;
    network *net = parse_network_cfg_err(path, err, errlen);
    gpu_index = gi;
    if(net) net->gpu_index = gpu ? 0 : -1;
    return net;
}

static size_t max_workspace(network *net)
{
    size_t m = 0;
    int i;
    for(i = 0; i < net->n; ++i) if(net->layers[i].workspace_size > m) m = net->layers[i].workspace_size;
    return m;
}

static int rig_make(rig *g, const layer_row *r, char *err, size_t errlen)
{
    memset(g, 0, sizeof(*g));
    g->net = parse_row(r, 0, err, errlen);
    if(!g->net) return -1;
    network *net = g->net;
    g->nin = (size_t)net->batch * net->inputs;
    g->nout = (size_t)net->batch * net->layers[net->n - 1].outputs;
    g->orig_input = net->input;
    g->orig_ws = net->workspace;
    net->input = gbuf_make(&g->in, g->nin);
    net->delta = gbuf_make(&g->dx, g->nin);
    size_t ws = max_workspace(net);
    net->workspace = ws ? gbuf_make(&g->ws, ws / sizeof(float) + 1) : 0;
    return 0;
}

static void rig_free(rig *g)
{
    if(!g->net) return;
    g->net->input = g->orig_input;
    g->net->workspace = g->orig_ws;
    g->net->delta = 0;
    free_network(g->net);
    gbuf_free(&g->in); gbuf_free(&g->dx); gbuf_free(&g->ws);
}

static int rig_guards(rig *g) { return gbuf_check(&g->in) + gbuf_check(&g->dx) + gbuf_check(&g->ws); }

/* ---- the parameters of every layer, in one list ---- */
typedef struct { const char *what; int layer; float *p, *dp; size_t n; double floor; } pgroup;

static int param_groups(network *net, int train, pgroup *out, int max)
{
    int i, k = 0;
    for(i = 0; i < net->n && k + 4 <= max; ++i){
        layer l = net->layers[i];
        if(l.nweights && l.weights && l.weight_updates) out[k++] = (pgroup){"weights", i, l.weights, l.weight_updates, (size_t)l.nweights, 1e-3};
        if(l.nbiases && l.biases && l.bias_updates) out[k++] = (pgroup){"biases", i, l.biases, l.bias_updates, (size_t)l.nbiases, 1e-3};
        if(l.batch_normalize && l.scales && l.scale_updates) out[k++] = (pgroup){"scales", i, l.scales, l.scale_updates, (size_t)l.out_c, 1e-3};
        if(is_conv(l) && c3_state(l)->pre_bias)
            /* in training BN cancels this bias: both sides are ~0, judged against the bias gradient's scale */
            out[k++] = (pgroup){"pre-BN bias", i, c3_state(l)->pre_b, c3_state(l)->pre_b_updates, (size_t)l.out_c, train ? 1.0 : 1e-3};
    }
    return k;
}

static void fill_params(network *net, unsigned *s)
{
    int i;
    for(i = 0; i < net->n; ++i){
        layer l = net->layers[i];
        if(l.nweights && l.weights) fill(l.weights, l.nweights, -0.5f, 0.5f, s);
        if(l.nbiases && l.biases) fill(l.biases, l.nbiases, -0.5f, 0.5f, s);
        if(l.batch_normalize && l.scales){
            fill(l.scales, l.out_c, 0.5f, 1.5f, s);
            fill(l.rolling_mean, l.out_c, -0.5f, 0.5f, s);
            fill(l.rolling_variance, l.out_c, 0.5f, 1.5f, s);
        }
        if(is_conv(l) && c3_state(l)->pre_bias) fill(c3_state(l)->pre_b, l.out_c, -0.5f, 0.5f, s);
    }
}

static void zero_updates(network *net)
{
    int i;
    for(i = 0; i < net->n; ++i){
        layer l = net->layers[i];
        if(l.nweights && l.weight_updates) memset(l.weight_updates, 0, l.nweights * sizeof(float));
        if(l.nbiases && l.bias_updates) memset(l.bias_updates, 0, l.nbiases * sizeof(float));
        if(l.batch_normalize && l.scale_updates) memset(l.scale_updates, 0, l.out_c * sizeof(float));
        if(is_conv(l) && c3_state(l)->pre_bias) memset(c3_state(l)->pre_b_updates, 0, l.out_c * sizeof(float));
    }
}

/* Backward adds to the gradient buffers (Darknet's rule: an input's delta sums the gradients of all its readers, the
 * updates sum over subdivisions and carry momentum). A buffer pre-filled with a pattern as large as half the
 * gradient, less that pattern after backward, is the gradient again; one that backward overwrote is off by the
 * pattern. accum_pattern: the pattern for a gradient like ref. accum_err: subtracts it, then the error against ref. */
static float *accum_pattern(const float *ref, size_t n, unsigned seed)
{
    float *pat = malloc((n ? n : 1) * sizeof(float)), m = 0;
    size_t i;
    for(i = 0; i < n; ++i) if(fabsf(ref[i]) > m) m = fabsf(ref[i]);
    if(!(m > 0)) m = 1;
    fill(pat, n, -0.5f * m, 0.5f * m, &seed);
    return pat;
}

/* each parameter group's updates set to its pattern (pp[k], like an[k]: the group's gradient) */
static void prefill_updates(pgroup *pg, int ng, float **an, float **pp)
{
    int k;
    for(k = 0; k < ng; ++k){ pp[k] = accum_pattern(an[k], pg[k].n, 2 + k); memcpy(pg[k].dp, pp[k], pg[k].n * sizeof(float)); }
}

static double accum_err(float *got, const float *pat, const float *ref, size_t n, double floor_)
{
    size_t i;
    for(i = 0; i < n; ++i) got[i] -= pat[i];
    return max_rel_err(got, ref, n, floor_);
}

static void fill_input(const layer_row *r, float *x, size_t n, unsigned *s)
{
    size_t i;
    if(r->input == IN_UNIFORM) fill(x, n, -1, 1, s);
    else if(r->input == IN_SMALL) fill(x, n, -0.4f, 0.4f, s);
    else if(r->input == IN_DISTINCT){
        for(i = 0; i < n; ++i) x[i] = 0.01f * i - 3.f;
        for(i = n - 1; i > 0; --i){ size_t j = (size_t)(urand(s) * (i + 1)) % (i + 1); float t = x[i]; x[i] = x[j]; x[j] = t; }
    }else{
        size_t v = (size_t)r->d * r->h * r->w;
        for(i = 0; i < n / v; ++i) blobs(x + i * v, r->d, r->h, r->w, (r->seed ? r->seed : 40) + (unsigned)i);
    }
}

static double loss_of(rig *g, const float *gy, int train)
{
    g->net->train = train;
    forward_network(g->net);
    const float *y = g->net->layers[g->net->n - 1].output;
    double s = 0;
    size_t i;
    for(i = 0; i < g->nout; ++i) s += (double)gy[i] * y[i];
    return s;
}

/* forward, then backward of sum(gy * y): net->delta and the updates hold the analytic gradients */
static void analytic(rig *g, const float *gy, int train)
{
    network *net = g->net;
    net->train = train;
    forward_network(net);
    memcpy(net->layers[net->n - 1].delta, gy, g->nout * sizeof(float));
    memset(net->delta, 0, g->nin * sizeof(float));
    zero_updates(net);
    backward_network(net);
}

/* analytic() again with the input delta and the updates pre-filled (accum_pattern): each must come out as the
 * pattern plus the gradient analytic() gave */
static void cpu_accumulates(rig *g, const layer_row *r, const float *gy, const float *adx, pgroup *pg, int ng, float **an)
{
    network *net = g->net;
    float *pd = accum_pattern(adx, g->nin, 1), *pp[64];
    int k;
    net->train = r->train;
    forward_network(net);
    memcpy(net->layers[net->n - 1].delta, gy, g->nout * sizeof(float));
    memcpy(net->delta, pd, g->nin * sizeof(float));
    prefill_updates(pg, ng, an, pp);
    backward_network(net);
    double e = accum_err(net->delta, pd, adx, g->nin, 1e-6);
    CHECK_MSG(e <= 1e-5, "%s: backward did not add to the input gradient it was given (rel err %g)", r->name, e);
    for(k = 0; k < ng; ++k){
        e = accum_err(pg[k].dp, pp[k], an[k], pg[k].n, pg[k].floor);
        CHECK_MSG(e <= 1e-5, "%s: layer %d %s: backward did not add to the updates (rel err %g)", r->name, pg[k].layer, pg[k].what, e);
        free(pp[k]);
    }
    free(pd);
}

/* max|fd - an| / max(max|an|, floor) over every every-th entry of p */
static double fd_err(rig *g, const float *gy, int train, float *p, const float *an, size_t n, int every, float h, double floor_)
{
    double num = 0, den = floor_;
    size_t j;
    for(j = 0; j < n; ++j) if(fabs(an[j]) > den) den = fabs(an[j]);
    for(j = 0; j < n; j += every){
        float v = p[j];
        p[j] = v + h; double lp = loss_of(g, gy, train);
        p[j] = v - h; double lm = loss_of(g, gy, train);
        p[j] = v;
        double d = fabs((lp - lm) / (2.0 * h) - an[j]);
        if(!(d <= num)) num = d;   /* NaN wins */
    }
    return num / den;
}

static int all_finite(const float *x, size_t n) { size_t i; for(i = 0; i < n; ++i) if(!isfinite(x[i])) return 0; return 1; }

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

#ifdef GPU
/* every layer's parameters and updates, host to device */
static void push_gpu(network *net)
{
    int i;
    for(i = 0; i < net->n; ++i){
        layer l = net->layers[i];
        if(is_conv(l)){ c3_push(l); continue; }
        layer3d_push(l.weights_gpu, l.weights, l.nweights);
        layer3d_push(l.weight_updates_gpu, l.weight_updates, l.nweights);
        layer3d_push(l.biases_gpu, l.biases, l.nbiases);
        layer3d_push(l.bias_updates_gpu, l.bias_updates, l.nbiases);
    }
}

static void push_params(network *dst, network *src)
{
    int i;
    for(i = 0; i < dst->n; ++i){
        layer a = dst->layers[i], b = src->layers[i];
        if(a.nweights) memcpy(a.weights, b.weights, a.nweights * sizeof(float));
        if(a.nbiases) memcpy(a.biases, b.biases, a.nbiases * sizeof(float));
        if(a.batch_normalize && a.scales){
            memcpy(a.scales, b.scales, a.out_c * sizeof(float));
            memcpy(a.rolling_mean, b.rolling_mean, a.out_c * sizeof(float));
            memcpy(a.rolling_variance, b.rolling_variance, a.out_c * sizeof(float));
        }
        if(is_conv(a) && c3_state(a)->pre_bias) memcpy(c3_state(a)->pre_b, c3_state(b)->pre_b, a.out_c * sizeof(float));
    }
    zero_updates(dst);
    push_gpu(dst);
}

static void pull_params(network *net)
{
    int i;
    for(i = 0; i < net->n; ++i){
        layer l = net->layers[i];
        if(is_conv(l)){ c3_pull(l); continue; }
        layer3d_pull(l.weight_updates_gpu, l.weight_updates, l.nweights);
        layer3d_pull(l.bias_updates_gpu, l.bias_updates, l.nbiases);
    }
}

/* The same row on the GPU from the CPU rig's parameters (before any update): output, input gradient, parameter gradients. */
static void gpu_vs_cpu(const layer_row *r, rig *c, const float *x, const float *gy, const float *cy, const float *cdx, float **an, int timing)
{
    char err[1024] = {0};
    network *net = parse_row(r, 1, err, sizeof(err));
    CHECK_MSG(net != 0, "%s: GPU parse: %s", r->name, err);
    if(!net) return;
    /* Darknet's cuda_make_array allocates nothing while gpu_index < 0 (the CPU rows run so): the device is current
     * for the whole comparison */
    int gi = gpu_index;
    gpu_index = 0;
    gbuf in, dx, ws;
    memset(&ws, 0, sizeof(ws));
    float *orig_in_gpu = net->input_gpu, *orig_ws = net->workspace;
    memcpy(net->input, x, c->nin * sizeof(float));
    net->input_gpu = gbuf_make_gpu(&in, c->nin);
    net->delta_gpu = gbuf_make_gpu(&dx, c->nin);
    size_t wsz = max_workspace(net);
    net->workspace = wsz ? gbuf_make_gpu(&ws, wsz / sizeof(float) + 1) : 0;
    push_params(net, c->net);
    /* backward must add to what the buffers hold: the input delta and the updates start from patterns
     * (accum_pattern), taken off again below */
    pgroup pg[64];
    int k, ng = param_groups(net, r->train, pg, 64);
    float *pd = accum_pattern(cdx, c->nin, 1), *pp[64];
    prefill_updates(pg, ng, an, pp);
    push_gpu(net);
    cuda_push_array(net->delta_gpu, pd, c->nin);
    layer last = net->layers[net->n - 1];
    /* fp16|bf16: the layout the convolutions' 16-bit copies took; the 16-channel rows, which cuDNN's tensor-core
     * engines take in both layouts, must keep the one asked for (a fallback would leave channels-last untested) */
    for(int i = 0; amp_half() && i < net->n; ++i){
        layer li = net->layers[i];
        if(li.type != CONV3D && li.type != DECONV3D) continue;
        int cl = c3_state(li)->nhwc;
        if(strstr(r->name, "_c16_")) CHECK_MSG(cl == darknet3d_channels_last, "%s: layer %d: 16-bit copies %s, asked for %s", r->name, i,
                                               cl ? "channels-last" : "NCDHW", darknet3d_channels_last ? "channels-last" : "NCDHW");
        else if(cl != darknet3d_channels_last) printf("  %s: layer %d keeps NCDHW 16-bit copies (no channels-last cuDNN algorithm)\n", r->name, i);
    }
    /* a _thin row that ran cuDNN's path would test nothing new */
    for(int i = 0; c3_thin_gpu_mode == 2 && i < net->n; ++i) if(is_conv(net->layers[i]) && c3_thin_applies(&net->layers[i]))
        CHECK_MSG(c3_state(net->layers[i])->thin == (C3_THIN_FW | C3_THIN_BWD), "%s: layer %d: the thin-layer kernels were not chosen "
                  "for both passes (%d)", r->name, i, c3_state(net->layers[i])->thin);
    double t0 = now_ms();
    net->train = r->train;
    forward_network(net);
    double t1 = now_ms();
    cuda_push_array(last.delta_gpu, (float *)gy, c->nout);
    backward_network(net);
    float *y = malloc(c->nout * sizeof(float)), *d = malloc(c->nin * sizeof(float));
    cuda_pull_array(last.output_gpu, y, c->nout);
    cuda_pull_array(net->delta_gpu, d, c->nin);
    double t2 = now_ms();
    pull_params(net);
    double ey = max_rel_err(y, cy, c->nout, 1e-6), ed = accum_err(d, pd, cdx, c->nin, 1e-6);
    CHECK_MSG(ey <= r->gpu_tol, "%s: GPU output rel err %g", r->name, ey);
    /* a 16-bit row that matches the CPU to FP32 rounding did not run the 16-bit path */
    if(amp_half() && c3_thin_gpu_mode != 2) CHECK_MSG(ey > 2e-6, "%s: output rel err %g at precision %d: the 16-bit path did not run", r->name, ey, darknet3d_precision);
    CHECK_MSG(ed <= r->gpu_tol, "%s: GPU input grad rel err %g", r->name, ed);
    for(k = 0; k < ng; ++k){
        double e = accum_err(pg[k].dp, pp[k], an[k], pg[k].n, pg[k].floor);   /* the pre-BN bias in training: rounding noise on both sides */
        CHECK_MSG(e <= r->gpu_tol, "%s: GPU layer %d %s grad rel err %g", r->name, pg[k].layer, pg[k].what, e);
        free(pp[k]);
    }
    free(pd);
    int bad = gbuf_check(&in) + gbuf_check(&dx) + gbuf_check(&ws);
    CHECK_MSG(bad == 0, "%s: %d GPU guard floats overwritten", r->name, bad);
    if(timing) printf("  time %-32s gpu forward %8.3f ms  backward %8.3f ms\n", r->name, t1 - t0, t2 - t1);
    printf("  %-32s gpu vs cpu: output %.2e, input grad %.2e\n", r->name, ey, ed);
    net->input_gpu = orig_in_gpu;
    net->delta_gpu = 0;
    net->workspace = orig_ws;
    gbuf_free(&in); gbuf_free(&dx); gbuf_free(&ws);
    free(y); free(d);
    free_network(net);
    gpu_index = gi;
}
#endif

static int have_gpu = 0;

#ifdef GPU
/* 1 when a [conv3d] or [deconv3d] of the network takes the GPU's direct kernels for thin layers */
static int thin_row(const network *net)
{
    for(int i = 0; i < net->n; ++i) if(is_conv(net->layers[i]) && c3_thin_applies(&net->layers[i])) return 1;
    return 0;
}

/* the direct kernels stay FP32 at fp16 beside batch norm's 16-bit x_norm and the other layers' 16-bit copies: the
 * _thin row again at that precision, with its tolerance */
static void thin_row_fp16(const layer_row *r, rig *s, const float *x0, const float *gy, const float *y, const float *adx, float **an)
{
    layer_row rh = *r;
    rh.gpu_tol = 1e-2f;
    tl_cur_failed_ = 0;
    darknet3d_precision = DARKNET3D_FP16;
    gpu_vs_cpu(&rh, s, x0, gy, y, adx, an, 0);
    darknet3d_precision = DARKNET3D_FP32;
    printf("%s gpu_vs_cpu_thin_fp16_%s\n", tl_cur_failed_ ? "FAIL" : "PASS", r->name);
    if(tl_cur_failed_) tl_failed_++;
}
#endif

/* The guards see a write one float past either end of a buffer, and nothing else. */
static void test_guards_detect_overrun(void)
{
    gbuf b;
    float *p = gbuf_make(&b, 10);
    int i;
    for(i = 0; i < 10; ++i) p[i] = -1.f;
    CHECK(gbuf_check(&b) == 0);
    p[10] = 0;
    CHECK(gbuf_check(&b) == 1);
    p[-1] = 0;
    CHECK(gbuf_check(&b) == 2);
    gbuf_free(&b);
}

/* The activations with an exp in their formula stay finite, as do their gradients, at x = +-1000 and +-1e30 (where
 * exp overflows float and double), on the CPU and on the GPU; and give the textbook values there and at +-0.5. */
static const ACTIVATION EXP_ACTS[] = {TANH, ELU, SELU, LOGISTIC, LOGGY};
static const float HUGE_X[] = {1000.f, -1000.f, 1e30f, -1e30f, 0.5f, -0.5f};
#define N_HUGE_X (int)(sizeof(HUGE_X) / sizeof(HUGE_X[0]))

/* what act(x) is in double, for the finite values the table above must give */
static double act_reference(ACTIVATION a, double x)
{
    if(a == TANH) return tanh(x);
    if(a == ELU) return x >= 0 ? x : expm1(x);
    if(a == SELU) return x >= 0 ? 1.0507 * x : 1.0507 * 1.6732 * expm1(x);
    if(a == LOGISTIC) return x < -700 ? 0 : 1 / (1 + exp(-x));
    return x < -700 ? -1 : 2 / (1 + exp(-x)) - 1;
}

/* y[k] = act(HUGE_X[k]) and g[k] = act' at the output y[k] (Darknet's gradients take the output) checked: finite, and near the reference */
static void check_act_values(const char *where, ACTIVATION a, const float *y, const float *g)
{
    int k;
    for(k = 0; k < N_HUGE_X; ++k){
        double ref = act_reference(a, HUGE_X[k]);
        CHECK_MSG(isfinite(y[k]) && fabs(y[k] - ref) <= 1e-6 * fmax(1, fabs(ref)), "%s %s(%g) = %g, expected %g", where, get_activation_string(a), HUGE_X[k], y[k], ref);
        CHECK_MSG(isfinite(g[k]), "%s %s'(%g) at output %g = %g", where, get_activation_string(a), HUGE_X[k], y[k], g[k]);
    }
}

static void test_activation_overflow(void)
{
    int i, k;
    for(i = 0; i < (int)(sizeof(EXP_ACTS) / sizeof(EXP_ACTS[0])); ++i){
        ACTIVATION a = EXP_ACTS[i];
        float y[N_HUGE_X], g[N_HUGE_X];
        for(k = 0; k < N_HUGE_X; ++k){ y[k] = activate(HUGE_X[k], a); g[k] = 1.f; }
        gradient_array(y, N_HUGE_X, a, g);
        check_act_values("CPU", a, y, g);
#ifdef GPU
        if(!have_gpu) continue;
        int gi = gpu_index;
        gpu_index = 0;
        float ones[N_HUGE_X];
        for(k = 0; k < N_HUGE_X; ++k) ones[k] = 1.f;
        float *xg = cuda_make_array((float *)HUGE_X, N_HUGE_X), *dg = cuda_make_array(ones, N_HUGE_X);
        activate_array_gpu(xg, N_HUGE_X, a);
        gradient_array_gpu(xg, N_HUGE_X, a, dg);
        cuda_pull_array(xg, y, N_HUGE_X);
        cuda_pull_array(dg, g, N_HUGE_X);
        check_act_values("GPU", a, y, g);
        cuda_free(xg); cuda_free(dg);
        gpu_index = gi;
#endif
    }
}

static void run_row(const layer_row *r, int timing)
{
    char err[1024] = {0};
    rig g;
    unsigned seed = 12345;
    tl_name_ = r->name; tl_cur_failed_ = 0; tl_skipped_ = 0;
    if(rig_make(&g, r, err, sizeof(err))){
        CHECK_MSG(0, "%s: parse: %s", r->name, err);
    }else{
        network *net = g.net;
        float *gy = malloc(g.nout * sizeof(float)), *x0 = malloc(g.nin * sizeof(float));
        if(r->input == IN_BLOBS){ unsigned s5 = 5; fill(gy, g.nout, -0.5f, 0.5f, &s5); }
        else fill(gy, g.nout, -1, 1, &seed);
        fill_input(r, net->input, g.nin, &seed);
        memcpy(x0, net->input, g.nin * sizeof(float));
        fill_params(net, &seed);
#ifdef GPU
        /* the GPU run starts from these parameters; the CPU's training forward moves the rolling statistics */
        network *snap = have_gpu ? parse_row(r, 0, err, sizeof(err)) : 0;
        if(snap) push_params(snap, net);
#endif
        analytic(&g, gy, r->train);
        float *y = malloc(g.nout * sizeof(float)), *adx = malloc(g.nin * sizeof(float));
        memcpy(y, net->layers[net->n - 1].output, g.nout * sizeof(float));
        memcpy(adx, net->delta, g.nin * sizeof(float));
        CHECK_MSG(all_finite(y, g.nout) && all_finite(adx, g.nin), "%s: non-finite output or input gradient", r->name);
        int bad = rig_guards(&g);
        CHECK_MSG(bad == 0, "%s: %d guard floats overwritten by forward/backward", r->name, bad);
        pgroup pg[64];
        int k, ng = param_groups(net, r->train, pg, 64);
        float *an[64];
        for(k = 0; k < ng; ++k){ an[k] = malloc(pg[k].n * sizeof(float)); memcpy(an[k], pg[k].dp, pg[k].n * sizeof(float)); }
        cpu_accumulates(&g, r, gy, adx, pg, ng, an);
        if(r->no_fd){
            printf("  %-32s no finite differences: %s\n", r->name, r->no_fd);
        }else{
            double e = fd_err(&g, gy, r->train, net->input, adx, g.nin, r->fd_every, r->eps, 1e-3), worst = e;
            CHECK_MSG(e <= r->tol, "%s: input grad rel err %g (tol %g)", r->name, e, r->tol);
            for(k = 0; k < ng; ++k){
                double ep = fd_err(&g, gy, r->train, pg[k].p, an[k], pg[k].n, 1, r->eps, pg[k].floor);
                CHECK_MSG(ep <= r->tol, "%s: layer %d %s grad rel err %g (tol %g)", r->name, pg[k].layer, pg[k].what, ep, r->tol);
                if(ep > worst) worst = ep;
            }
            printf("  %-32s finite differences (eps %g): input %.2e, worst of input and %d parameter groups %.2e (tol %g)\n",
                   r->name, r->eps, e, ng, worst, r->tol);
        }
        bad = rig_guards(&g);
        CHECK_MSG(bad == 0, "%s: %d guard floats overwritten during finite differences", r->name, bad);
        if(timing){
            int rep, reps = 5;
            memcpy(net->input, x0, g.nin * sizeof(float));
            double tf = 0, tb = 0;
            for(rep = 0; rep < reps; ++rep){
                double t0 = now_ms();
                net->train = r->train;
                forward_network(net);
                double t1 = now_ms();
                memcpy(net->layers[net->n - 1].delta, gy, g.nout * sizeof(float));
                backward_network(net);
                tf += t1 - t0; tb += now_ms() - t1;
            }
            printf("  time %-32s cpu forward %8.3f ms  backward %8.3f ms  (mean of %d)\n", r->name, tf / reps, tb / reps, reps);
        }
        /* SGD update of every layer from the analytic gradients: parameters stay finite, guards intact */
        update_args a = {0};
        a.batch = net->batch; a.learning_rate = 0.01f; a.momentum = 0.9f; a.decay = 0.0005f;
        for(k = 0; k < ng; ++k) memcpy(pg[k].dp, an[k], pg[k].n * sizeof(float));
        for(k = 0; k < net->n; ++k) if(net->layers[k].update){
            net->layers[k].learning_rate_scale = 1;
            net->layers[k].update(net->layers[k], a);
        }
        for(k = 0; k < ng; ++k) CHECK_MSG(all_finite(pg[k].p, pg[k].n), "%s: layer %d %s not finite after update", r->name, pg[k].layer, pg[k].what);
        bad = rig_guards(&g);
        CHECK_MSG(bad == 0, "%s: %d guard floats overwritten by update", r->name, bad);
        if(!tl_cur_failed_) printf("PASS %s\n", r->name);
        else{ printf("FAIL %s\n", r->name); tl_failed_++; }
        fflush(stdout);
        /* CPU vs GPU */
        tl_cur_failed_ = 0;
#ifdef GPU
        if(snap){
            rig s = g;
            s.net = snap;
            /* cuDNN's path in these rows; the direct kernels for thin layers in the _thin row below */
            c3_thin_gpu_mode = 0;
            gpu_vs_cpu(r, &s, x0, gy, y, adx, an, timing);
            printf("%s gpu_vs_cpu_%s\n", tl_cur_failed_ ? "FAIL" : "PASS", r->name);
            if(tl_cur_failed_) tl_failed_++;
            if(thin_row(snap)){
                tl_cur_failed_ = 0;
                c3_thin_gpu_mode = 2;
                gpu_vs_cpu(r, &s, x0, gy, y, adx, an, timing);
                printf("%s gpu_vs_cpu_thin_%s\n", tl_cur_failed_ ? "FAIL" : "PASS", r->name);
                if(tl_cur_failed_) tl_failed_++;
                thin_row_fp16(r, &s, x0, gy, y, adx, an);
                c3_thin_gpu_mode = 0;
            }
            /* the convolutions at precision fp16 and bf16 (16-bit operands, FP32 accumulation) against the same FP32 CPU
             * results, with the tolerances docs/design.md states ("Mixed precision"); each in both layouts of the
             * 16-bit copies: channels-last (the default) and NCDHW (channels_last=0, the _ncdhw rows) */
            if(strstr(r->cfg, "conv3d]")){
                static const struct { int p; const char *name; float tol; } hp[] = {{DARKNET3D_FP16, "fp16", 1e-2f}, {DARKNET3D_BF16, "bf16", 4e-2f}};
                for(k = 0; k < 4; ++k){
                    layer_row rh = *r;
                    rh.gpu_tol = hp[k / 2].tol;
                    tl_cur_failed_ = 0;
                    darknet3d_precision = hp[k / 2].p;
                    darknet3d_channels_last = !(k % 2);
                    gpu_vs_cpu(&rh, &s, x0, gy, y, adx, an, 0);
                    darknet3d_precision = DARKNET3D_FP32;
                    darknet3d_channels_last = 1;
                    printf("%s gpu_vs_cpu_%s%s_%s\n", tl_cur_failed_ ? "FAIL" : "PASS", hp[k / 2].name, k % 2 ? "_ncdhw" : "", r->name);
                    if(tl_cur_failed_) tl_failed_++;
                }
            }
            c3_thin_gpu_mode = 1;
            free_network(snap);
        }else
#endif
            printf("SKIP gpu_vs_cpu_%s: no usable GPU (CPU build, or no CUDA device)\n", r->name);
        for(k = 0; k < ng; ++k) free(an[k]);
        free(gy); free(x0); free(y); free(adx);
        rig_free(&g);
        fflush(stdout);
        return;
    }
    printf("FAIL %s\n", r->name);
    tl_failed_++;
}

int main(int argc, char **argv)
{
    darknet3d_init();
    have_gpu = darknet3d_gpu_available(0);
    conv3d_first_layer_rule = 0;   /* each row's layer is layer 0 and is asked for its input's gradient */
    gpu_index = -1;
    if(system("mkdir -p tests/out")) return 1;
    const char *t = getenv("LAYER_TEST_TIME");
    int timing = t && t[0] == '1';
    size_t i;
    RUN(test_guards_detect_overrun);
    RUN(test_activation_overflow);
    for(i = 0; i < sizeof(ROWS) / sizeof(ROWS[0]); ++i){
        /* LAYER_TEST_ROW=<substring> runs the matching rows only */
        const char *only = getenv("LAYER_TEST_ROW");
        if(only && *only && !strstr(ROWS[i].name, only)) continue;
        conv3d_wgrad_avx2_mode = strncmp(ROWS[i].name, "conv3d_wgrad_avx2", 17) ? 1 : 2;
        run_row(&ROWS[i], timing);
        conv3d_wgrad_avx2_mode = 1;
    }
    (void)argc; (void)argv;
    TEST_MAIN_END();
}
