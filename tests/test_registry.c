/* Tests of the layer-type registry patch and of darknet3d's table of layer types: registered sections parse, unknown sections/keys fail cleanly, weights round-trip bit-exact, depth propagates. */
#include <unistd.h>
#include "testlib.h"
#include "darknet.h"
#include "darknet3d.h"
#include "cfg_options.h"
#include "option_list.h"
#include "layer3d.h"

/* A tiny registered layer with weights: y = scale[c] * x + bias[c] */
static LAYER_TYPE TESTLIN;

static void fwd(layer l, network net)
{
    int b, c, i, sp = l.outputs / l.out_c;
    for(b = 0; b < l.batch; ++b) for(c = 0; c < l.out_c; ++c) for(i = 0; i < sp; ++i){
        int k = (b * l.out_c + c) * sp + i;
        l.output[k] = l.weights[c] * net.input[k] + l.biases[c];
    }
}

static int parse_testlin(list *options, size_params params, layer *l, char *err, size_t errlen)
{
    dims3d in;
    int scale_init;
    if(params_dims(params, &in, err, errlen)) return -1;
    /* a test section has no row in core/cfg_keys.def: its one key is read directly */
    char *init = option_find(options, "init"), *end;
    if(!init){ snprintf(err, errlen, "missing required key 'init'"); return -1; }
    long v = strtol(init, &end, 10);
    if(end == init || *end){ snprintf(err, errlen, "key 'init': expected an integer, got '%s'", init); return -1; }
    if(v < -100 || v > 100){ snprintf(err, errlen, "key 'init': %ld is out of range [-100, 100]", v); return -1; }
    scale_init = (int)v;
    layer t = {0};
    layer3d_set_shapes(&t, params.batch, in, in);
    t.nweights = in.c; t.nbiases = in.c;
    t.weights = layer3d_alloc(in.c); t.biases = layer3d_alloc(in.c);
    int i;
    for(i = 0; i < in.c; ++i){ t.weights[i] = scale_init + 0.1f * i; t.biases[i] = -0.25f * i; }
    t.forward = fwd;
    fprintf(stderr, "testlin\n");
    *l = t;
    return 0;
}
static int save_testlin(layer l, FILE *fp)
{
    if(write_floats(l.biases, l.nbiases, fp)) return -1;
    return write_floats(l.weights, l.nweights, fp);
}
static int load_testlin(layer l, FILE *fp)
{
    if(read_floats(l.biases, l.nbiases, fp)) return -1;
    return read_floats(l.weights, l.nweights, fp);
}

static const char *write_cfg(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof(path), "tests/out/%s", name);
    CHECK(write_text(path, text) == 0);
    return path;
}

static network *try_parse(const char *text, char *err)
{
    const char *p = write_cfg("reg.cfg", text);
    return parse_network_cfg_err((char *)p, err, 1024);
}

static const char *NET = "[net]\nbatch=2\nheight=4\nwidth=5\ndepth=3\nchannels=2\n";

static void test_register_and_parse(void)
{
    char err[1024] = {0}, cfg[1024];
    snprintf(cfg, sizeof(cfg), "%s\n[testlin]\ninit=2\n\n[testlin]\ninit=3\n", NET);
    network *net = try_parse(cfg, err);
    CHECK_MSG(net != 0, "%s", err);
    if(!net) return;
    CHECK(net->n == 2);
    CHECK(net->layers[0].type == TESTLIN);
    CHECK(strcmp(get_layer_string(net->layers[0].type), "testlin") == 0);
    CHECK(net->layers[1].weights[1] == 3.1f);
    /* forward through the network */
    int i;
    for(i = 0; i < net->inputs * net->batch; ++i) net->input[i] = 1;
    float *out = network_predict(net, net->input);
    CHECK_NEAR(out[0], 2 * 3 + 0 * 0, 1e-6);
    CHECK(network_param_count(net) == 8);
    free_network(net);
}

static void test_unknown_section(void)
{
    char err[1024] = {0}, cfg[1024];
    snprintf(cfg, sizeof(cfg), "%s\n[testlin]\ninit=1\n\n[nosuchlayer]\nx=1\n", NET);
    network *net = try_parse(cfg, err);
    CHECK(net == 0);
    CHECK_MSG(strstr(err, "[nosuchlayer]") != 0, "%s", err);
    CHECK_MSG(strstr(err, ":11:") != 0, "line number missing: %s", err);
}

static void test_unknown_missing_duplicate_bad_keys(void)
{
    char err[1024] = {0}, cfg[1024];
    snprintf(cfg, sizeof(cfg), "%s\n[testlin]\ninit=1\nintt=2\n", NET);
    CHECK(try_parse(cfg, err) == 0);
    CHECK_MSG(strstr(err, "unknown key 'intt'") && strstr(err, "[testlin]"), "%s", err);
    snprintf(cfg, sizeof(cfg), "%s\n[testlin]\n", NET);
    CHECK(try_parse(cfg, err) == 0);
    CHECK_MSG(strstr(err, "missing required key 'init'"), "%s", err);
    snprintf(cfg, sizeof(cfg), "%s\n[testlin]\ninit=1\ninit=2\n", NET);
    CHECK(try_parse(cfg, err) == 0);
    CHECK_MSG(strstr(err, "given twice"), "%s", err);
    snprintf(cfg, sizeof(cfg), "%s\n[testlin]\ninit=1x\n", NET);
    CHECK(try_parse(cfg, err) == 0);
    CHECK_MSG(strstr(err, "expected an integer") && strstr(err, "'init'"), "%s", err);
    snprintf(cfg, sizeof(cfg), "%s\n[testlin]\ninit=1000\n", NET);
    CHECK(try_parse(cfg, err) == 0);
    CHECK_MSG(strstr(err, "out of range"), "%s", err);
    CHECK(try_parse("x=1\n[net]\n", err) == 0);
    CHECK_MSG(strstr(err, "before any"), "%s", err);
    CHECK(try_parse("[net]\nbatch=1\n", err) == 0);
    CHECK(try_parse("[testlin]\ninit=1\n", err) == 0);
    CHECK_MSG(strstr(err, "first section"), "%s", err);
    CHECK(try_parse("[net]\nbatch=1\nheight=2\nwidth=2\n[testlin]\ninit=1\n", err) == 0); /* channels missing */
    CHECK_MSG(strstr(err, "channels"), "%s", err);
    CHECK(parse_network_cfg_err("tests/out/does-not-exist.cfg", err, sizeof(err)) == 0);
    CHECK_MSG(strstr(err, "cannot open"), "%s", err);
}

static void test_weights_roundtrip(void)
{
    char err[1024] = {0}, cfg[1024];
    snprintf(cfg, sizeof(cfg), "%s\n[testlin]\ninit=2\n\n[route]\nlayers=-1\n\n[testlin]\ninit=3\n", NET);
    network *a = try_parse(cfg, err);
    CHECK_MSG(a != 0, "%s", err);
    if(!a) return;
    int i;
    for(i = 0; i < 2; ++i){ a->layers[0].weights[i] = 0.1f * (i + 1) / 3.f; a->layers[2].biases[i] = -1.f / (i + 7); }
    *a->seen = 123456789012ULL;
    save_weights(a, "tests/out/reg.weights");
    /* header: major=0 minor=2 revision=0, then seen as size_t */
    FILE *f = fopen("tests/out/reg.weights", "rb");
    int hdr[3];
    size_t seen = 0;
    CHECK(fread(hdr, sizeof(int), 3, f) == 3);
    CHECK(fread(&seen, sizeof(size_t), 1, f) == 1);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    CHECK(hdr[0] == 0 && hdr[1] == 2 && hdr[2] == 0);
    CHECK(seen == 123456789012ULL);
    CHECK(size == 3 * 4 + 8 + 4 * 2 * 4);

    network *b = try_parse(cfg, err);
    CHECK(load_weights_upto_err(b, "tests/out/reg.weights", 0, b->n, err, sizeof(err)) == 0);
    CHECK(*b->seen == 123456789012ULL);
    CHECK(memcmp(a->layers[0].weights, b->layers[0].weights, 2 * sizeof(float)) == 0);
    CHECK(memcmp(a->layers[2].biases, b->layers[2].biases, 2 * sizeof(float)) == 0);
    free_network(b);

    /* truncated mid-layer: clean error naming the layer */
    CHECK(truncate("tests/out/reg.weights", size - 4) == 0);
    b = try_parse(cfg, err);
    CHECK(load_weights_upto_err(b, "tests/out/reg.weights", 0, b->n, err, sizeof(err)) != 0);
    CHECK_MSG(strstr(err, "layer 2"), "%s", err);
    free_network(b);

    /* weights of a smaller cfg: extra bytes are an error, not silently ignored */
    save_weights(a, "tests/out/reg.weights");
    snprintf(cfg, sizeof(cfg), "%s\n[testlin]\ninit=2\n", NET);
    b = try_parse(cfg, err);
    CHECK(load_weights_upto_err(b, "tests/out/reg.weights", 0, b->n, err, sizeof(err)) != 0);
    CHECK_MSG(strstr(err, "bytes left"), "%s", err);
    free_network(b);
    free_network(a);
}

static void test_depth_propagation(void)
{
    char err[1024] = {0}, cfg[1024];
    snprintf(cfg, sizeof(cfg), "%s\n[testlin]\ninit=1\n\n[route]\nlayers=-1\n\n[shortcut]\nfrom=-2\nactivation=linear\n\n[dropout]\nprobability=0.5\n\n[testlin]\ninit=1\n\n[route]\nlayers=-1,-5\n\n[testlin]\ninit=1\n", NET);
    network *net = try_parse(cfg, err);
    CHECK_MSG(net != 0, "%s", err);
    if(!net) return;
    int i;
    for(i = 0; i < net->n; ++i){
        CHECK_MSG(net->layers[i].out_d == 3, "layer %d out_d=%d", i, net->layers[i].out_d);
        CHECK_MSG(net->layers[i].out_h == 12, "layer %d out_h=%d", i, net->layers[i].out_h);
    }
    CHECK(net->layers[5].out_c == 4);
    CHECK(net->layers[6].d == 3 && net->layers[6].h == 12 && net->layers[6].c == 4);
    CHECK(net->inputs == 2 * 3 * 4 * 5);
    free_network(net);
}

/* darknet3d's own table (layers/layers3d.c): every row registered under its name, with distinct ids and its free hook */
static void test_layer_table(void)
{
    int i, j;
    CHECK(layers3d_ntypes == 8);
    CHECK(layers3d_register() == 0);   /* a second call does nothing and succeeds */
    for(i = 0; i < layers3d_ntypes; ++i){
        const layer3d_type *t = &layers3d_types[i];
        CHECK_MSG(*t->id != BLANK, "[%s] has no id", t->name);
        CHECK_MSG(!strcmp(get_layer_string(*t->id), t->name), "[%s] is named '%s'", t->name, get_layer_string(*t->id));
        CHECK_MSG(registered_layer_free(*t->id) == t->free, "[%s]: wrong free hook", t->name);
        CHECK_MSG(t->parse != 0 && (t->save == 0) == (t->load == 0), "[%s]: parse missing or save/load unpaired", t->name);
        for(j = 0; j < i; ++j) CHECK_MSG(*t->id != *layers3d_types[j].id, "[%s] and [%s] share an id", t->name, layers3d_types[j].name);
    }
    CHECK(CONV3D != BLANK && DECONV3D != BLANK && UPSAMPLE3D != BLANK && MAXPOOL3D != BLANK && R2S != BLANK &&
          DTRANSFORM != BLANK && DUALSPLIT != BLANK && DBISL != BLANK);
}

int main(void)
{
    darknet3d_init();
    darknet3d_gpu_available(0);
    gpu_index = -1; /* the registry is tested on the CPU path (the test layer has no GPU functions) */
    TESTLIN = register_layer_type("testlin", parse_testlin, save_testlin, load_testlin);
    if(system("mkdir -p tests/out")) return 1;
    RUN(test_layer_table);
    RUN(test_register_and_parse);
    RUN(test_unknown_section);
    RUN(test_unknown_missing_duplicate_bad_keys);
    RUN(test_weights_roundtrip);
    RUN(test_depth_propagation);
    TEST_MAIN_END();
}
