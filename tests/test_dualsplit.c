/* Tests of [dualsplit]: a branch point built on Darknet's route; forward copies, backward adds both branches' deltas into the source; cfg errors. */
#include "testlib.h"
#include "darknet.h"
#include "darknet3d.h"
#include "layer3d.h"
#include "cfg_options.h"
#include "dualsplit_layer.h"
#include "route_layer.h"
#ifdef GPU
#include "cuda.h"
#endif

static int have_gpu = 0;

/* A registered test layer whose output is not a 3D tensor (out_h not a multiple of out_d) */
static int parse_flat(list *options, size_params params, layer *l, char *err, size_t errlen)
{
    dims3d in = {1, 1, 12, 1}, out = {1, 1, 12, 1};
    layer t = {0};
    layer3d_set_shapes(&t, params.batch, in, out);
    t.out_d = 5;
    fprintf(stderr, "flat\n");
    *l = t;
    return 0;
}

static network *parse_text(const char *text, char *err)
{
    if(write_text("tests/out/dualsplit.cfg", text)) return 0;
    return parse_network_cfg_err("tests/out/dualsplit.cfg", err, 1024);
}

/* source (layer 0) -> branch A: r2s k=-2 (layer 1); [dualsplit] of layer 0 (layer 2) -> branch B: r2s k=3
 * (layer 3); [shortcut] from=1 sums the branches: out = sig(-2 x0) + sig(3 x0) with x0 = up(input). */
static const char *CFG =
    "[net]\nbatch=2\nheight=3\nwidth=5\ndepth=2\nchannels=3\n\n"
    "[upsample3d]\nstride_d=2\nstride_h=1\nstride_w=1\n\n"
    "[r2s]\nk=-2\n\n"
    "[dualsplit]\nlayers=-2\n\n"
    "[r2s]\nk=3\n\n"
    "[shortcut]\nfrom=1\nactivation=linear\n";

static double sig(double z) { return 1.0 / (1.0 + exp(-z)); }

static void test_branches_forward_backward(void)
{
    char err[1024] = {0};
    network *net = parse_text(CFG, err);
    CHECK_MSG(net != 0, "%s", err);
    if(!net) return;
    net->gpu_index = -1; /* the CPU path here; the GPU path is test_gpu_vs_cpu */
    layer src = net->layers[0], ds = net->layers[2], out = net->layers[4];
    CHECK(ds.type == DUALSPLIT && strcmp(get_layer_string(ds.type), "dualsplit") == 0);
    CHECK(ds.n == 1 && ds.input_layers[0] == 0 && ds.input_sizes[0] == src.outputs);
    CHECK(ds.out_c == 3 && ds.out_d == 4 && ds.out_h == 12 && ds.out_w == 5 && ds.d == 4);
    CHECK(net->layers[3].d == 4 && net->layers[3].out_d == 4); /* the branch sees c x d x h x w */
    CHECK(network_param_count(net) == 0);
    int n = net->batch * src.outputs, i;
    for(i = 0; i < net->batch * net->inputs; ++i) net->input[i] = (float)sin(0.37 * i) * 0.8f;
    net->delta = 0;
    net->train = 1;
    forward_network(net);
    double werr = 0;
    for(i = 0; i < n; ++i){
        double x0 = src.output[i];
        werr = fmax(werr, fabs(ds.output[i] - src.output[i]));
        werr = fmax(werr, fabs(out.output[i] - (sig(-2 * x0) + sig(3 * x0))));
    }
    CHECK_MSG(werr < 1e-6, "forward err %g", werr);
    /* backward: the source gets d(out)/d(x0) * delta from BOTH branches, added */
    for(i = 0; i < n; ++i) out.delta[i] = (float)cos(0.11 * i);
    backward_network(net);
    double berr = 0;
    for(i = 0; i < n; ++i){
        double x0 = src.output[i], a = sig(-2 * x0), b = sig(3 * x0);
        double want = (-2 * a * (1 - a) + 3 * b * (1 - b)) * cos(0.11 * i);
        berr = fmax(berr, fabs(src.delta[i] - want));
        berr = fmax(berr, fabs(ds.delta[i] - 3 * b * (1 - b) * cos(0.11 * i)));
    }
    CHECK_MSG(berr < 1e-5, "backward err %g", berr);
    free_network(net);
}

static void expect_error(const char *text, const char *needle1, const char *needle2)
{
    char err[1024] = {0};
    network *net = parse_text(text, err);
    CHECK_MSG(net == 0, "accepted: %s", text);
    if(net){ free_network(net); return; }
    CHECK_MSG(strstr(err, needle1) && strstr(err, needle2), "error '%s' lacks '%s' / '%s'", err, needle1, needle2);
}

static void test_cfg_errors(void)
{
    const char *head = "[net]\nbatch=1\nheight=3\nwidth=5\ndepth=2\nchannels=3\n\n[upsample3d]\nstride=1\n\n[upsample3d]\nstride=1\n\n";
    char cfg[1024];
    snprintf(cfg, sizeof(cfg), "%s[dualsplit]\n", head);
    expect_error(cfg, "missing required key 'layers'", "[dualsplit]");
    snprintf(cfg, sizeof(cfg), "%s[dualsplit]\nlayers=2\n", head); /* itself */
    expect_error(cfg, "key 'layers'", "not an earlier layer");
    snprintf(cfg, sizeof(cfg), "%s[dualsplit]\nlayers=3\n", head); /* forward */
    expect_error(cfg, "key 'layers'", "not an earlier layer");
    snprintf(cfg, sizeof(cfg), "%s[dualsplit]\nlayers=-3\n", head); /* before the first layer */
    expect_error(cfg, "key 'layers'", "not an earlier layer");
    snprintf(cfg, sizeof(cfg), "%s[dualsplit]\nlayers=99\n", head);
    expect_error(cfg, "key 'layers'", "not an earlier layer");
    snprintf(cfg, sizeof(cfg), "%s[dualsplit]\nlayers=0,1\n", head);
    expect_error(cfg, "key 'layers'", "exactly one layer");
    snprintf(cfg, sizeof(cfg), "%s[dualsplit]\nlayers=first\n", head);
    expect_error(cfg, "key 'layers'", "layer indices");
    snprintf(cfg, sizeof(cfg), "%s[dualsplit]\nlayers=-1\nfrom=0\n", head);
    expect_error(cfg, "'from'", "[dualsplit]");
    snprintf(cfg, sizeof(cfg), "%s[flat]\n\n[dualsplit]\nlayers=-1\n", head);
    expect_error(cfg, "key 'layers'", "is not a 3D layer");
    /* the same cfg with a valid index parses */
    char err[1024];
    snprintf(cfg, sizeof(cfg), "%s[dualsplit]\nlayers=0\n\n[dualsplit]\nlayers=-2\n", head);
    network *net = parse_text(cfg, err);
    CHECK_MSG(net != 0, "%s", err);
    if(net){
        CHECK(net->layers[2].input_layers[0] == 0 && net->layers[3].input_layers[0] == 1);
        free_network(net);
    }
}

/* The same network on the GPU path (route's GPU functions): outputs and the source's delta */
static void test_gpu_vs_cpu(void)
{
    if(!have_gpu) SKIP("no usable GPU (CPU build, or no CUDA device)");
#ifdef GPU
    char err[1024] = {0};
    network *net = parse_text(CFG, err);
    CHECK_MSG(net != 0, "%s", err);
    if(!net) return;
    int n = net->batch * net->layers[0].outputs, i;
    float *dy = malloc(n * sizeof(float)), *out_c = malloc(n * sizeof(float)), *src_d = malloc(n * sizeof(float));
    for(i = 0; i < net->batch * net->inputs; ++i) net->input[i] = (float)sin(0.37 * i) * 0.8f;
    for(i = 0; i < n; ++i) dy[i] = (float)cos(0.11 * i);
    net->train = 1;
    net->gpu_index = -1;
    forward_network(net);
    memcpy(out_c, net->layers[4].output, n * sizeof(float));
    memcpy(net->layers[4].delta, dy, n * sizeof(float));
    backward_network(net);
    memcpy(src_d, net->layers[0].delta, n * sizeof(float));
    net->gpu_index = 0;
    forward_network(net); /* pushes net->input, runs forward_*_gpu, pulls the output */
    cuda_push_array(net->layers[4].delta_gpu, dy, n);
    backward_network(net);
    float *g = malloc(n * sizeof(float));
    cuda_pull_array(net->layers[4].output_gpu, g, n);
    CHECK_MSG(max_rel_err(g, out_c, n, 1e-6) <= 1e-5, "forward %g", max_rel_err(g, out_c, n, 1e-6));
    cuda_pull_array(net->layers[0].delta_gpu, g, n);
    CHECK_MSG(max_rel_err(g, src_d, n, 1e-6) <= 1e-5, "source delta %g", max_rel_err(g, src_d, n, 1e-6));
    free(g); free(dy); free(out_c); free(src_d);
    free_network(net);
#endif
}

int main(void)
{
    darknet3d_init();
    have_gpu = darknet3d_gpu_available(0);
    register_layer_type("flat", parse_flat, 0, 0);
    if(system("mkdir -p tests/out")) return 1;
    RUN(test_branches_forward_backward);
    RUN(test_cfg_errors);
    RUN(test_gpu_vs_cpu);
    TEST_MAIN_END();
}
