/* Tests of sliding-window inference (src/infer.c): window placement, coverage and overlap averaging vs a brute-force reference, output selection, largest component, and the predict/metrics commands' geometry round trip, [net] normalize=zscore. */
#include <stdint.h>
#include <sys/stat.h>
#include "testlib.h"
#include "nifti2_io.h"
#include "nifti_test.h"
#include "darknet3d.h"
#include "predict.h"
#include "metrics.h"
#include "volume_io.h"
#include "sw_index.h"

#define OUT "tests/out/predict"
static void mkout(void){ mkdir("tests/out", 0755); mkdir(OUT, 0755); }

static void test_sw_starts_dtc(void)
{
    int s[64];
    /* DTC/UA-MT: steps = ceil((size - patch)/stride) + 1, start = min(stride*i, size - patch) */
    CHECK(sw_starts(112, 112, 18, s) == 1 && s[0] == 0);
    CHECK(sw_starts(130, 112, 18, s) == 2 && s[0] == 0 && s[1] == 18);
    CHECK(sw_starts(131, 112, 18, s) == 3 && s[1] == 18 && s[2] == 19);
    CHECK(sw_starts(88, 80, 4, s) == 3 && s[2] == 8);
    CHECK(sw_starts(89, 80, 4, s) == 4 && s[3] == 9);
    CHECK(sw_starts(100, 112, 18, s) == 0);   /* callers pad first */
    CHECK(sw_starts(10, 3, 0, s) == 0);
    /* a stride over the window is the window: 0, 16, ..., 80, 84 covers all 100 */
    CHECK(sw_starts(100, 16, 40, s) == 7 && s[1] == 16 && s[5] == 80 && s[6] == 84);
    int size, patch, stride;
    for(size = 1; size < 40; ++size) for(patch = 1; patch <= size; ++patch) for(stride = 1; stride < 12; ++stride){
        int n = sw_starts(size, patch, stride, s), i, st = stride < patch ? stride : patch;
        int want = (int)ceil((double)(size - patch) / st) + 1;
        CHECK(n == want);
        for(i = 0; i < n; ++i) CHECK(s[i] == (st*i < size - patch ? st*i : size - patch));
        for(i = 1; i < n; ++i) CHECK(s[i] - s[i-1] <= patch);   /* no voxel between two windows */
    }
}

/* a window "network" whose output depends on the input value and the position inside the window,
   so every overlapping window gives a different value */
static int g_patch[3];
static long g_calls;
static float gfun(float x, long local){ return 0.5f + 0.45f*sinf(0.37f*x + 0.11f*(float)local); }
static int g_dims[3];
static long g_origin_bad;   /* window voxels whose value is not the volume's at origin + offset (vol[i] = i + 1, padding 0) */
static int fake_fn(void *ctx, float *in, const int *origin, int n, int slots, float *prob, char *err, size_t errlen)
{
    long pv = (long)g_patch[0]*g_patch[1]*g_patch[2], i;
    int b;
    (void)ctx; (void)err; (void)errlen;
    ++g_calls;
    for(b = 0; b < n; ++b) for(i = 0; i < pv; ++i){
        int w = (int)(i % g_patch[2]), h = (int)(i / g_patch[2] % g_patch[1]), d = (int)(i / ((long)g_patch[2] * g_patch[1]));
        int z = origin[3*b] + d, y = origin[3*b+1] + h, x = origin[3*b+2] + w;
        int inside = z >= 0 && z < g_dims[0] && y >= 0 && y < g_dims[1] && x >= 0 && x < g_dims[2];
        float want = inside ? (float)(x + (long)g_dims[2] * (y + (long)g_dims[1] * z) + 1) : 0.f;
        if(in[b*pv + i] != want) ++g_origin_bad;
    }
    for(b = n; b < slots; ++b) for(i = 0; i < pv; ++i) if(in[b*pv + i] != 0) return -1;  /* filler must be zeros */
    for(b = 0; b < slots; ++b) for(i = 0; i < pv; ++i) prob[b*pv + i] = gfun(in[b*pv + i], i);
    return 0;
}

/* brute force, written as DTC's test_single_case: explicit padded copy, loops x, y, z, score/cnt, crop */
static void brute_sw(const float *vol, int D, int H, int W, const int p[3], const int st0[3], float *prob, float *count)
{
    int dim[3] = { D, H, W }, pd[3], off[3], a, st[3];
    for(a = 0; a < 3; ++a){ int pad = dim[a] < p[a] ? p[a] - dim[a] : 0; off[a] = pad/2; pd[a] = dim[a] + pad; }
    /* one change to DTC: a stride over the window is the window (DTC leaves the voxels between windows at 0/0) */
    for(a = 0; a < 3; ++a) st[a] = st0[a] < p[a] ? st0[a] : p[a];
    long n = (long)pd[0]*pd[1]*pd[2];
    float *img = calloc(n, sizeof(float)), *score = calloc(n, sizeof(float)), *cnt = calloc(n, sizeof(float));
    int d, h, w;
    for(d = 0; d < D; ++d) for(h = 0; h < H; ++h) for(w = 0; w < W; ++w)
        img[(w+off[2]) + pd[2]*((h+off[1]) + pd[1]*(d+off[0]))] = vol[w + W*(h + H*d)];
    int sx = (int)ceil((double)(pd[2] - p[2]) / st[2]) + 1, sy = (int)ceil((double)(pd[1] - p[1]) / st[1]) + 1,
        sz = (int)ceil((double)(pd[0] - p[0]) / st[0]) + 1, x, y, z;
    for(x = 0; x < sx; ++x){
        int xs = st[2]*x < pd[2] - p[2] ? st[2]*x : pd[2] - p[2];
        for(y = 0; y < sy; ++y){
            int ys = st[1]*y < pd[1] - p[1] ? st[1]*y : pd[1] - p[1];
            for(z = 0; z < sz; ++z){
                int zs = st[0]*z < pd[0] - p[0] ? st[0]*z : pd[0] - p[0];
                for(d = 0; d < p[0]; ++d) for(h = 0; h < p[1]; ++h) for(w = 0; w < p[2]; ++w){
                    long gi = (xs+w) + pd[2]*((long)(ys+h) + pd[1]*(zs+d));
                    long li = w + p[2]*((long)h + p[1]*d);
                    score[gi] += gfun(img[gi], li);
                    cnt[gi] += 1;
                }
            }
        }
    }
    for(d = 0; d < D; ++d) for(h = 0; h < H; ++h) for(w = 0; w < W; ++w){
        long gi = (w+off[2]) + pd[2]*((long)(h+off[1]) + pd[1]*(d+off[0]));
        prob[w + W*(h + H*d)] = score[gi] / cnt[gi];
        count[w + W*(h + H*d)] = cnt[gi];
    }
    free(img); free(score); free(cnt);
}

static const int sw_cases[][9] = {
        /* D H W, patch d h w, stride d h w */
        { 9, 11, 13,   4, 5, 6,   2, 3, 4 },     /* overlaps, last window clipped to size - patch */
        { 8, 10, 12,   4, 5, 6,   4, 5, 6 },     /* tiling exactly */
        { 7, 10, 12,   4, 5, 6,   5, 7, 9 },     /* stride > patch: the min() start still covers the end */
        { 20, 17, 30,  4, 5, 6,   9, 7, 40 },    /* stride > patch over 3+ windows: taken as the patch, no gaps */
        { 3, 4, 5,     4, 6, 9,   1, 1, 1 },     /* volume smaller than the window on every axis */
        { 3, 12, 5,    4, 5, 5,   2, 2, 2 },     /* smaller on one axis, equal on another */
        { 1, 1, 1,     2, 3, 2,   1, 1, 1 },
        { 13, 6, 7,    5, 6, 7,   1, 4, 4 },
};
#define SW_NCASES ((int)(sizeof(sw_cases)/sizeof(sw_cases[0])))

static void test_sliding_window_vs_brute(void)
{
    int ci, slots;
    for(ci = 0; ci < SW_NCASES; ++ci) for(slots = 1; slots <= 5; slots += 2){
        const int *c = sw_cases[ci];
        int D = c[0], H = c[1], W = c[2], patch[3] = { c[3], c[4], c[5] }, st[3] = { c[6], c[7], c[8] };
        long n = (long)D*H*W, i;
        float *vol = malloc(n*sizeof(float)), *p1 = malloc(n*sizeof(float)), *c1 = malloc(n*sizeof(float));
        float *p2 = malloc(n*sizeof(float)), *c2 = malloc(n*sizeof(float));
        for(i = 0; i < n; ++i) vol[i] = (float)(i + 1);   /* unique, non-zero: the padding is recognisable */
        memcpy(g_patch, patch, sizeof(patch));
        g_dims[0] = D; g_dims[1] = H; g_dims[2] = W;
        g_calls = 0; g_origin_bad = 0;
        char err[256] = "";
        CHECK_MSG(sliding_window(vol, D, H, W, patch, st, slots, fake_fn, 0, p1, c1, err, sizeof(err)) == 0, "%s", err);
        CHECK_MSG(g_origin_bad == 0, "case %d slots %d: %ld window voxels are not the volume's at the origin given", ci, slots, g_origin_bad);
        brute_sw(vol, D, H, W, patch, st, p2, c2);
        int a, nwin = 1, dims[3] = { D, H, W };
        for(a = 0; a < 3; ++a) nwin *= sw_starts(dims[a] > patch[a] ? dims[a] : patch[a], patch[a], st[a], 0);
        CHECK(g_calls == (nwin + slots - 1) / slots);
        int covered = 1;
        for(i = 0; i < n; ++i){ if(c1[i] < 1) covered = 0; }
        CHECK_MSG(covered, "case %d: a voxel no window covers", ci);
        CHECK_MSG(max_rel_err(c1, c2, n, 1) == 0, "case %d slots %d: counts differ", ci, slots);
        double e = max_rel_err(p1, p2, n, 1);
        CHECK_MSG(e < 1e-6, "case %d slots %d: averaged probabilities differ, rel err %g", ci, slots, e);
        free(vol); free(p1); free(c1); free(p2); free(c2);
    }
}

/* The GPU sliding window's index arithmetic (src/sw_index.h, run by src/infer_kernels.cu) replayed on the host:
 * each window gathered element by element, each element's value added at sw_scatter_index, the windows in
 * sw_run's order, then cropped: the same bits as the brute-force reference (a window's elements go to distinct
 * voxels, so only the window order fixes the sums). */
static void test_sw_index_elements(void)
{
    int ci, a;
    for(ci = 0; ci < SW_NCASES; ++ci){
        const int *c = sw_cases[ci];
        int dim[3] = { c[0], c[1], c[2] }, patch[3] = { c[3], c[4], c[5] }, st[3] = { c[6], c[7], c[8] }, pd[3], ns[3], s[3][64];
        sw_geom g;
        for(a = 0; a < 3; ++a){
            pd[a] = dim[a] > patch[a] ? dim[a] : patch[a];
            g.dim[a] = dim[a]; g.patch[a] = patch[a]; g.off[a] = (pd[a] - dim[a]) / 2;
            ns[a] = sw_starts(pd[a], patch[a], st[a], s[a]);
        }
        g.PH = pd[1]; g.PW = pd[2];
        long n = (long)dim[0]*dim[1]*dim[2], np = (long)pd[0]*pd[1]*pd[2], pv = (long)patch[0]*patch[1]*patch[2], i, e;
        float *vol = malloc(n*sizeof(float)), *sum = calloc(np, sizeof(float)), *cnt = calloc(np, sizeof(float));
        float *win = malloc(pv*sizeof(float)), *p1 = malloc(n*sizeof(float)), *c1 = malloc(n*sizeof(float));
        float *p2 = malloc(n*sizeof(float)), *c2 = malloc(n*sizeof(float));
        for(i = 0; i < n; ++i) vol[i] = (float)(i + 1);
        int ix, iy, iz, bad = 0;
        for(ix = 0; ix < ns[2]; ++ix) for(iy = 0; iy < ns[1]; ++iy) for(iz = 0; iz < ns[0]; ++iz){
            int z0 = s[0][iz], y0 = s[1][iy], x0 = s[2][ix];
            for(e = 0; e < pv; ++e) win[e] = sw_gather_at(vol, g, z0, y0, x0, e);
            for(e = 0; e < pv; ++e){
                long j = sw_scatter_index(g, z0, y0, x0, e);
                if(j < 0 || j >= np){ bad = 1; continue; }
                sum[j] += gfun(win[e], e);
                cnt[j] += 1;
            }
        }
        CHECK_MSG(!bad, "case %d: an element's index is outside the padded volume", ci);
        int d, h, w;
        for(d = 0; d < dim[0]; ++d) for(h = 0; h < dim[1]; ++h) for(w = 0; w < dim[2]; ++w){
            long j = (w + g.off[2]) + g.PW*((long)(h + g.off[1]) + g.PH*(d + g.off[0])), o = w + dim[2]*((long)h + dim[1]*d);
            p1[o] = sum[j] / cnt[j];
            c1[o] = cnt[j];
        }
        brute_sw(vol, dim[0], dim[1], dim[2], patch, st, p2, c2);
        CHECK_MSG(memcmp(c1, c2, n*sizeof(float)) == 0, "case %d: counts differ from the reference", ci);
        CHECK_MSG(memcmp(p1, p2, n*sizeof(float)) == 0, "case %d: averaged probabilities differ from the reference", ci);
        free(vol); free(sum); free(cnt); free(win); free(p1); free(c1); free(p2); free(c2);
    }
}

/* network_predict_volume on the GPU (the device sliding window, src/infer_kernels.cu) against the CPU: each way of
 * reading the output, a [dbisl] network's decoders, a padded axis and last passes with filler windows */
static void test_predict_volume_gpu_vs_cpu(void)
{
#ifndef GPU
    SKIP("CPU build");
#else
    if(!darknet3d_gpu_available(0)) SKIP("no CUDA device");
    mkout();
    /* 6 windows of 4 x 5 x 6 over 3 x 7 x 11 (depth padded): batch 4 and 5 end with filler windows */
    write_text(OUT "/g_same.cfg", "[net]\nbatch=4\nchannels=1\ndepth=4\nheight=5\nwidth=6\n\n[r2s]\nk=-1\n");
    write_text(OUT "/g_sigmoid.cfg", "[net]\nbatch=5\nchannels=1\ndepth=4\nheight=5\nwidth=6\n\n[r2s]\nk=2\n\n[route]\nlayers=0\n");
    write_text(OUT "/g_softmax.cfg", "[net]\nbatch=2\nchannels=1\ndepth=4\nheight=5\nwidth=6\n\n[r2s]\nk=1\n\n[r2s]\nk=-1\n\n[route]\nlayers=0,1\n");
    write_text(OUT "/g_dbisl.cfg",
        "[net]\nbatch=4\nchannels=1\ndepth=4\nheight=5\nwidth=6\n\n"
        "[r2s]\nk=1\n\n[r2s]\nk=-1\n\n[r2s]\nk=3\n\n[r2s]\nk=-2\n\n"
        "[dbisl]\nseg=0,2\nsdf=1,3\nw_sup_reg=0\nw_sup_s2r=0\nw_con_s2r=0\nw_con_r2s=0\n");
    const char *cfgs[4] = { OUT "/g_same.cfg", OUT "/g_sigmoid.cfg", OUT "/g_softmax.cfg", OUT "/g_dbisl.cfg" };
    int nx = 11, ny = 7, nz = 3, stride[3] = { 1, 2, 3 }, k, dec, was = gpu_index;
    long n = (long)nx*ny*nz, i;
    float *vol = malloc(n*sizeof(float)), *pc = malloc(n*sizeof(float)), *pg = malloc(n*sizeof(float));
    for(i = 0; i < n; ++i) vol[i] = 0.05f*(float)((i*37) % 101) - 2.5f;
    for(k = 0; k < 4; ++k) for(dec = -1; dec <= (k == 3 ? 1 : -1); ++dec){
        char err[512] = "";
        gpu_index = -1;
        network *cpu = load_network_checked((char *)cfgs[k], 0, 0);
        gpu_index = 0;
        cuda_set_device(0);
        network *gpu = load_network_checked((char *)cfgs[k], 0, 0);
        CHECK(cpu && gpu);
        if(cpu && gpu){
            gpu_index = -1;
            CHECK_MSG(network_predict_volume(cpu, vol, nx, ny, nz, stride, dec, pc, err, sizeof(err)) == 0, "%s", err);
            gpu_index = 0;
            long before = sw_device_windows;
            CHECK_MSG(network_predict_volume(gpu, vol, nx, ny, nz, stride, dec, pg, err, sizeof(err)) == 0, "%s", err);
            CHECK_MSG(sw_device_windows - before == 6, "%s: %ld windows on the device, 6 expected (the host path ran)", cfgs[k],
                      sw_device_windows - before);
            double e = 0;
            for(i = 0; i < n; ++i) if(fabs(pc[i] - pg[i]) > e) e = fabs(pc[i] - pg[i]);
            CHECK_MSG(e < 1e-5, "%s decoder %d: GPU vs CPU max abs difference %g", cfgs[k], dec, e);
            printf("  %s decoder %d: GPU vs CPU max abs difference %g\n", cfgs[k], dec, e);
        }
        gpu_index = 0;
        if(gpu) free_network(gpu);
        gpu_index = -1;
        if(cpu) free_network(cpu);
    }
    gpu_index = was;
    free(vol); free(pc); free(pg);
#endif
}

static void test_largest_component(void)
{
    int D = 6, H = 7, W = 8, n = D*H*W, i;
    unsigned char *m = calloc(n, 1);
    #define AT(d, h, w) m[(w) + W*((h) + H*(d))]
    /* component 1: 3 voxels joined only by corners (26-connected) */
    AT(0,0,0) = 1; AT(1,1,1) = 1; AT(2,2,2) = 1;
    /* component 2: a 2x2x1 square (4 voxels), far away */
    AT(5,5,6) = 1; AT(5,6,6) = 1; AT(5,5,7) = 1; AT(5,6,7) = 1;
    /* component 3: single voxel */
    AT(0,6,7) = 1;
    CHECK(largest_component(m, D, H, W) == 4);
    int cnt = 0;
    for(i = 0; i < n; ++i) cnt += m[i];
    CHECK(cnt == 4 && AT(5,6,7) == 1 && AT(1,1,1) == 0);
    AT(3,3,3) = 1; AT(4,4,4) = 1; AT(4,4,5) = 1; AT(4,5,5) = 1;  /* a diagonal chain ending next to (5,5,6) */
    AT(0,0,7) = 1; AT(0,1,7) = 1; AT(0,2,7) = 1; AT(0,3,7) = 1; AT(0,4,7) = 1;  /* 5 in a line: smaller */
    CHECK(largest_component(m, D, H, W) == 8);
    CHECK(AT(3,3,3) == 1 && AT(0,0,7) == 0);
    memset(m, 0, n);
    CHECK(largest_component(m, D, H, W) == 0);
    #undef AT
    free(m);
}

static void test_cfg_infer_stride(void)
{
    mkout();
    int s[3] = { 0, 0, 0 };
    char err[256];
    write_text(OUT "/s1.cfg", "[net]\nbatch=1\n# infer_stride = 9,9,9\ninfer_stride = 4, 18 ,18\n\n[r2s]\ninfer_stride=1,1,1\n");
    CHECK(cfg_infer_stride(OUT "/s1.cfg", s, err, sizeof(err)) == 1 && s[0] == 4 && s[1] == 18 && s[2] == 18);
    write_text(OUT "/s2.cfg", "[net]\nbatch=1\n[r2s]\ninfer_stride=1,1,1\n");
    CHECK(cfg_infer_stride(OUT "/s2.cfg", s, err, sizeof(err)) == 0);
    write_text(OUT "/s3.cfg", "[net]\ninfer_stride=4,18\n[r2s]\n");
    CHECK(cfg_infer_stride(OUT "/s3.cfg", s, err, sizeof(err)) == -1 && strstr(err, "s3.cfg:2") && strstr(err, "infer_stride"));
    CHECK(cfg_infer_stride(OUT "/missing.cfg", s, err, sizeof(err)) == -1 && strstr(err, "missing.cfg"));
}

static float sig(float x){ return 1.f/(1.f + expf(-x)); }

/* small cfgs of existing layers: the output-selection rules and whole-volume prediction with batch > 1 */
static void test_network_predict_volume(void)
{
    mkout();
    write_text(OUT "/r2s.cfg", "[net]\nbatch=3\nchannels=1\ndepth=4\nheight=5\nwidth=6\n\n[r2s]\nk=-1\n");
    /* route of one layer: raw values -> sigmoid applied */
    write_text(OUT "/route1.cfg", "[net]\nbatch=2\nchannels=1\ndepth=4\nheight=5\nwidth=6\n\n[r2s]\nk=2\n\n[route]\nlayers=0\n");
    /* two channels: (a, b) = (sigmoid(x), sigmoid(-sigmoid(x))) -> softmax channel 1 = sigmoid(b - a) */
    write_text(OUT "/two.cfg", "[net]\nbatch=2\nchannels=1\ndepth=4\nheight=5\nwidth=6\n\n[r2s]\nk=1\n\n[r2s]\nk=-1\n\n[route]\nlayers=0,1\n");
    int nx = 11, ny = 7, nz = 3, k;   /* nz < window depth: padded; nx > width: several windows */
    long n = (long)nx*ny*nz, i;
    float *vol = malloc(n*sizeof(float)), *prob = malloc(n*sizeof(float));
    for(i = 0; i < n; ++i) vol[i] = 0.05f*(float)((i*37) % 101) - 2.5f;
    const char *cfgs[3] = { OUT "/r2s.cfg", OUT "/route1.cfg", OUT "/two.cfg" };
    for(k = 0; k < 3; ++k){
        network *net = load_network_checked((char *)cfgs[k], 0, 0);
        CHECK(net != NULL);
        if(!net) continue;
        int stride[3] = { 1, 2, 3 };
        char err[512] = "";
        CHECK_MSG(network_predict_volume(net, vol, nx, ny, nz, stride, -1, prob, err, sizeof(err)) == 0, "%s", err);
        double e = 0;
        for(i = 0; i < n; ++i){
            float x = vol[i], want;
            if(k == 0) want = sig(-x);
            else if(k == 1) want = sig(sig(2*x));
            else { float a = sig(x), b = sig(-a); want = sig(b - a); }
            double d = fabs(prob[i] - want);
            if(d > e) e = d;
        }
        CHECK_MSG(e < 1e-5, "cfg %s: max abs err %g", cfgs[k], e);
        CHECK(network_predict_volume(net, vol, nx, ny, nz, stride, 1, prob, err, sizeof(err)) == -1 && strstr(err, "decoder b"));
        /* an output that is not finite is an error, not a probability map */
        float keep = vol[40];
        vol[40] = NAN;
        CHECK_MSG(network_predict_volume(net, vol, nx, ny, nz, stride, -1, prob, err, sizeof(err)) == -2 &&
                  strstr(err, "the network's output is not finite (NaN or infinite) at 1 of 231 voxels"), "%s", err);
        vol[40] = keep;
        free_network(net);
    }
    free(vol); free(prob);
}

static void test_dbisl_heads(void)
{
    if(DBISL == BLANK) SKIP("[dbisl] is not registered in this build yet: the decoder a/b/mean selection is untested");
    mkout();
    /* heads: seg_a = x (route of the input through r2s k=... is not a logit); use r2s outputs as 'logits' */
    write_text(OUT "/dbisl.cfg",
        "[net]\nbatch=2\nchannels=1\ndepth=2\nheight=3\nwidth=4\n\n"
        "[r2s]\nk=1\n\n[r2s]\nk=-1\n\n[r2s]\nk=3\n\n[r2s]\nk=-2\n\n"
        "[dbisl]\nseg=0,2\nsdf=1,3\nw_sup_reg=0\nw_sup_s2r=0\nw_con_s2r=0\nw_con_r2s=0\n");
    network *net = load_network_checked(OUT "/dbisl.cfg", 0, 0);
    if(!net) SKIP("the test's [dbisl] section was not accepted (keys differ?): see the error above");
    long vox = 2*3*4, i;
    float *in = calloc(vox*2, sizeof(float)), *p = malloc(vox*2*sizeof(float));
    for(i = 0; i < 2*vox; ++i) in[i] = 0.1f*(float)(i % 13) - 0.6f;
    network_predict(net, in);
    char err[256];
    int dec;
    for(dec = -1; dec <= 1; ++dec){
        CHECK_MSG(network_foreground_prob(net, dec, p, err, sizeof(err)) == 0, "%s", err);
        double e = 0;
        for(i = 0; i < 2*vox; ++i){
            float a = sig(sig(in[i])), b = sig(sig(3*sig(-sig(in[i]))));   /* layer 2 reads layer 1's output */
            float want = dec == 0 ? a : dec == 1 ? b : 0.5f*(a + b);
            if(fabs(p[i] - want) > e) e = fabs(p[i] - want);
        }
        CHECK_MSG(e < 1e-5, "decoder %d: max abs err %g", dec, e);
    }
    free(in); free(p);
    free_network(net);
}

/* predict command end to end: the label has the input's qform/sform/spacing; metrics command on it */
static void test_predict_command_geometry(void)
{
    mkout();
    int64_t dims[8] = { 3, 9, 8, 5, 1, 1, 1, 1 };
    nifti_image *nim = nifti_make_new_nim(dims, DT_FLOAT32, 1);
    long n = 9*8*5, i;
    for(i = 0; i < n; ++i) ((float *)nim->data)[i] = (float)((i*13) % 7) - 3.f;
    nifti_test_rotated_qform(nim, 0.7f, 0.9f, 2.5f);
    nim->sform_code = 0;
    nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
    CHECK(nifti_set_filenames(nim, OUT "/in.nii.gz", 0, 1) == 0);
    nifti_image_write(nim);
    write_text(OUT "/p.cfg", "[net]\nbatch=2\nchannels=1\ndepth=4\nheight=5\nwidth=6\ninfer_stride=2,2,2\n\n[r2s]\nk=-1\n");
    char *argv[] = { "darknet", "seg3d", "predict", OUT "/p.cfg", "", OUT "/in.nii.gz", OUT "/out.nii.gz",
                     "-prob", OUT "/prob.nii.gz", "-lcc", 0 };
    CHECK(seg3d_predict(10, argv) == 0);
    nifti_image *h = nifti_image_read(OUT "/out.nii.gz", 1), *hp = nifti_image_read(OUT "/prob.nii.gz", 1);
    CHECK(h != NULL && hp != NULL);
    if(h && hp){
        CHECK(h->datatype == DT_UINT8 && hp->datatype == DT_FLOAT32);
        CHECK(h->nx == 9 && h->ny == 8 && h->nz == 5);
        CHECK_NEAR(h->dx, 0.7, 1e-6); CHECK_NEAR(h->dy, 0.9, 1e-6); CHECK_NEAR(h->dz, 2.5, 1e-6);
        CHECK(h->qform_code == NIFTI_XFORM_SCANNER_ANAT);
        int a, b, same = 1;
        for(a = 0; a < 4; ++a) for(b = 0; b < 4; ++b) if(fabs(h->qto_xyz.m[a][b] - nim->qto_xyz.m[a][b]) > 1e-4) same = 0;
        CHECK(same);
        /* prob = sigmoid(-x) exactly (elementwise net); label = largest component of prob > 0.5 */
        unsigned char *m = malloc(n);
        double e = 0;
        for(i = 0; i < n; ++i){
            float x = ((float *)nim->data)[i], p = ((float *)hp->data)[i];
            if(fabs(p - sig(-x)) > e) e = fabs(p - sig(-x));
            m[i] = sig(-x) > 0.5f;
        }
        CHECK(e < 1e-5);
        largest_component(m, 5, 8, 9);
        int eq = 1;
        for(i = 0; i < n; ++i) if(((uint8_t *)h->data)[i] != m[i]) eq = 0;
        CHECK(eq);
        free(m);
    }
    if(h) nifti_image_free(h);
    if(hp) nifti_image_free(hp);
    nifti_image_free(nim);
    /* metrics command: a label against itself */
    char *margv[] = { "darknet", "seg3d", "metrics", OUT "/out.nii.gz", OUT "/out.nii.gz", 0 };
    CHECK(seg3d_metrics(5, margv) == 0);
    char *bad[] = { "darknet", "seg3d", "metrics", OUT "/out.nii.gz", OUT "/nonexistent.nii.gz", 0 };
    CHECK(seg3d_metrics(5, bad) == 1);
}

/* [net] normalize=zscore: predict z-scores the image per volume before the network (an elementwise net shows it:
 * prob = sigmoid(-(x - mean) / std)); a bad value is an error naming the key */
static void test_predict_normalize(void)
{
    mkout();
    int64_t dims[8] = { 3, 7, 6, 5, 1, 1, 1, 1 };
    nifti_image *nim = nifti_make_new_nim(dims, DT_FLOAT32, 1);
    long n = 7*6*5, i;
    double s = 0, ss = 0;
    for(i = 0; i < n; ++i){ float x = 40.f + 9.f * (float)((i*11) % 13); ((float *)nim->data)[i] = x; s += x; ss += (double)x * x; }
    double mean = s / n, sd = sqrt(ss / n - mean * mean);
    nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
    CHECK(nifti_set_filenames(nim, OUT "/zin.nii.gz", 0, 1) == 0);
    nifti_image_write(nim);
    write_text(OUT "/z.cfg", "[net]\nbatch=1\nchannels=1\ndepth=4\nheight=5\nwidth=6\nnormalize=zscore\n\n[r2s]\nk=-1\n");
    char *argv[] = { "darknet", "seg3d", "predict", OUT "/z.cfg", "", OUT "/zin.nii.gz", OUT "/zout.nii.gz", "-prob", OUT "/zprob.nii.gz", 0 };
    CHECK(seg3d_predict(9, argv) == 0);
    nifti_image *hp = nifti_image_read(OUT "/zprob.nii.gz", 1);
    CHECK(hp != NULL);
    if(hp){
        double e = 0;
        for(i = 0; i < n; ++i){
            float z = (float)((((float *)nim->data)[i] - mean) / sd), p = ((float *)hp->data)[i];
            if(fabs(p - sig(-z)) > e) e = fabs(p - sig(-z));
        }
        CHECK_MSG(e < 1e-5, "prob differs from sigmoid(-zscore(x)) by %g", e);
        nifti_image_free(hp);
    }
    nifti_image_free(nim);
    write_text(OUT "/zbad.cfg", "[net]\nbatch=1\nchannels=1\ndepth=4\nheight=5\nwidth=6\nnormalize=minmax\n\n[r2s]\nk=-1\n");
    char *bad[] = { "darknet", "seg3d", "predict", OUT "/zbad.cfg", "", OUT "/zin.nii.gz", OUT "/zout2.nii.gz", 0 };
    CHECK(seg3d_predict(7, bad) == 1);
    struct stat st;
    CHECK(stat(OUT "/zout2.nii.gz", &st) != 0);
}

int main(void)
{
    darknet3d_init();
    darknet3d_gpu_available(0);
    RUN(test_sw_starts_dtc);
    RUN(test_sliding_window_vs_brute);
    RUN(test_sw_index_elements);
    RUN(test_predict_volume_gpu_vs_cpu);
    RUN(test_largest_component);
    RUN(test_cfg_infer_stride);
    RUN(test_network_predict_volume);
    RUN(test_predict_normalize);
    RUN(test_dbisl_heads);
    RUN(test_predict_command_geometry);
    TEST_MAIN_END();
}
