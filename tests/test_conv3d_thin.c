/* Tests of the index arithmetic of the GPU's direct kernels for thin [conv3d] layers (layers/conv3d_thin.h), replayed on the host with the kernels' decomposition (filter and channel blocks, the weight gradient's chunks, warps and block sums) against the CPU layer, and the shape rule; the kernels themselves are compared with the CPU in test_layers' gpu_vs_cpu_thin_ rows. */
#include "testlib.h"
#include "darknet.h"
#include "darknet3d.h"
#include "conv3d_common.h"
#include "conv3d_direct.h"
#include "conv3d_test.h"

static long out_vox(const thin3d_geom *g) { return (long)g->n * g->od * g->oh * g->ow; }
static long in_vox(const thin3d_geom *g) { return (long)g->n * g->d * g->h * g->w; }

/* a weight layout of the kernels' shared memory (f: the forward's), filled as they fill it */
static float *layout(const thin3d_geom *g, int f, const float *w)
{
    long n = f ? thin3d_wf_size(g) : thin3d_wd_size(g), i;
    float *l = malloc(n * sizeof(float));
    for(i = 0; i < n; ++i) l[i] = thin3d_layout_value(g, f, w, i);
    return l;
}

/* the forward kernel's grid: blocks of thin3d_block(oc) filters, every output voxel; add: y += instead of y = */
static void replay_forward(const thin3d_geom *g, const float *x, const float *w, float *y, int add)
{
    int ocb = thin3d_block(g->oc), o0;
    float acc[16], *wf = layout(g, 1, w);
    for(o0 = 0; o0 < thin3d_padded(g->oc); o0 += ocb)
        for(long j = 0; j < out_vox(g); ++j) thin3d_forward_at(g, g->k, g->s, ocb, x, wf, y, j, o0, add, acc);
    free(wf);
}

static void replay_dgrad(const thin3d_geom *g, const float *dy, const float *w, float *dx, int add)
{
    int icb = thin3d_block(g->c), c0;
    float acc[16], *wd = layout(g, 0, w);
    for(c0 = 0; c0 < thin3d_padded(g->c); c0 += icb)
        for(long j = 0; j < in_vox(g); ++j) thin3d_dgrad_at(g, g->k, g->s, icb, dy, wd, dx, j, c0, add, acc);
    free(wd);
}

/* The weight-gradient kernel's decomposition: per (filter block, channel, chunk) block, each thread's grid-stride
 * sums, the warp's shuffle-down tree (lane 0's result), the warps in order into part[(weight) * chunks + chunk] for
 * the filters below oc; then the finishing kernel's sum over chunks in order, added to dw. */
static void replay_wgrad(const thin3d_geom *g, const float *x, const float *dy, float *dw)
{
    enum { TH = THIN3D_THREADS, WARPS = THIN3D_THREADS / 32, OB = THIN3D_WG_OB };
    int k = g->k, T = k * k * k, R = OB * T, chunks = thin3d_wgrad_chunks(out_vox(g));
    int blocks = (g->oc + OB - 1) / OB * g->c;
    float *part = calloc((size_t)g->oc * g->c * T * chunks, sizeof(float));
    static float acc[TH][OB * 27];
    for(int p = 0; p < blocks; ++p){
        int ob = p / g->c, c = p - ob * g->c, o0 = ob * OB;
        for(int b = 0; b < chunks; ++b){
            memset(acc, 0, sizeof(acc));
            for(int t = 0; t < TH; ++t)
                for(long j = (long)b * TH + t; j < out_vox(g); j += (long)chunks * TH) thin3d_wgrad_at(g, k, g->s, x, dy, o0, c, j, acc[t]);
            for(int r = 0; r < R; ++r){
                int fb = r / T, tap = r - fb * T;
                float red[WARPS];
                for(int wp = 0; wp < WARPS; ++wp){
                    float v[32], nv[32];
                    for(int lane = 0; lane < 32; ++lane) v[lane] = acc[wp * 32 + lane][r];
                    for(int off = 16; off > 0; off >>= 1){
                        for(int lane = 0; lane < 32; ++lane) nv[lane] = v[lane] + (lane + off < 32 ? v[lane + off] : v[lane]);
                        memcpy(v, nv, sizeof(v));
                    }
                    red[wp] = v[0];
                }
                if(o0 + fb >= g->oc) continue;
                float sum = 0.f;
                for(int wp = 0; wp < WARPS; ++wp) sum += red[wp];
                part[(((long)(o0 + fb) * g->c + c) * T + tap) * chunks + b] = sum;
            }
        }
    }
    for(long q = 0; q < (long)g->oc * g->c * T; ++q){
        double s = 0;
        for(int i = 0; i < chunks; ++i) s += part[q * chunks + i];
        dw[q] += (float)s;
    }
    free(part);
}

/* in the layer's terms: c input channels, oc filters, on d x h x w; cubic kernel k, stride st on every axis, padding */
typedef struct { int c, oc, d, h, w, k, st, pd, ph, pw; } shape;

/* [net] takes one channel: a pointwise layer 0 makes s->c, and layer 1 is the layer under test, linear, with a bias */
static network *one_layer(const shape *s, int batch, const char *kind)
{
    char cfg[1024];
    const char *path = "tests/out/conv3d_thin.cfg";
    snprintf(cfg, sizeof(cfg),
             "[net]\nbatch=%d\nheight=%d\nwidth=%d\ndepth=%d\nchannels=1\n\n"
             "[conv3d]\nfilters=%d\nsize=1\nstride=1\npad=0\nactivation=linear\n\n"
             "[%s]\nfilters=%d\nsize=%d\nstride=%d\npad_d=%d\npad_h=%d\npad_w=%d\nactivation=linear\n",
             batch, s->h, s->w, s->d, s->c, kind, s->oc, s->k, s->st, s->pd, s->ph, s->pw);
    if(write_text(path, cfg)) return 0;
    return load_network_checked((char *)path, 0, 0);
}

/* The kernels' passes replayed (layers/conv3d_thin_kernels.cu, pass_forward and pass_backward) against the CPU layer of
 * kind [conv3d] or [deconv3d]: output, input gradient (added to 0.5 everywhere) and weight gradient. */
static void check_shape(const shape *s, const char *kind)
{
    const int B = 2;
    network *net = one_layer(s, B, kind);
    CHECK_MSG(net != 0, "%s cfg of %d -> %d at %dx%dx%d", kind, s->c, s->oc, s->d, s->h, s->w);
    if(!net) return;
    layer l = net->layers[1];
    int tr = c3_state(l)->transposed;
    thin3d_geom g = c3_thin_geom(l);
    const geom3d *gg = &c3_state(l)->g;
    CHECK_MSG(thin3d_applies(&g, gg->kd, gg->kh, gg->kw, gg->sd, gg->sh, gg->sw), "the rule should take %s %d -> %d, kernel %d stride %d "
              "pad %d,%d,%d", kind, s->c, s->oc, s->k, s->st, s->pd, s->ph, s->pw);
    size_t nx = (size_t)B * l.inputs, ny = (size_t)B * l.outputs, nw = (size_t)l.nweights, i;
    float *x = malloc(nx * sizeof(float)), *buf = malloc(2 * (ny + nx + nw) * sizeof(float)), *dy = malloc(ny * sizeof(float));
    float *y0 = buf, *dx0 = y0 + ny, *dw0 = dx0 + nx, *y1 = dw0 + nw, *dx1 = y1 + ny, *dw1 = dx1 + nx;
    c3t_fill(x, nx, 0.017);
    int saved = conv3d_direct_enabled;
    conv3d_direct_enabled = 0;   /* the general path as the reference */
    c3t_run(net, x, y0, dx0, dw0);
    conv3d_direct_enabled = saved;
    /* the replay, from what c3t_run starts from: the input's gradient 0.5 everywhere, dW 0, the same output gradient */
    c3t_fill(dy, ny, 0.029);
    for(i = 0; i < nx; ++i) dx1[i] = 0.5f;
    memset(dw1, 0, nw * sizeof(float));
    for(i = 0; i < ny; ++i) y1[i] = -7.f;   /* every output written */
    if(!tr){
        replay_forward(&g, x, l.weights, y1, 0);
        replay_dgrad(&g, dy, l.weights, dx1, 1);
        replay_wgrad(&g, x, dy, dw1);
    } else {
        replay_dgrad(&g, x, l.weights, y1, 0);
        replay_forward(&g, dy, l.weights, dx1, 1);
        replay_wgrad(&g, dy, x, dw1);
    }
    for(i = 0; l.biases && i < ny; ++i) y1[i] += l.biases[(i / (ny / B / l.out_c)) % l.out_c];   /* the layer's bias (linear, no batch norm) */
    double ey = c3t_max_rel(y1, y0, ny), ex = c3t_max_rel(dx1, dx0, nx), ew = c3t_max_rel(dw1, dw0, nw);
    CHECK_MSG(ey < 1e-5 && ex < 1e-5 && ew < 1e-5, "%s %d -> %d at %dx%dx%d, kernel %d stride %d pad %d,%d,%d (%d weight-gradient chunks): "
              "relative errors forward %g, input gradient %g, dW %g", kind, s->c, s->oc, s->d, s->h, s->w, s->k, s->st, s->pd, s->ph, s->pw,
              thin3d_wgrad_chunks(out_vox(&g)), ey, ex, ew);
    free(x); free(buf); free(dy);
    free_network(net);
}

static void test_replay_matches_cpu_layer(void)
{
    static const shape S[] = {
        {16, 1, 3, 4, 5, 1, 1, 0, 0, 0},      /* the V-Net's seg and sdf heads */
        {20, 2, 2, 3, 5, 1, 1, 0, 0, 0},      /* two blocks of 16 channels in the data gradient */
        {1, 20, 3, 4, 5, 3, 1, 1, 1, 1},      /* a first layer: two blocks of 16 filters in the forward */
        {6, 2, 4, 5, 6, 3, 1, 0, 0, 0},       /* unpadded 3x3x3 into few filters */
        {3, 5, 3, 3, 4, 3, 1, 2, 2, 2},       /* padding k - 1 */
        {2, 3, 3, 4, 5, 3, 1, 0, 1, 2},       /* a different padding on each axis */
        {4, 1, 8, 32, 40, 1, 1, 0, 0, 0},     /* 20480 output voxels: five weight-gradient chunks */
        {1, 16, 6, 20, 24, 3, 1, 1, 1, 1},    /* 5760 output voxels: two chunks of 27 taps */
        {16, 16, 3, 5, 6, 3, 1, 1, 1, 1},     /* a 16-filter layer at full resolution */
        {32, 16, 2, 4, 5, 3, 1, 1, 1, 1},     /* the second decoder's first layer (32 channels after upsampling) */
        {16, 32, 4, 6, 8, 2, 2, 0, 0, 0},     /* the down-sampling 2x2x2 stride 2 */
        {5, 3, 3, 5, 7, 2, 2, 0, 0, 0},       /* odd sides: the last voxel of each axis is not read */
    };
    for(size_t i = 0; i < sizeof(S) / sizeof(S[0]); ++i) check_shape(&S[i], "conv3d");
    static const shape T[] = {
        {32, 16, 2, 3, 4, 2, 2, 0, 0, 0},     /* the up-sampling 2x2x2 stride 2 into 16 filters */
        {3, 5, 2, 2, 3, 2, 2, 0, 0, 0},       /* few channels on both sides */
        {4, 2, 2, 3, 4, 1, 1, 0, 0, 0},       /* a 1x1x1 transposed convolution */
        {16, 16, 2, 3, 4, 3, 1, 1, 1, 1},     /* a 3x3x3 transposed convolution of stride 1 */
    };
    for(size_t i = 0; i < sizeof(T) / sizeof(T[0]); ++i) check_shape(&T[i], "deconv3d");
}

static void test_shape_rule(void)
{
    static const struct { thin3d_geom g; int kd, kh, kw, sd, sh, sw, want; const char *what; } R[] = {
        {{2, 16, 1, 8, 8, 8, 8, 8, 8, 1, 1, 0, 0, 0}, 1, 1, 1, 1, 1, 1, 1, "a head"},
        {{2, 64, 4, 8, 8, 8, 8, 8, 8, 1, 1, 0, 0, 0}, 1, 1, 1, 1, 1, 1, 1, "the widest head"},
        {{2, 65, 1, 8, 8, 8, 8, 8, 8, 1, 1, 0, 0, 0}, 1, 1, 1, 1, 1, 1, 0, "65 input channels"},
        {{2, 16, 5, 8, 8, 8, 8, 8, 8, 1, 1, 0, 0, 0}, 1, 1, 1, 1, 1, 1, 0, "5 filters over 16 channels"},
        {{2, 1, 32, 8, 8, 8, 8, 8, 8, 3, 1, 1, 1, 1}, 3, 3, 3, 1, 1, 1, 1, "a first layer of 32 filters"},
        {{2, 1, 33, 8, 8, 8, 8, 8, 8, 3, 1, 1, 1, 1}, 3, 3, 3, 1, 1, 1, 0, "33 filters"},
        {{2, 40, 4, 8, 8, 8, 8, 8, 8, 3, 1, 1, 1, 1}, 3, 3, 3, 1, 1, 1, 1, "a 3x3x3 layer of 4 filters over 40 channels"},
        {{2, 16, 16, 8, 8, 8, 8, 8, 8, 3, 1, 1, 1, 1}, 3, 3, 3, 1, 1, 1, 1, "16 -> 16, 3x3x3"},
        {{2, 32, 16, 8, 8, 8, 8, 8, 8, 3, 1, 1, 1, 1}, 3, 3, 3, 1, 1, 1, 1, "32 -> 16, 3x3x3"},
        {{2, 33, 16, 8, 8, 8, 8, 8, 8, 3, 1, 1, 1, 1}, 3, 3, 3, 1, 1, 1, 0, "33 -> 16, 3x3x3"},
        {{2, 16, 17, 8, 8, 8, 8, 8, 8, 3, 1, 1, 1, 1}, 3, 3, 3, 1, 1, 1, 0, "16 -> 17, 3x3x3"},
        {{2, 16, 16, 8, 8, 8, 8, 8, 8, 1, 1, 0, 0, 0}, 1, 1, 1, 1, 1, 1, 0, "16 -> 16, 1x1x1"},
        {{2, 4, 4, 8, 8, 8, 4, 4, 4, 3, 2, 1, 1, 1}, 3, 3, 3, 2, 2, 2, 0, "3x3x3 stride 2"},
        {{2, 4, 4, 8, 8, 8, 7, 7, 7, 2, 1, 0, 0, 0}, 2, 2, 2, 1, 1, 1, 0, "a 2x2x2 kernel"},
        {{2, 4, 4, 8, 8, 8, 8, 8, 8, 3, 1, 1, 1, 1}, 1, 3, 3, 1, 1, 1, 0, "a 1x3x3 kernel"},
        {{2, 4, 4, 8, 8, 8, 12, 12, 12, 3, 1, 3, 3, 3}, 3, 3, 3, 1, 1, 1, 0, "padding k"},
        {{2, 4, 4, 8, 8, 8, 8, 8, 8, 1, 1, 1, 0, 0}, 1, 1, 1, 1, 1, 1, 0, "a padded 1x1x1"},
        {{2, 16, 32, 8, 8, 8, 4, 4, 4, 2, 2, 0, 0, 0}, 2, 2, 2, 2, 2, 2, 1, "2x2x2 stride 2, 16 -> 32 (the down-sampling)"},
        {{2, 32, 33, 8, 8, 8, 4, 4, 4, 2, 2, 0, 0, 0}, 2, 2, 2, 2, 2, 2, 0, "2x2x2 stride 2, 33 filters"},
        {{2, 16, 16, 8, 8, 8, 5, 5, 5, 2, 2, 1, 1, 1}, 2, 2, 2, 2, 2, 2, 0, "2x2x2 stride 2, padded"},
        {{2, 16, 16, 8, 8, 8, 4, 4, 4, 2, 2, 0, 0, 0}, 2, 2, 2, 2, 1, 2, 0, "2x2x2, stride 1 on one axis"},
    };
    for(size_t i = 0; i < sizeof(R) / sizeof(R[0]); ++i)
        CHECK_MSG(thin3d_applies(&R[i].g, R[i].kd, R[i].kh, R[i].kw, R[i].sd, R[i].sh, R[i].sw) == R[i].want, "%s: rule gives %d",
                  R[i].what, !R[i].want);
}

int main(void)
{
    darknet3d_init();
    gpu_index = -1;
    if(system("mkdir -p tests/out")) return 1;
    RUN(test_replay_matches_cpu_layer);
    RUN(test_shape_rule);
    TEST_MAIN_END();
}
