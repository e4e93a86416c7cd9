/* Tests of the fast paths: [dropout] masks from a counter-based generator seeded from rand() (the GPU's equal to the CPU's), the fused equal-shape [shortcut], and [conv3d]'s direct loops for thin 1x1x1 layers (the heads). */
#include <omp.h>
#include <stdint.h>
#include "testlib.h"
#include "darknet.h"
#include "darknet3d.h"
#include "dropout_seeded.h"
#include "route_fast.h"
#include "route_layer.h"
#include "shortcut_fast.h"
#include "fast_paths.h"
#include "shortcut_layer.h"
#include "conv3d_common.h"
#include "amp.h"
#ifdef GPU
#include "cuda.h"
#endif

/* a [dropout] layer struct as make_dropout_layer builds it, without the parser */
static layer dropout_struct(int batch, int inputs, float p)
{
    layer l = {0};
    l.type = DROPOUT;
    l.batch = batch;
    l.inputs = l.outputs = inputs;
    l.probability = p;
    l.scale = 1.f / (1.f - p);
    l.rand = calloc((size_t)batch * inputs, sizeof(float));
    return l;
}

static void fill(float *x, size_t n, double f)
{
    size_t i;
    for(i = 0; i < n; ++i) x[i] = (float)sin(f * (i + 1)) + 0.25f;
}

/* the rule per element, the draws equal dropout_uniform, and rand() advances by exactly two draws per call */
static void test_dropout_rule_and_stream(void)
{
    const int B = 3, N = 4096 * 5 + 123;   /* several blocks and a partial one */
    size_t n = (size_t)B * N, i;
    layer l = dropout_struct(B, N, 0.3f);
    network net = {0};
    float *x0 = malloc(n * sizeof(float)), *x = malloc(n * sizeof(float)), *d = malloc(n * sizeof(float));
    fill(x0, n, 0.37);
    memcpy(x, x0, n * sizeof(float));
    net.input = x;
    net.train = 1;
    srand(11);
    uint64_t seed = dropout_seed_from_rand();
    int after = rand();
    srand(11);
    forward_dropout_seeded(l, net);
    CHECK_MSG(rand() == after, "one forward call must consume exactly the two rand() draws of its seed");
    size_t bad = 0, dropped = 0;
    uint64_t kept;
    memcpy(&kept, l.rand, sizeof(kept));
    CHECK_MSG(kept == seed, "l.rand keeps the call's seed");
    for(i = 0; i < n; ++i){
        float r = dropout_uniform(seed, i);
        if(!(r >= 0 && r < 1)) ++bad;
        float want = r < l.probability ? 0 : x0[i] * l.scale;
        if(x[i] != want) ++bad;
        dropped += r < l.probability;
    }
    CHECK_MSG(bad == 0, "%zu elements break the rule", bad);
    CHECK(dropped > 0 && dropped < n);
    /* backward: the same mask on the delta */
    fill(d, n, 0.11);
    float *d0 = malloc(n * sizeof(float));
    memcpy(d0, d, n * sizeof(float));
    net.delta = d;
    backward_dropout_seeded(l, net);
    for(i = 0, bad = 0; i < n; ++i) if(d[i] != (dropout_uniform(seed, i) < l.probability ? 0 : d0[i] * l.scale)) ++bad;
    CHECK_MSG(bad == 0, "%zu deltas break the rule", bad);
    /* not training: nothing changes and rand() is not drawn */
    memcpy(x, x0, n * sizeof(float));
    net.train = 0;
    srand(5);
    int r5 = rand();
    srand(5);
    forward_dropout_seeded(l, net);
    CHECK(rand() == r5);
    CHECK(memcmp(x, x0, n * sizeof(float)) == 0);
    /* no delta: nothing to do, no crash */
    net.delta = 0;
    backward_dropout_seeded(l, net);
    free(x0); free(x); free(d); free(d0); free(l.rand);
}

/* [route] of two inputs of different sizes: the fast path's output and input deltas equal stock Darknet's bit for bit */
static void test_route_identical(void)
{
    enum { BATCH = 3, N0 = 70001, N1 = 20000 };
    static float out0[BATCH * N0], out1[BATCH * N1], d0a[BATCH * N0], d1a[BATCH * N1], d0b[BATCH * N0], d1b[BATCH * N1];
    layer ls[3];
    memset(ls, 0, sizeof(ls));
    fill(out0, BATCH * N0, 0.013); fill(out1, BATCH * N1, 0.029);
    fill(d0a, BATCH * N0, 0.007); fill(d1a, BATCH * N1, 0.011);
    memcpy(d0b, d0a, sizeof(d0a)); memcpy(d1b, d1a, sizeof(d1a));
    ls[0].output = out0; ls[1].output = out1;
    int *in_layers = malloc(2 * sizeof(int)), *in_sizes = malloc(2 * sizeof(int));   /* free_layer frees them */
    in_layers[0] = 0; in_layers[1] = 1; in_sizes[0] = N0; in_sizes[1] = N1;
    layer r = make_route_layer(BATCH, 2, in_layers, in_sizes);
    network net = {0};
    net.layers = ls;
    net.n = 3;
    float *y = malloc(sizeof(float) * BATCH * (N0 + N1));
    forward_route_layer(r, net);
    memcpy(y, r.output, sizeof(float) * BATCH * (N0 + N1));
    memset(r.output, 0, sizeof(float) * BATCH * (N0 + N1));
    forward_route_fast(r, net);
    CHECK(memcmp(y, r.output, sizeof(float) * BATCH * (N0 + N1)) == 0);
    fill(r.delta, BATCH * (N0 + N1), 0.017);
    ls[0].delta = d0a; ls[1].delta = d1a;
    backward_route_layer(r, net);
    ls[0].delta = d0b; ls[1].delta = d1b;
    backward_route_fast(r, net);
    CHECK(memcmp(d0a, d0b, sizeof(d0a)) == 0 && memcmp(d1a, d1b, sizeof(d1a)) == 0);
    free(y);
    free_layer(r);
}

/* the same seed gives the same masks at any thread count; the next call gives another mask */
static void test_dropout_deterministic(void)
{
    const int B = 2, N = 70000;
    size_t n = (size_t)B * N;
    layer l = dropout_struct(B, N, 0.5f);
    network net = {0};
    net.train = 1;
    float *x = malloc(n * sizeof(float)), *r1 = malloc(n * sizeof(float)), *r2 = malloc(n * sizeof(float));
    int threads[3] = {1, 2, 3}, t, saved = omp_get_max_threads();
    for(t = 0; t < 3; ++t){
        omp_set_num_threads(threads[t]);
        for(size_t i = 0; i < n; ++i) x[i] = 1.f;
        net.input = x;
        srand(42);
        forward_dropout_seeded(l, net);
        if(t == 0) memcpy(r1, x, n * sizeof(float));
        else CHECK_MSG(memcmp(r1, x, n * sizeof(float)) == 0, "masks differ at %d threads", threads[t]);
    }
    omp_set_num_threads(saved);
    for(size_t i = 0; i < n; ++i) x[i] = 1.f;
    forward_dropout_seeded(l, net);           /* the next call of the same stream */
    memcpy(r2, x, n * sizeof(float));
    size_t i, same = 0;
    for(i = 0; i < n; ++i) same += (r1[i] == 0) == (r2[i] == 0);
    /* independent masks agree on half the voxels: 5 sigma */
    CHECK_NEAR((double)same / n, 0.5, 5 * 0.5 / sqrt((double)n));
    free(x); free(r1); free(r2); free(l.rand);
}

/* the draws are uniform and neighbours are independent: rate, mean, pairs, and a chi-square over 64 bins */
static void test_dropout_statistics(void)
{
    const size_t n = 1 << 21;
    const double p = 0.3;
    uint64_t seeds[3] = {1, 0x123456789abcdefULL, ((uint64_t)2147483647 << 31) ^ 2147483647u};
    int s;
    for(s = 0; s < 3; ++s){
        size_t i, drop = 0, both = 0, bins[64] = {0};
        double mean = 0;
        int prev = 0;
        for(i = 0; i < n; ++i){
            float r = dropout_uniform(seeds[s], i);
            int dr = r < p;
            drop += dr;
            if(i) both += dr && prev;
            prev = dr;
            mean += r;
            bins[(int)(r * 64)]++;
        }
        double sd = sqrt(p * (1 - p) / n);
        CHECK_NEAR((double)drop / n, p, 5 * sd);
        CHECK_NEAR(mean / n, 0.5, 5 * sqrt(1.0 / 12 / n));
        CHECK_NEAR((double)both / (n - 1), p * p, 5 * sqrt(p * p * (1 - p * p) / n));
        double chi = 0, e = (double)n / 64;
        for(i = 0; i < 64; ++i) chi += (bins[i] - e) * (bins[i] - e) / e;
        CHECK_MSG(chi < 120, "chi-square %.1f over 64 bins (63 degrees of freedom; 120 is far in the tail)", chi);
    }
    /* elements 2^32 apart have their own draws (the upper bits of the index key the hash) */
    size_t same = 0, i;
    for(i = 0; i < 100000; ++i) same += (dropout_uniform(7, i) < 0.5f) == (dropout_uniform(7, i + ((size_t)1 << 32)) < 0.5f);
    CHECK_NEAR(same / 100000.0, 0.5, 5 * 0.5 / sqrt(100000.0));
}

static network *parse_text(const char *path, const char *text, char *err)
{
    if(write_text(path, text)) return 0;
    return parse_network_cfg_err((char *)path, err, 1024);
}

/* layers: 0 r2s, 1 r2s, 2 shortcut from 0 (equal shapes), 3 shortcut from 2 = the previous layer, leaky, alpha 0.5,
 * beta 2 (the two delta adds land in one buffer), 4 conv3d to 3 channels, 5 shortcut from 0 (2 channels into 3:
 * Darknet's partial add, left to Darknet) */
static const char *SC_CFG =
    "[net]\nbatch=2\nheight=4\nwidth=5\ndepth=3\nchannels=2\n\n"
    "[r2s]\nk=1\n\n"
    "[r2s]\nk=2\n\n"
    "[shortcut]\nfrom=0\nactivation=linear\n\n"
    "[shortcut]\nfrom=-1\nactivation=leaky\nalpha=0.5\nbeta=2\n\n"
    "[conv3d]\nfilters=3\nsize=1\nstride=1\npad=0\nactivation=linear\n\n"
    "[shortcut]\nfrom=0\nactivation=linear\n";

/* forward + backward of the whole net; copies every layer's output and delta into out (n floats per layer) */
static void run_net(network *net, float *out, size_t per)
{
    int i;
    fill(net->input, (size_t)net->batch * net->inputs, 0.3);
    net->delta = 0;
    net->train = 1;
    forward_network(net);
    layer *last = &net->layers[net->n - 1];
    fill(last->delta, (size_t)last->batch * last->outputs, 0.7);
    backward_network(net);
    for(i = 0; i < net->n; ++i){
        layer l = net->layers[i];
        size_t m = (size_t)l.batch * l.outputs;
        memcpy(out + 2 * i * per, l.output, m * sizeof(float));
        memcpy(out + (2 * i + 1) * per, l.delta, m * sizeof(float));
    }
}

/* the fused shortcut gives Darknet's results bit for bit; it is installed only on equal shapes */
static void test_shortcut_identical(void)
{
    char err[1024] = {0};
    if(system("mkdir -p tests/out")) return;
    network *net = parse_text("tests/out/fast_paths_sc.cfg", SC_CFG, err);
    CHECK_MSG(net != 0, "%s", err);
    if(!net) return;
    net->gpu_index = -1;
    CHECK(net->n == 6);
    CHECK(shortcut_fast_applies(net, 2) && shortcut_fast_applies(net, 3));
    CHECK(!shortcut_fast_applies(net, 5));                     /* channels differ */
    CHECK(!shortcut_fast_applies(net, 0) && !shortcut_fast_applies(net, 4) && !shortcut_fast_applies(net, 9));
    size_t per = 0;
    int i;
    for(i = 0; i < net->n; ++i) if((size_t)net->layers[i].batch * net->layers[i].outputs > per) per = (size_t)net->layers[i].batch * net->layers[i].outputs;
    float *a = calloc(2 * net->n * per, sizeof(float)), *b = calloc(2 * net->n * per, sizeof(float));
    CHECK(net->layers[2].forward == forward_shortcut_layer);
    run_net(net, a, per);
    CHECK(darknet3d_install_fast_paths(net) == 2);
    CHECK(net->layers[2].forward == forward_shortcut_fast && net->layers[3].backward == backward_shortcut_fast);
    CHECK(net->layers[5].forward == forward_shortcut_layer);
    run_net(net, b, per);
    for(i = 0; i < net->n; ++i){
        layer l = net->layers[i];
        size_t m = (size_t)l.batch * l.outputs;
        CHECK_MSG(memcmp(a + 2 * i * per, b + 2 * i * per, m * sizeof(float)) == 0, "layer %d output differs", i);
        CHECK_MSG(memcmp(a + (2 * i + 1) * per, b + (2 * i + 1) * per, m * sizeof(float)) == 0, "layer %d delta differs", i);
    }
    /* the deltas are not trivially equal: the leaky shortcut's scale shows in layer 2's delta */
    double s = 0;
    for(i = 0; i < net->batch * net->layers[2].outputs; ++i) s += fabs(b[5 * per + i]);
    CHECK(s > 0);
    free(a); free(b);
    free_network(net);
}

/* layers: 0 conv3d, 1 conv3d from 0, 2 [route] of 0 (shared: no copy), 3 conv3d from 2, 4 shortcut from 1 (both
 * conv3d deltas land in layer 0's delta), 5 [route] of 4 followed by 6 [dropout] (not shared: the dropout scales
 * its input in place) */
static const char *ROUTE_CFG =
    "[net]\nbatch=2\nheight=4\nwidth=5\ndepth=3\nchannels=2\n\n"
    "[conv3d]\nfilters=3\nsize=1\nstride=1\npad=0\nactivation=leaky\n\n"
    "[conv3d]\nfilters=3\nsize=1\nstride=1\npad=0\nactivation=linear\n\n"
    "[route]\nlayers=0\n\n"
    "[conv3d]\nfilters=3\nsize=1\nstride=1\npad=0\nactivation=linear\n\n"
    "[shortcut]\nfrom=1\nactivation=linear\n\n"
    "[route]\nlayers=-1\n\n"
    "[dropout]\nprobability=0.25\n";

/* a single-input [route] shares its input's buffers: every output and the input's delta (the sum of both consumers'
 * gradients) are the same bits as with the copying route; not shared before a [dropout]; freed once */
static void test_route_shared(void)
{
    char err[1024] = {0};
    network *net = parse_text("tests/out/fast_paths_route.cfg", ROUTE_CFG, err);
    CHECK_MSG(net != 0, "%s", err);
    if(!net) return;
    net->gpu_index = -1;
    CHECK(net->n == 7);
    int i, k;
    for(i = 0; i < net->n; ++i){   /* weights that are not all alike, so that the two consumers' gradients differ */
        layer *l = &net->layers[i];
        for(k = 0; k < l->nweights; ++k) l->weights[k] = 0.1f * (float)((k * 7 + i * 3) % 11) - 0.5f;
    }
    size_t per = 0;
    for(i = 0; i < net->n; ++i) if((size_t)net->layers[i].batch * net->layers[i].outputs > per) per = (size_t)net->layers[i].batch * net->layers[i].outputs;
    float *a = calloc(2 * net->n * per, sizeof(float)), *b = calloc(2 * net->n * per, sizeof(float));
    net->n = 6;   /* the numbers below leave the random [dropout] out */
    run_net(net, a, per);
    net->n = 7;
    CHECK(darknet3d_install_fast_paths(net) == 4);   /* shared route, fast shortcut, copying route, dropout */
    CHECK(net->layers[2].output == net->layers[0].output && net->layers[2].delta == net->layers[0].delta);
    CHECK(net->layers[5].output != net->layers[4].output && net->layers[5].forward == forward_route_fast);
    net->n = 6;
    run_net(net, b, per);
    net->n = 7;
    for(i = 0; i < 6; ++i){
        size_t m = (size_t)net->layers[i].batch * net->layers[i].outputs;
        CHECK_MSG(memcmp(a + 2 * i * per, b + 2 * i * per, m * sizeof(float)) == 0, "layer %d output differs", i);
        if(i != 2) CHECK_MSG(memcmp(a + (2 * i + 1) * per, b + (2 * i + 1) * per, m * sizeof(float)) == 0, "layer %d delta differs", i);
    }
    /* layer 0's delta holds both consumers' gradients: it differs from the route's part alone */
    size_t m0 = (size_t)net->batch * net->layers[0].outputs;
    CHECK(memcmp(a + 1 * per, a + 5 * per, m0 * sizeof(float)) != 0);
    free(a); free(b);
    free_network(net);   /* the shared buffers are freed once (ASan in make asan) */
}

/* load_network_checked installs both paths (seg3d train, predict, test and the bench load networks through it) */
static void test_installed_on_load(void)
{
    const char *cfg =
        "[net]\nbatch=2\nheight=4\nwidth=4\ndepth=2\nchannels=1\n\n"
        "[r2s]\nk=1\n\n"
        "[r2s]\nk=2\n\n"
        "[dropout]\nprobability=0.25\n\n"
        "[shortcut]\nfrom=0\nactivation=linear\n";
    if(write_text("tests/out/fast_paths_load.cfg", cfg)){ CHECK(!"tests/out/fast_paths_load.cfg written"); return; }
    network *net = load_network_checked("tests/out/fast_paths_load.cfg", 0, 0);
    CHECK(net != 0);
    if(!net) return;
    CHECK(net->layers[2].type == DROPOUT && net->layers[2].forward == forward_dropout_seeded && net->layers[2].backward == backward_dropout_seeded);
    CHECK(net->layers[3].type == SHORTCUT && net->layers[3].forward == forward_shortcut_fast);
    free_network(net);
}

static int have_gpu = 0;

/* the GPU [dropout] (layers/dropout_seeded_kernels.cu) drops the same voxels as the CPU for the same rand() stream:
 * forward, backward and the rebuild of src/output_recompute.h, bit for bit, over more than one block of threads */
static void test_dropout_gpu_equals_cpu(void)
{
#ifdef GPU
    if(!have_gpu) SKIP("no usable GPU");
    const int B = 2, N = 70001;
    const size_t n = (size_t)B * N;
    layer l = dropout_struct(B, N, 0.3f);
    float *x = malloc(n * sizeof(float)), *c = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    gpu_index = 0;
    cuda_set_device(0);
    fill(x, n, 0.53);
    float *xg = cuda_make_array(x, n);
    network nc = {0}, ng = {0};
    nc.train = ng.train = 1;
    memcpy(c, x, n * sizeof(float));
    nc.input = c;
    ng.input_gpu = xg;
    srand(11); forward_dropout_seeded(l, nc);
    srand(11); forward_dropout_seeded_gpu(l, ng);
    cuda_pull_array(xg, g, n);
    CHECK_MSG(!memcmp(c, g, n * sizeof(float)), "forward: the GPU mask differs from the CPU's");
    cuda_push_array(xg, x, n);                 /* the rebuild applies the kept seed's mask again */
    rebuild_dropout_seeded_gpu(l, ng);
    cuda_pull_array(xg, g, n);
    CHECK_MSG(!memcmp(c, g, n * sizeof(float)), "rebuild: differs from the forward");
    fill(c, n, 0.31);
    cuda_push_array(xg, c, n);
    nc.delta = c;
    ng.delta_gpu = xg;
    backward_dropout_seeded(l, nc);
    backward_dropout_seeded_gpu(l, ng);
    cuda_pull_array(xg, g, n);
    CHECK_MSG(!memcmp(c, g, n * sizeof(float)), "backward: the GPU mask differs from the CPU's");
    cuda_free(xg);
    gpu_index = -1;
    free(x); free(c); free(g); free(l.rand);
#else
    SKIP("CPU build");
#endif
}

/* the GPU twin of the fused [shortcut] (layers/shortcut_fast_kernels.cu) gives Darknet's GPU results bit for bit: every
 * layer's output and delta of a forward and backward, with the activations it fuses (linear, leaky, relu on values of
 * both signs: the sources are linear convolutions), one it leaves to Darknet's pass (logistic), `from` the layer
 * before (both delta adds in one buffer), and alpha and beta off the powers of two (products that round) */
static const char *SC_GPU_CFG =
    "[net]\nbatch=2\nheight=4\nwidth=5\ndepth=3\nchannels=2\n\n"
    "[conv3d]\nfilters=2\nsize=1\nactivation=linear\n\n"
    "[conv3d]\nfilters=2\nsize=1\nactivation=linear\n\n"
    "[shortcut]\nfrom=0\nactivation=linear\n\n"
    "[shortcut]\nfrom=-1\nactivation=leaky\nalpha=-0.5\nbeta=2\n\n"
    "[shortcut]\nfrom=1\nactivation=relu\nalpha=-0.7\nbeta=0.3\n\n"
    "[shortcut]\nfrom=0\nactivation=logistic\n";

#ifdef GPU
static void run_net_gpu(network *net, float *out, size_t per)
{
    fill(net->input, (size_t)net->batch * net->inputs, 0.3);
    net->delta = 0;
    net->train = 1;
    forward_network(net);
    layer *last = &net->layers[net->n - 1];
    size_t m = (size_t)last->batch * last->outputs;
    fill(last->delta, m, 0.7);
    for(size_t i = 0; i < m; ++i) last->delta[i] -= 0.5f;
    cuda_push_array(last->delta_gpu, last->delta, m);
    backward_network(net);
    for(int i = 0; i < net->n; ++i){
        layer l = net->layers[i];
        m = (size_t)l.batch * l.outputs;
        cuda_pull_array(l.output_gpu, out + 2 * i * per, m);
        cuda_pull_array(l.delta_gpu, out + (2 * i + 1) * per, m);
    }
}
#endif

static void test_shortcut_gpu_identical(void)
{
#ifdef GPU
    if(!have_gpu) SKIP("no usable GPU");
    char err[1024] = {0};
    gpu_index = 0;
    network *net = parse_text("tests/out/fast_paths_sc_gpu.cfg", SC_GPU_CFG, err);
    CHECK_MSG(net != 0, "%s", err);
    if(!net){ gpu_index = -1; return; }
    size_t per = (size_t)net->batch * net->layers[0].outputs;
    float *a = calloc(2 * net->n * per, sizeof(float)), *b = calloc(2 * net->n * per, sizeof(float));
    run_net_gpu(net, a, per);
    CHECK(darknet3d_install_fast_paths(net) == 4);
    CHECK(net->layers[3].forward_gpu == forward_shortcut_fast_gpu && net->layers[5].backward_gpu == backward_shortcut_fast_gpu);
    run_net_gpu(net, b, per);
    int negative = 0;
    for(int i = 0; i < net->n; ++i){
        CHECK_MSG(memcmp(a + 2 * i * per, b + 2 * i * per, per * sizeof(float)) == 0, "layer %d output differs", i);
        CHECK_MSG(memcmp(a + (2 * i + 1) * per, b + (2 * i + 1) * per, per * sizeof(float)) == 0, "layer %d delta differs", i);
    }
    for(size_t j = 0; j < per; ++j) negative += a[2 * 3 * per + j] < 0;   /* the leaky shortcut's output */
    CHECK_MSG(negative > 0 && negative < (int)per, "leaky shortcut: %d of %zu outputs negative (both signs wanted)", negative, per);
    free(a); free(b);
    free_network(net);
    gpu_index = -1;
#else
    SKIP("CPU build");
#endif
}

/* runs layer 0's training forward on input x; returns the network as that forward saw it */
static network forward_first(network *net, float *x)
{
    network nn = *net;
    nn.train = 1;
    nn.index = 0;
    nn.input = x;
    net->layers[0].forward(net->layers[0], nn);
    return nn;
}

/* c3_post_backward does not read l.output where c3_backward_reads_output says so (src/shortcut_share.h lets a later
 * [shortcut] overwrite it): the gradients are the same bits with the output overwritten by NaN before backward */
static void test_backward_ignores_output(void)
{
    static const struct { const char *sec; int reads; } K[] = {
        {"[conv3d]\nfilters=3\nsize=3\npad=1\nbatch_normalize=1\nactivation=relu\n", 0},
        {"[conv3d]\nfilters=3\nsize=3\npad=1\nbatch_normalize=1\nbias=0\nactivation=leaky\n", 0},
        {"[deconv3d]\nfilters=3\nsize=2\nstride=2\nbatch_normalize=1\nactivation=relu\n", 0},
        {"[conv3d]\nfilters=3\nsize=3\npad=1\nbatch_normalize=1\nactivation=linear\n", 0},
        {"[conv3d]\nfilters=3\nsize=3\npad=1\nactivation=linear\n", 0},
        {"[conv3d]\nfilters=3\nsize=3\npad=1\nactivation=relu\n", 1},
        {"[conv3d]\nfilters=3\nsize=3\npad=1\nbatch_normalize=1\nactivation=logistic\n", 1},
    };
    int k;
    for(k = 0; k < (int)(sizeof(K) / sizeof(K[0])); ++k){
        char text[512];
        snprintf(text, sizeof(text), "[net]\nbatch=2\nheight=6\nwidth=7\ndepth=5\nchannels=1\n\n%s", K[k].sec);
        if(write_text("tests/out/fast_paths_bwd.cfg", text)){ CHECK(!"tests/out/fast_paths_bwd.cfg written"); return; }
        network *net = load_network_checked("tests/out/fast_paths_bwd.cfg", 0, 0);
        CHECK_MSG(net != 0, "case %d", k);
        if(!net) continue;
        layer l = net->layers[0];
        CHECK_MSG(c3_backward_reads_output(&l) == K[k].reads, "case %d: reads_output %d", k, c3_backward_reads_output(&l));
        size_t nx = (size_t)l.batch * l.inputs, ny = (size_t)l.batch * l.outputs, i;
        int nb = l.nbiases ? l.nbiases : 0, ns = l.batch_normalize ? l.out_c : 0, r;
        float *x = malloc(nx * sizeof(float)), *dx[2], *dy[2], *dw[2], *db[2], *ds[2];
        fill(x, nx, 0.37);
        network nn = forward_first(net, x);
        for(r = 0; r < 2; ++r){
            dx[r] = calloc(nx, sizeof(float));
            memset(l.weight_updates, 0, (size_t)l.nweights * sizeof(float));
            if(nb) memset(l.bias_updates, 0, (size_t)nb * sizeof(float));
            if(ns) memset(l.scale_updates, 0, (size_t)ns * sizeof(float));
            fill(l.delta, ny, 0.053);
            if(r == 1) for(i = 0; i < ny; ++i) l.output[i] = NAN;
            nn.delta = dx[r];
            l.backward(l, nn);
            dy[r] = malloc(ny * sizeof(float)); memcpy(dy[r], l.delta, ny * sizeof(float));
            dw[r] = malloc((size_t)l.nweights * sizeof(float)); memcpy(dw[r], l.weight_updates, (size_t)l.nweights * sizeof(float));
            db[r] = calloc(nb + 1, sizeof(float)); if(nb) memcpy(db[r], l.bias_updates, (size_t)nb * sizeof(float));
            ds[r] = calloc(ns + 1, sizeof(float)); if(ns) memcpy(ds[r], l.scale_updates, (size_t)ns * sizeof(float));
        }
        int same = !memcmp(dx[0], dx[1], nx * sizeof(float)) && !memcmp(dy[0], dy[1], ny * sizeof(float)) &&
                   !memcmp(dw[0], dw[1], (size_t)l.nweights * sizeof(float)) && !memcmp(db[0], db[1], (size_t)nb * sizeof(float)) &&
                   !memcmp(ds[0], ds[1], (size_t)ns * sizeof(float));
        CHECK_MSG(K[k].reads || same, "case %d: the gradients changed with the output overwritten", k);
        CHECK_MSG(!K[k].reads || !same, "case %d: the gradients should depend on the output", k);
        for(r = 0; r < 2; ++r){ free(dx[r]); free(dy[r]); free(dw[r]); free(db[r]); free(ds[r]); }
        free(x);
        free_network(net);
    }
}

/* which [shortcut]s load_network_checked makes add in place (src/shortcut_share.h), and inplace_shortcut=0 */
static void test_shortcut_inplace_rule(void)
{
    static const struct { const char *body; int layer, shared; } K[] = {
        /* a BN relu conv read by the [shortcut] only: shared */
        {"[conv3d]\nfilters=2\nsize=1\n\n[conv3d]\nfilters=2\nsize=3\npad=1\nbatch_normalize=1\nactivation=relu\n\n"
         "[shortcut]\nfrom=0\nactivation=linear\n", 2, 1},
        /* the same with inplace_shortcut=0 */
        {"[conv3d]\nfilters=2\nsize=1\n\n[conv3d]\nfilters=2\nsize=3\npad=1\nbatch_normalize=1\nactivation=relu\n\n"
         "[shortcut]\nfrom=0\nactivation=linear\n", 2, -1},
        /* its backward reads its output (logistic) */
        {"[conv3d]\nfilters=2\nsize=1\n\n[conv3d]\nfilters=2\nsize=3\npad=1\nbatch_normalize=1\nactivation=logistic\n\n"
         "[shortcut]\nfrom=0\nactivation=linear\n", 2, 0},
        /* a later [route] reads the conv's output */
        {"[conv3d]\nfilters=2\nsize=1\n\n[conv3d]\nfilters=2\nsize=3\npad=1\nbatch_normalize=1\nactivation=relu\n\n"
         "[shortcut]\nfrom=0\nactivation=linear\n\n[route]\nlayers=1,2\n", 2, 0},
        /* a [dropout] after the [shortcut] holds the shortcut's buffer */
        {"[conv3d]\nfilters=2\nsize=1\n\n[conv3d]\nfilters=2\nsize=3\npad=1\nbatch_normalize=1\nactivation=relu\n\n"
         "[shortcut]\nfrom=0\nactivation=linear\n\n[dropout]\nprobability=0.5\n", 2, 0},
        /* `from` is the layer before */
        {"[conv3d]\nfilters=2\nsize=3\npad=1\nbatch_normalize=1\nactivation=relu\n\n[shortcut]\nfrom=0\nactivation=linear\n", 1, 0},
    };
    int k;
    for(k = 0; k < (int)(sizeof(K) / sizeof(K[0])); ++k){
        char text[1024];
        snprintf(text, sizeof(text), "[net]\nbatch=2\nheight=4\nwidth=4\ndepth=2\nchannels=1\n%s\n%s",
                 K[k].shared < 0 ? "inplace_shortcut=0\n" : "", K[k].body);
        if(write_text("tests/out/fast_paths_inplace.cfg", text)){ CHECK(!"tests/out/fast_paths_inplace.cfg written"); return; }
        network *net = load_network_checked("tests/out/fast_paths_inplace.cfg", 0, 0);
        CHECK_MSG(net != 0, "case %d", k);
        if(!net) continue;
        int shared = net->layers[K[k].layer].output == net->layers[K[k].layer - 1].output;
        CHECK_MSG(shared == (K[k].shared > 0), "case %d: shared %d", k, shared);
        free_network(net);   /* a shared buffer is freed once (ASan in make asan) */
    }
}

/* c3_recompute_output rebuilds the forward pass's output bit for bit from x_norm (src/output_recompute.h), for any
 * activation, [conv3d] and [deconv3d], at 1 and 2 threads */
static void test_recompute_output_identical(void)
{
    static const char *K[] = {
        "[conv3d]\nfilters=3\nsize=3\npad=1\nbatch_normalize=1\nactivation=relu\n",
        "[conv3d]\nfilters=3\nsize=3\npad=1\nbatch_normalize=1\nbias=0\nactivation=leaky\n",
        "[deconv3d]\nfilters=3\nsize=2\nstride=2\nbatch_normalize=1\nactivation=relu\n",
        "[conv3d]\nfilters=3\nsize=3\npad=1\nbatch_normalize=1\nactivation=linear\n",
        "[conv3d]\nfilters=3\nsize=3\npad=1\nbatch_normalize=1\nactivation=logistic\n",
        "[conv3d]\nfilters=3\nsize=3\npad=1\nbatch_normalize=1\nactivation=tanh\n",
    };
    int k, t;
    for(k = 0; k < (int)(sizeof(K) / sizeof(K[0])); ++k) for(t = 1; t <= 2; ++t){
        char text[512];
        omp_set_num_threads(t);
        snprintf(text, sizeof(text), "[net]\nbatch=2\nheight=6\nwidth=7\ndepth=5\nchannels=1\n\n%s", K[k]);
        if(write_text("tests/out/fast_paths_rec.cfg", text)){ CHECK(!"tests/out/fast_paths_rec.cfg written"); return; }
        network *net = load_network_checked("tests/out/fast_paths_rec.cfg", 0, 0);
        CHECK_MSG(net != 0, "case %d", k);
        if(!net) continue;
        layer l = net->layers[0];
        size_t nx = (size_t)l.batch * l.inputs, ny = (size_t)l.batch * l.outputs, i;
        float *x = malloc(nx * sizeof(float)), *y = malloc(ny * sizeof(float));
        fill(x, nx, 0.41);
        network nn = forward_first(net, x);
        memcpy(y, l.output, ny * sizeof(float));
        for(i = 0; i < ny; ++i) l.output[i] = NAN;
        c3_recompute_output(l, nn);
        CHECK_MSG(!memcmp(y, l.output, ny * sizeof(float)), "case %d, %d threads: the rebuilt output differs", k, t);
        free(x); free(y);
        free_network(net);
    }
    omp_set_num_threads(1);
}

/* GPU, at each precision: batch norm keeps x_norm in the precision's type (32 bits at fp32/tf32, 16 at fp16/bf16),
 * and the output rebuilt from it is the forward's bit for bit; the forward output differs from FP32's by no more than
 * the precision's rounding (largest difference relative to the largest output) and, at 16 bits, by more than none */
static void test_recompute_output_gpu(void)
{
#ifdef GPU
    if(!have_gpu) SKIP("no usable GPU");
    static const char *K[] = {
        "[conv3d]\nfilters=3\nsize=3\npad=1\nbatch_normalize=1\nactivation=relu\n",
        "[deconv3d]\nfilters=3\nsize=2\nstride=2\nbatch_normalize=1\nactivation=leaky\n",
        "[conv3d]\nfilters=3\nsize=3\npad=1\nbatch_normalize=1\nactivation=logistic\n",
    };
    static const int P[] = {DARKNET3D_FP32, DARKNET3D_TF32, DARKNET3D_FP16, DARKNET3D_BF16};
    static const double tol[] = {1e-5, 2e-2, 2e-2, 8e-2};
    int k, p;
    gpu_index = 0;
    cuda_set_device(0);
    for(k = 0; k < (int)(sizeof(K) / sizeof(K[0])); ++k){
        float *ref = 0;
        for(p = 0; p < 4; ++p){
            char text[512];
            snprintf(text, sizeof(text), "[net]\nbatch=2\nheight=12\nwidth=10\ndepth=6\nchannels=1\n\n%s", K[k]);
            if(write_text("tests/out/fast_paths_rec_gpu.cfg", text)){ CHECK(!"tests/out/fast_paths_rec_gpu.cfg written"); break; }
            darknet3d_precision = P[p];
            srand(7);   /* the same initial weights at every precision (they are drawn with rand()) */
            network *net = load_network_checked("tests/out/fast_paths_rec_gpu.cfg", 0, 0);
            CHECK_MSG(net != 0, "case %d precision %d", k, P[p]);
            if(!net) continue;
            layer l = net->layers[0];
            CHECK_MSG(c3_state(l)->xn_type == (P[p] >= DARKNET3D_FP16 ? P[p] : DARKNET3D_FP32), "case %d precision %d: x_norm kept as %d",
                      k, P[p], c3_state(l)->xn_type);
            size_t nx = (size_t)l.batch * l.inputs, ny = (size_t)l.batch * l.outputs, i;
            float *x = malloc(nx * sizeof(float)), *y = malloc(ny * sizeof(float)), *z = malloc(ny * sizeof(float));
            fill(x, nx, 0.37);
            cuda_push_array(net->input_gpu, x, nx);
            network nn = *net;
            nn.train = 1; nn.index = 0;
            l.forward_gpu(l, nn);
            cuda_pull_array(l.output_gpu, y, ny);
            fill_gpu((int)ny, NAN, l.output_gpu, 1);
            c3_recompute_output_gpu(l, nn);
            cuda_pull_array(l.output_gpu, z, ny);
            CHECK_MSG(!memcmp(y, z, ny * sizeof(float)), "case %d precision %d: the rebuilt output differs", k, P[p]);
            if(!ref){ ref = y; y = 0; }
            else{
                double e = 0, top = 1e-30;   /* the largest difference, relative to the largest FP32 output */
                for(i = 0; i < ny; ++i){ e = fmax(e, fabs(y[i] - ref[i])); top = fmax(top, fabs(ref[i])); }
                e /= top;
                CHECK_MSG(e <= tol[p], "case %d precision %d: output differs from FP32's by %g (> %g)", k, P[p], e, tol[p]);
                if(P[p] >= DARKNET3D_FP16) CHECK_MSG(e > 1e-6, "case %d precision %d: the 16-bit path did not run", k, P[p]);
            }
            free(x); free(y); free(z);
            free_network(net);
        }
        free(ref);
    }
    darknet3d_precision = DARKNET3D_FP32;
    gpu_index = -1;
#else
    SKIP("CPU build");
#endif
}

/* which outputs load_network_checked moves into the output arena and where backward rebuilds them
 * (src/output_recompute.h): want[i] 1 = in the arena and rebuilt before the backward of layer at[i], 2 = in the
 * arena and never rebuilt (only the forward pass reads it), 0 = its own buffer */
static void test_recompute_rule(void)
{
    const char *body =
        "[conv3d]\nfilters=2\nsize=3\npad=1\nbatch_normalize=1\nactivation=relu\n\n"   /* 0: read by 1, 7 (rebuilt at 8) */
        "[conv3d]\nfilters=2\nsize=3\npad=1\nbatch_normalize=1\nactivation=relu\n\n"   /* 1: read by conv 2 */
        "[conv3d]\nfilters=2\nsize=3\npad=1\nbatch_normalize=1\nactivation=relu\n\n"   /* 2: read by [upsample3d] 3 */
        "[upsample3d]\nstride=1\n\n"                                                        /* 3: read by conv 4 */
        "[conv3d]\nfilters=2\nsize=3\npad=1\nbatch_normalize=1\nactivation=relu\n\n"   /* 4: [dropout] 5 takes it over */
        "[dropout]\nprobability=0.5\n\n"                                                    /* 5: read by conv 6 */
        "[conv3d]\nfilters=2\nsize=3\npad=1\nbatch_normalize=1\nactivation=relu\n\n"   /* 6: in-place [shortcut] 7 */
        "[shortcut]\nfrom=0\nactivation=linear\n\n"                                        /* 7: read by conv 8 */
        "[conv3d]\nfilters=2\nsize=1\nactivation=linear\n\n"                            /* 8: no batch norm */
        "[conv3d]\nfilters=1\nsize=1\nbatch_normalize=1\nactivation=relu\n";             /* 9: the last layer */
    static const int want[10] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, at[10] = {8, 2, 4, 4, 6, 6, 8, 8};
    int r, i;
    for(r = 1; r >= 0; --r){
        char text[2048];
        snprintf(text, sizeof(text), "[net]\nbatch=2\nheight=4\nwidth=4\ndepth=2\nchannels=1\nrecompute_outputs=%d\n\n%s", r, body);
        if(write_text("tests/out/fast_paths_rule.cfg", text)){ CHECK(!"tests/out/fast_paths_rule.cfg written"); return; }
        network *net = load_network_checked("tests/out/fast_paths_rule.cfg", 0, 0);
        CHECK_MSG(net != 0, "recompute_outputs=%d", r);
        if(!net) continue;
        CHECK(net->n == 10);
        for(i = 0; i < net->n && i < 10; ++i){
            layer *l = &net->layers[i];
            int in = net->output_arena && l->output >= net->output_arena && l->output < net->output_arena + net->output_arena_n;
            int got = !in ? 0 : l->recompute_before ? 1 : 2;
            CHECK_MSG(got == (r ? want[i] : 0), "recompute_outputs=%d, layer %d: %d", r, i, got);
            if(r && want[i] == 1) CHECK_MSG(l->recompute_before == at[i] + 1, "layer %d rebuilt before %d", i, l->recompute_before - 1);
            /* layer 0 alone, read in forward steps 1 and 7 and backward steps 8 and 1, is also rebuilt before the
             * forward of 7 and again before the backward of 1; other buffers have a holder that changes them */
            int k, fw = r && i == 0 ? 7 + 1 : 0, bw = r && i == 0 ? 1 + 1 : 0;
            CHECK_MSG(l->recompute_forward[0] == fw && l->recompute_backward[0] == bw, "recompute_outputs=%d, layer %d: "
                      "rebuilt before forward %d, backward %d", r, i, l->recompute_forward[0] - 1, l->recompute_backward[0] - 1);
            for(k = 1; k < 3; ++k) CHECK(l->recompute_forward[k] == 0 && l->recompute_backward[k] == 0);
        }
        free_network(net);   /* the arena is freed once (ASan in make asan) */
    }
}

/* [conv3d] 1x1x1 with 3 filters on 5 channels (the thin pointwise path of layers/conv3d_layer.c): forward and backward
 * against a double-precision reference, over two blocks of voxels (one partial), identical at 1, 2 and 3 threads */
static void test_conv3d_thin_pointwise(void)
{
    const char *cfg =
        "[net]\nbatch=2\nheight=40\nwidth=51\ndepth=3\nchannels=1\n\n"
        "[conv3d]\nfilters=5\nsize=1\nstride=1\npad=0\nbatch_normalize=0\nactivation=linear\n\n"
        "[conv3d]\nfilters=3\nsize=1\nstride=1\npad=0\nbatch_normalize=0\nactivation=linear\n";
    if(write_text("tests/out/fast_paths_pw.cfg", cfg)){ CHECK(!"tests/out/fast_paths_pw.cfg written"); return; }
    network *net = load_network_checked("tests/out/fast_paths_pw.cfg", 0, 0);
    CHECK(net != 0);
    if(!net) return;
    layer l0 = net->layers[0], l = net->layers[1];
    const int C = 5, OC = 3, B = 2;
    const size_t P = 3 * 40 * 51;   /* blocks of 4096 and 2024 voxels: a partial block with a tail of 8 */
    CHECK(l.c == C && l.out_c == OC && (size_t)l.out_w * l.out_h == P);
    size_t i, nx = (size_t)B * C * P, ny = (size_t)B * OC * P;
    int k, o, c, b, t;
    fill(l0.output, nx, 0.013);
    for(k = 0; k < OC; ++k) l.biases[k] = 0.1f * (k + 1);
    float *dx = malloc(nx * sizeof(float)), *y1 = malloc(ny * sizeof(float)), *dx1 = malloc(nx * sizeof(float));
    float dw1[15];
    network nn = *net;
    nn.train = 1;
    nn.index = 1;
    nn.input = l0.output;
    int threads[3] = {1, 2, 3}, saved = omp_get_max_threads();
    for(t = 0; t < 3; ++t){
        omp_set_num_threads(threads[t]);
        l.forward(l, nn);
        fill(l.delta, ny, 0.029);
        for(i = 0; i < nx; ++i) dx[i] = 0.5f;
        memset(l.weight_updates, 0, (size_t)l.nweights * sizeof(float));
        nn.delta = dx;
        l.backward(l, nn);
        if(t == 0){
            memcpy(y1, l.output, ny * sizeof(float));
            memcpy(dx1, dx, nx * sizeof(float));
            memcpy(dw1, l.weight_updates, sizeof(dw1));
            continue;
        }
        CHECK_MSG(memcmp(y1, l.output, ny * sizeof(float)) == 0, "forward differs at %d threads", threads[t]);
        CHECK_MSG(memcmp(dx1, dx, nx * sizeof(float)) == 0, "dX differs at %d threads", threads[t]);
        CHECK_MSG(memcmp(dw1, l.weight_updates, sizeof(dw1)) == 0, "dW differs at %d threads", threads[t]);
    }
    omp_set_num_threads(saved);
    double ey = 0, ex = 0, ew = 0, dwr[15] = {0};
    fill(l.delta, ny, 0.029);   /* the backward left l.delta as it was (linear, no BN) */
    for(b = 0; b < B; ++b) for(i = 0; i < P; ++i){
        const float *x = l0.output + (size_t)b * C * P + i;
        const float *dy = l.delta + (size_t)b * OC * P + i;
        for(o = 0; o < OC; ++o){
            double y = l.biases[o];
            for(c = 0; c < C; ++c) y += (double)l.weights[o * C + c] * x[c * P];
            ey = fmax(ey, fabs(y - y1[(size_t)b * OC * P + o * P + i]));
            for(c = 0; c < C; ++c) dwr[o * C + c] += (double)dy[o * P] * x[c * P];
        }
        for(c = 0; c < C; ++c){
            double d = 0.5;
            for(o = 0; o < OC; ++o) d += (double)l.weights[o * C + c] * dy[o * P];
            ex = fmax(ex, fabs(d - dx1[(size_t)b * C * P + c * P + i]));
        }
    }
    for(k = 0; k < OC * C; ++k) ew = fmax(ew, fabs(dwr[k] - dw1[k]) / (1 + fabs(dwr[k])));
    CHECK_MSG(ey < 1e-5 && ex < 1e-5 && ew < 1e-5, "errors: forward %g, dX %g, dW %g", ey, ex, ew);
    free(dx); free(y1); free(dx1);
    free_network(net);
}

int main(void)
{
    darknet3d_init();
    have_gpu = darknet3d_gpu_available(0);
    gpu_index = -1; /* the fast paths are CPU code: test them on the CPU in every build, with or without a device */
    if(system("mkdir -p tests/out")) return 1;
    RUN(test_dropout_rule_and_stream);
    RUN(test_dropout_deterministic);
    RUN(test_dropout_statistics);
    RUN(test_shortcut_identical);
    RUN(test_route_identical);
    RUN(test_route_shared);
    RUN(test_installed_on_load);
    RUN(test_conv3d_thin_pointwise);
    RUN(test_backward_ignores_output);
    RUN(test_shortcut_inplace_rule);
    RUN(test_recompute_output_identical);
    RUN(test_recompute_rule);
    RUN(test_dropout_gpu_equals_cpu);
    RUN(test_shortcut_gpu_identical);
    RUN(test_recompute_output_gpu);
    TEST_MAIN_END();
}
