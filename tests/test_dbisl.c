/* Tests of the [dbisl] loss layer: values and gradients vs PyTorch autograd fixtures, finite differences through the s2r terms, cfg errors, GPU path vs CPU path. */
#include "testlib.h"
#include "darknet.h"
#include "darknet3d.h"
#include "dbisl_layer.h"
#include "layers3d.h"

#define B 3
#define D 4
#define H 5
#define W 6
#define V (D * H * W)

static const char *TERMS[DBISL_NTERMS] = {"w_sup_seg", "w_sup_reg", "w_sup_s2r", "w_sup_r2s", "w_con_seg", "w_con_reg", "w_con_s2r", "w_con_r2s", "w_pse"};

/* The cfg of the loss over placeholder heads: ndec * 2 one-channel layers whose outputs the test sets (seg, sdf
 * of each decoder: layers 0..2*ndec-1), then per head a [route] of it and the section the loss reads ([dtransform]
 * input=logits on a seg head, [r2s] input=preact on an sdf head), then [dbisl]. `extra` lists the settings one per
 * line: the s2r transform's keys go to the [dtransform] sections, k to the [r2s] sections, the rest to [dbisl]. */
static void write_cfg(const char *path, int batch, int ndec, const char *extra)
{
    static const char *dt_keys[] = {"kernel=", "h=", "scale=", "binarize=", "tau=", "exact=", "early_stop=", 0};
    char dt[512] = "", r2s[512] = "", loss[1024] = "", line[256];
    const char *p = extra;
    while(*p){
        size_t len = strcspn(p, "\n"), k;
        snprintf(line, sizeof(line), "%.*s\n", (int)len, p);
        char *dst = loss;
        size_t cap = sizeof(loss);
        for(k = 0; dt_keys[k]; ++k) if(!strncmp(line, dt_keys[k], strlen(dt_keys[k]))){ dst = dt; cap = sizeof(dt); }
        if(!strncmp(line, "k=", 2)){ dst = r2s; cap = sizeof(r2s); }
        snprintf(dst + strlen(dst), cap - strlen(dst), "%s", line);
        p += len + (p[len] == '\n');
    }
    FILE *f = fopen(path, "w");
    fprintf(f, "[net]\nbatch=%d\ndepth=%d\nheight=%d\nwidth=%d\nchannels=1\n", batch, D, H, W);
    int i, nh = 2 * ndec;
    for(i = 0; i < nh; ++i) fprintf(f, "\n[r2s]\nk=-1\n");
    for(i = 0; i < nh; ++i){
        fprintf(f, "\n[route]\nlayers=%d\n", i);
        if(i % 2 == 0) fprintf(f, "\n[dtransform]\ninput=logits\n%s", dt);
        else fprintf(f, "\n[r2s]\ninput=preact\n%s", r2s);
    }
    /* the sections the loss reads: layer nh + 2*i + 1 for head i */
    if(ndec == 2) fprintf(f, "\n[dbisl]\nseg=0,2\nsdf=1,3\ns2r=%d,%d\nr2s=%d,%d\n%s", nh + 1, nh + 5, nh + 3, nh + 7, loss);
    else fprintf(f, "\n[dbisl]\nseg=0\nsdf=1\ns2r=%d\nr2s=%d\n%s", nh + 1, nh + 3, loss);
    fclose(f);
}

static network *make_net_n(const char *extra, int ndec, char *err)
{
    write_cfg("tests/out/dbisl.cfg", B, ndec, extra);
    return parse_network_cfg_err("tests/out/dbisl.cfg", err, 1024);
}

/* two decoders */
static network *make_net(const char *extra, char *err) { return make_net_n(extra, 2, err); }

/* forward (then backward, in reverse) of every layer after the placeholder heads, as forward_network and
 * backward_network run them; gpu: their _gpu twins */
static void run_sections(network *net, int gpu)
{
    int nh = 2 * dbisl_decoders(net->layers[net->n - 1]), i;
    network n = *net;
    n.train = 1;
    for(i = nh; i < net->n; ++i){
        layer l = net->layers[i], prev = net->layers[i - 1];
        n.index = i;
#ifdef GPU
        if(gpu){
            fill_gpu(l.outputs * l.batch, 0, l.delta_gpu, 1);
            n.input_gpu = prev.output_gpu;
            l.forward_gpu(l, n);
            continue;
        }
#endif
        (void)gpu;
        memset(l.delta, 0, (size_t)l.outputs * l.batch * sizeof(float));
        n.input = prev.output;
        l.forward(l, n);
    }
    for(i = net->n - 1; i >= nh; --i){
        layer l = net->layers[i], prev = net->layers[i - 1];
        n.index = i;
#ifdef GPU
        if(gpu){
            n.input_gpu = prev.output_gpu;
            n.delta_gpu = prev.delta_gpu;
            l.backward_gpu(l, n);
            continue;
        }
#endif
        n.input = prev.output;
        n.delta = prev.delta;
        l.backward(l, n);
    }
}

/* runs forward+backward of the loss with the given inputs; returns the cost, deltas in net->layers[0..3].delta */
static float run(network *net, float **in, float *truth)
{
    int i;
    for(i = 0; i < 4; ++i){
        memcpy(net->layers[i].output, in[i], B * V * sizeof(float));
        memset(net->layers[i].delta, 0, B * V * sizeof(float));
    }
    memcpy(net->truth, truth, B * (V + 1) * sizeof(float));
    run_sections(net, 0);
    return net->layers[net->n - 1].cost[0];
}

static void test_vs_pytorch(void)
{
    float *inp = 0;
    long ni = fixture_f32("tests/fixtures/dbisl/inputs.f32", 4 * B * V + B * (V + 1), &inp);
    CHECK(ni == 4 * B * V + B * (V + 1));
    if(ni < 0) return;
    float *in[4] = {inp, inp + B * V, inp + 2 * B * V, inp + 3 * B * V};
    float *truth = inp + 4 * B * V;
    FILE *cf = fopen("tests/fixtures/dbisl/cases.txt", "r");
    CHECK(cf != 0);
    if(!cf) return;
    char name[64];
    float wt[DBISL_NTERMS];
    int pl, ncases = 0;
    while(fscanf(cf, "%63s %g %g %g %g %g %g %g %g %g %d", name, &wt[0], &wt[1], &wt[2], &wt[3], &wt[4], &wt[5], &wt[6], &wt[7], &wt[8], &pl) == 11){
        char extra[1024], err[1024];
        int n = snprintf(extra, sizeof(extra), "k=-8\nk_seg=-6\nlambda=0.5\nbeta=0.7\nrampup=0\npse_labeled=%d\nscale=1\n", pl);
        int t;
        for(t = 0; t < DBISL_NTERMS; ++t) n += snprintf(extra + n, sizeof(extra) - n, "%s=%g\n", TERMS[t], wt[t]);
        network *net = make_net(extra, err);
        CHECK_MSG(net != 0, "%s", err);
        if(!net) break;
        float cost = run(net, in, truth);
        char path[256];
        snprintf(path, sizeof(path), "tests/fixtures/dbisl/%s.f32", name);
        float *ref = 0;
        long nr = fixture_f32(path, 1 + 4 * B * V, &ref);
        CHECK(nr == 1 + 4 * B * V);
        CHECK_MSG(fabs(cost - ref[0]) <= 1e-5 * fabs(ref[0]) + 1e-6, "%s: cost %.8g vs torch %.8g", name, cost, ref[0]);
        for(t = 0; t < 4; ++t){
            float g[B * V];
            int j;
            for(j = 0; j < B * V; ++j) g[j] = -net->layers[t].delta[j] / B; /* delta = -batch * gradient */
            double e = max_rel_err(g, ref + 1 + t * B * V, B * V, 1e-6);
            CHECK_MSG(e <= 1e-4, "%s: input %d gradient rel err %g", name, t, e);
        }
        free(ref);
        free_network(net);
        ncases++;
    }
    fclose(cf);
    CHECK(ncases == 8);
    free(inp);
}

/* central differences of the cost through every term, the s2r ones included (smooth binarisation);
 * pseudo-supervision is left out: its target Ybar is a stop-gradient by design (checked against autograd above) */
static void test_finite_differences_all_terms(void)
{
    char err[1024];
    char cfg[512];
    snprintf(cfg, sizeof(cfg), "k=-3\nk_seg=-2\nbeta=0.6\nbinarize=sigmoid\ntau=4\nscale=1\nw_pse=0\n%s", getenv("DBISL_FD_EXTRA") ? getenv("DBISL_FD_EXTRA") : "");
    network *net = make_net(cfg, err);
    CHECK_MSG(net != 0, "%s", err);
    if(!net) return;
    static float a[4][B * V], truth[B * (V + 1)];
    int i, j, t;
    unsigned s = 7;
    for(t = 0; t < 4; ++t) for(j = 0; j < B * V; ++j){ s = s * 1103515245u + 12345u; a[t][j] = ((s >> 8) % 2000) / 500.f - 2.f; }
    for(i = 0; i < B; ++i){
        for(j = 0; j < V; ++j){ int z = j / (H * W), y = (j / W) % H, x = j % W; truth[i * (V + 1) + j] = (i != 1) && (abs(z - 2) + abs(y - 2) + abs(x - 3) <= 2 + i); }
        truth[i * (V + 1) + V] = (i != 1);
    }
    float *in[4] = {a[0], a[1], a[2], a[3]};
    run(net, in, truth);
    static float g[4][B * V];
    for(t = 0; t < 4; ++t) for(j = 0; j < B * V; ++j) g[t][j] = -net->layers[t].delta[j] / B;
    int checked = 0, bad = 0;
    for(t = 0; t < 4; ++t){
        for(j = 0; j < B * V; j += 7){
            float keep = a[t][j], h = 1e-2f;
            a[t][j] = keep + h; double cp = run(net, in, truth);
            a[t][j] = keep - h; double cm = run(net, in, truth);
            a[t][j] = keep;
            double fd = (cp - cm) / (2 * h);
            checked++;
            if(fabs(fd - g[t][j]) > 2e-3 + 2e-2 * fabs(fd)){ if(bad++ < 5) printf("  input %d voxel %d: fd %.6g analytic %.6g\n", t, j, fd, g[t][j]); }
        }
    }
    CHECK_MSG(bad == 0, "%d of %d gradient entries disagree", bad, checked);
    free_network(net);
}

static void test_one_decoder_and_errors(void)
{
    char err[1024];
    write_cfg("tests/out/dbisl1.cfg", 2, 1, "");
    network *net = parse_network_cfg_err("tests/out/dbisl1.cfg", err, sizeof(err));
    CHECK_MSG(net != 0, "%s", err);
    if(net){ CHECK(dbisl_decoders(net->layers[net->n - 1]) == 1); CHECK(net->truths == V + 1); free_network(net); }
    const char *bad[][2] = {
        {"seg=0\nsdf=1,0\n", "'sdf'"},
        {"seg=0\nsdf=5\n", "not an earlier layer"},
        {"seg=0\n", "missing required key 'sdf'"},
        {"seg=0\nsdf=1\nk=5\n", "key 'k': T_r2s's k is a key of its [r2s] sections"},
        {"seg=0\nsdf=1\nk_seg=5\n", "out of range"},
        {"seg=0\nsdf=1\nw_pse=-1\n", "out of range"},
        {"seg=0\nsdf=1\nramp=cosine\n", "'ramp'"},
        {"seg=0\nsdf=1\nbinarize=hard\n", "key 'binarize': the s2r transform's settings are keys of its [dtransform]"},
        {"seg=0\nsdf=1\n", "key 'w_sup_reg': the term is on but no s2r= is given"},
        {"seg=0\nsdf=1\nw_sup_reg=0\nw_sup_s2r=0\nw_con_s2r=0\n", "key 'w_con_r2s': the term is on but no r2s= is given"},
        {"seg=0\nsdf=1\ns2r=1\n", "key 's2r': layer 1 is not a [dtransform] with input=logits section"},
        {"seg=0\nsdf=1\nr2s=0\n", "key 'r2s': layer 0 is not a [r2s] with input=preact section"},
    };
    size_t i;
    for(i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i){
        FILE *f = fopen("tests/out/dbisl1.cfg", "w");
        fprintf(f, "[net]\nbatch=2\ndepth=4\nheight=5\nwidth=6\nchannels=1\n[r2s]\n[r2s]\n[dbisl]\n%s", bad[i][0]);
        fclose(f);
        net = parse_network_cfg_err("tests/out/dbisl1.cfg", err, sizeof(err));
        CHECK_MSG(net == 0 && strstr(err, bad[i][1]) && strstr(err, "[dbisl]"), "case %zu: %s", i, err);
        if(net) free_network(net);
    }
    /* sections in the wrong place: a [dtransform] that does not read its head, two with different settings */
    const char *placed[][2] = {
        {"[r2s]\n[r2s]\n[r2s]\n[dtransform]\ninput=logits\n[r2s]\ninput=preact\n[dbisl]\nseg=0\nsdf=1\ns2r=3\nr2s=4\n",
         "key 's2r': layer 3 does not read head 0"},
        {"[r2s]\n[dtransform]\ninput=logits\n[r2s]\n[r2s]\ninput=preact\n[r2s]\n[dtransform]\ninput=logits\nscale=1\n[r2s]\n[r2s]\ninput=preact\n"
         "[dbisl]\nseg=0,4\nsdf=2,6\ns2r=1,5\nr2s=3,7\n", "key 's2r': layers 1 and 5 have different settings"},
    };
    for(i = 0; i < sizeof(placed) / sizeof(placed[0]); ++i){
        FILE *f = fopen("tests/out/dbisl1.cfg", "w");
        fprintf(f, "[net]\nbatch=2\ndepth=4\nheight=5\nwidth=6\nchannels=1\n%s", placed[i][0]);
        fclose(f);
        net = parse_network_cfg_err("tests/out/dbisl1.cfg", err, sizeof(err));
        CHECK_MSG(net == 0 && strstr(err, placed[i][1]) && strstr(err, "[dbisl]"), "placement case %zu: %s", i, err);
        if(net) free_network(net);
    }
    /* an input of the wrong shape: a 2-channel layer */
    FILE *f = fopen("tests/out/dbisl1.cfg", "w");
    fprintf(f, "[net]\nbatch=2\ndepth=4\nheight=5\nwidth=6\nchannels=2\n[r2s]\n[r2s]\n[dbisl]\nseg=0\nsdf=1\n");
    fclose(f);
    net = parse_network_cfg_err("tests/out/dbisl1.cfg", err, sizeof(err));
    CHECK_MSG(net == 0 && strstr(err, "expected 1 x 4 x 5 x 6"), "%s", err);
}

static void test_beta_ramp(void)
{
    char err[1024];
    network *net = make_net("beta=2\nrampup=100\n", err);
    CHECK_MSG(net != 0, "%s", err);
    if(!net) return;
    layer l = net->layers[net->n - 1];
    CHECK_NEAR(dbisl_beta(l, 0), 2 * exp(-5.0), 1e-6);
    CHECK_NEAR(dbisl_beta(l, 50), 2 * exp(-5.0 * 0.25), 1e-6);
    CHECK_NEAR(dbisl_beta(l, 100), 2, 1e-6);
    CHECK_NEAR(dbisl_beta(l, 1000), 2, 1e-6);
    free_network(net);
}

/* gamma(t), the ramp of the con_* terms: each shape, and the cost it weights (sum of factor * w * term) */
static void test_con_ramp(void)
{
    static const struct { const char *extra; double g0, g50; } cases[] = {
        {"con_rampup=100\n", -5.0, -1.25},                       /* sigmoid (default): exponents of exp */
        {"con_rampup=100\ncon_ramp=linear\n", 0, 0.5},
        {"con_rampup=100\ncon_ramp=none\n", 1, 1},
        {"", 1, 1},                                             /* no con_rampup: gamma = 1 */
    };
    size_t c;
    for(c = 0; c < sizeof(cases) / sizeof(cases[0]); ++c){
        char err[1024], extra[256];
        snprintf(extra, sizeof(extra), "k=-3\nk_seg=-2\nlambda=0.5\nbeta=2\nrampup=200\nscale=1\nw_con_reg=0.3\n%s", cases[c].extra);
        network *net = make_net(extra, err);
        CHECK_MSG(net != 0, "case %zu: %s", c, err);
        if(!net) continue;
        layer l = net->layers[net->n - 1];
        int sig = c == 0;
        double g0 = sig ? exp(cases[c].g0) : cases[c].g0, g50 = sig ? exp(cases[c].g50) : cases[c].g50;
        float f[DBISL_NTERMS];
        int ts[3] = {0, 50, 1000}, k, t;
        double want[3] = {g0, g50, 1};
        for(k = 0; k < 3; ++k){
            dbisl_factors(l, ts[k], f);
            for(t = 0; t < DBISL_NTERMS; ++t){
                int con = t >= DBISL_CON_SEG && t <= DBISL_CON_R2S;
                double w = t == DBISL_PSE ? dbisl_beta(l, ts[k]) : con ? 0.5 * want[k] : 0.5;
                CHECK_MSG(fabs(f[t] - w) <= 1e-6, "case %zu t=%d %s: factor %.8g, expected %.8g", c, ts[k], dbisl_term_names[t], f[t], w);
            }
        }
        /* the cost at iteration 50 is the sum of factor * w * term */
        static float a[4][B * V], truth[B * (V + 1)];
        int j;
        unsigned s = 5;
        for(t = 0; t < 4; ++t) for(j = 0; j < B * V; ++j){ s = s * 1103515245u + 12345u; a[t][j] = ((s >> 8) % 2000) / 500.f - 2.f; }
        for(j = 0; j < B * (V + 1); ++j) truth[j] = (j % (V + 1)) % 3 == 0;
        *net->seen = 50 * (size_t)net->batch * net->subdivisions;
        float *in[4] = {a[0], a[1], a[2], a[3]};
        float cost = run(net, in, truth);
        dbisl_factors(l, 50, f);
        double sum = 0;
        for(t = 0; t < DBISL_NTERMS; ++t) sum += (double)f[t] * (t == DBISL_CON_REG ? 0.3 : 1.0) * l.output[t];
        CHECK_MSG(fabs(cost - sum) <= 1e-5 * fabs(sum), "case %zu: cost %.8g, sum of weighted terms %.8g", c, cost, sum);
        free_network(net);
    }
}

/* con_s2r_grad / con_r2s_grad: the stop-gradient side of each consistency term. With only that term on, the
 * blocked head's delta is 0 and the other head's delta is what it is with both sides. */
static void test_con_grad_side(void)
{
    static const int only[2] = {DBISL_CON_S2R, DBISL_CON_R2S};
    static const char *key[2] = {"con_s2r_grad", "con_r2s_grad"};
    int term, side, t, j;
    static float a[4][B * V], truth[B * (V + 1)], both[4][B * V];
    unsigned s = 3;
    for(t = 0; t < 4; ++t) for(j = 0; j < B * V; ++j){ s = s * 1103515245u + 12345u; a[t][j] = ((s >> 8) % 2000) / 500.f - 2.f; }
    for(j = 0; j < B * (V + 1); ++j) truth[j] = 1;
    float *in[4] = {a[0], a[1], a[2], a[3]};
    for(term = 0; term < 2; ++term){
        for(side = 0; side < 3; ++side){   /* both, seg, sdf */
            static const char *names[3] = {"both", "seg", "sdf"};
            char err[1024], extra[512];
            int n = snprintf(extra, sizeof(extra), "k=-3\nscale=1\nbinarize=sigmoid\ntau=4\n%s=%s\n", key[term], names[side]);
            for(t = 0; t < DBISL_NTERMS; ++t)
                n += snprintf(extra + n, sizeof(extra) - n, "%s=%d\n", TERMS[t], t == only[term]);
            network *net = make_net(extra, err);
            CHECK_MSG(net != 0, "%s=%s: %s", key[term], names[side], err);
            if(!net) continue;
            float c = run(net, in, truth);
            CHECK_MSG(c > 0, "%s=%s: cost %g", key[term], names[side], c);
            int nz[4] = {0, 0, 0, 0}, diff = 0;
            for(t = 0; t < 4; ++t) for(j = 0; j < B * V; ++j){
                float d = net->layers[t].delta[j];
                nz[t] += d != 0;
                if(side == 0) both[t][j] = d;
                else if(d != 0 && d != both[t][j]) diff++;
            }
            int seg_on = side != 2, sdf_on = side != 1;   /* inputs 0, 2: seg heads; 1, 3: sdf heads */
            CHECK_MSG((nz[0] > 0) == seg_on && (nz[2] > 0) == seg_on, "%s=%s: seg head deltas nonzero %d, %d", key[term], names[side], nz[0], nz[2]);
            CHECK_MSG((nz[1] > 0) == sdf_on && (nz[3] > 0) == sdf_on, "%s=%s: sdf head deltas nonzero %d, %d", key[term], names[side], nz[1], nz[3]);
            CHECK_MSG(diff == 0, "%s=%s: %d deltas differ from both sides'", key[term], names[side], diff);
            free_network(net);
        }
    }
    char err[1024];
    network *net = make_net("con_r2s_grad=neither\n", err);
    CHECK_MSG(net == 0 && strstr(err, "con_r2s_grad") && strstr(err, "neither"), "%s", err);
}

/* The [dtransform] sections [dbisl] reads run in training only (inference reads the heads); [r2s] runs always. */
static void test_transforms_train_only(void)
{
    char err[1024];
    FILE *f = fopen("tests/out/dbisl_train_only.cfg", "w");
    fprintf(f, "[net]\nbatch=%d\ndepth=%d\nheight=%d\nwidth=%d\nchannels=1\n"
               "[conv3d]\nfilters=1\nsize=1\nactivation=linear\n[dtransform]\ninput=logits\nscale=1\n[route]\nlayers=0\n"
               "[conv3d]\nfilters=1\nsize=1\nactivation=linear\n[r2s]\ninput=preact\nk=-2\n"
               "[dbisl]\nseg=0\nsdf=3\ns2r=1\nr2s=4\n", B, D, H, W);
    fclose(f);
    network *net = parse_network_cfg_err("tests/out/dbisl_train_only.cfg", err, sizeof(err));
    CHECK_MSG(net != 0, "%s", err);
    if(!net) return;
    int i, j, s2r = 1, r2s = 4, n = B * V;
    CHECK(net->layers[s2r].type == DTRANSFORM && net->layers[r2s].type == R2S);
    /* heads = the input itself, which has both signs: a mask with an inside and an outside */
    for(i = 0; i < 2; ++i){ net->layers[3 * i].weights[0] = 1; net->layers[3 * i].biases[0] = 0; }
    for(i = 0; i < n; ++i){ int x = i % W, y = (i / W) % H; net->input[i] = (x >= 2 && x <= 4 && y >= 1 && y <= 3) ? 1.f : -1.f; }
    for(j = 0; j < 2; ++j){
        net->train = j;
        memset(net->layers[s2r].output, 0, n * sizeof(float));
        memset(net->layers[r2s].output, 0, n * sizeof(float));
        forward_network(net);
        int nz_s = 0, nz_r = 0;
        for(i = 0; i < n; ++i){ nz_s += net->layers[s2r].output[i] != 0; nz_r += net->layers[r2s].output[i] != 0; }
        CHECK_MSG(j ? nz_s > 0 : nz_s == 0, "train=%d: %d nonzero [dtransform] outputs", j, nz_s);
        CHECK_MSG(nz_r == n, "train=%d: [r2s] gave %d nonzero outputs of %d", j, nz_r, n);
    }
    free_network(net);
}

/* pse_mask=0, 1, 2: the pseudo-supervision CE averaged over the voxels of the selected samples where the mask holds
 * (0: every voxel; 1: both seg heads and both distance heads agree; 2: the two seg heads agree), its gradient
 * zero outside the mask; the expected values are computed here from the heads' values */
static void test_pse_mask(void)
{
    int mode;
    for(mode = 0; mode <= 2; ++mode){
        char err[1024], cfg[512];
        snprintf(cfg, sizeof(cfg), "k=-3\nbeta=0.7\nrampup=0\nscale=1\npse_mask=%d\nw_sup_seg=0\nw_sup_reg=0\nw_sup_s2r=0\n"
                 "w_sup_r2s=0\nw_con_seg=0\nw_con_reg=0\nw_con_s2r=0\nw_con_r2s=0\n", mode);
        network *net = make_net(cfg, err);
        CHECK_MSG(net != 0, "pse_mask=%d: %s", mode, err);
        if(!net) continue;
        static float a[4][B * V], truth[B * (V + 1)];
        int j, t, cnt = 0;
        unsigned s = 11;
        for(t = 0; t < 4; ++t) for(j = 0; j < B * V; ++j){ s = s * 1103515245u + 12345u; a[t][j] = ((s >> 8) % 2000) / 500.f - 2.f; }
        for(j = 0; j < B; ++j) truth[j * (V + 1) + V] = j == 0;
        float *in[4] = {a[0], a[1], a[2], a[3]};
        float cost = run(net, in, truth);
        static char m[B * V];
        for(j = 0; j < B * V; ++j){
            int p = a[0][j] > 0, q = a[2][j] > 0, c = a[1][j] < 0, d = a[3][j] < 0;   /* sigmoid > .5, tanh < 0 */
            m[j] = mode == 0 || (p == q && (mode == 2 || (q == c && c == d)));
            cnt += m[j];
        }
        CHECK_MSG(mode == 0 ? cnt == B * V : cnt > 0 && cnt < B * V, "pse_mask=%d: %d masked voxels", mode, cnt);
        /* expected: 0.7 * sum over both seg heads of the masked mean of softplus(z) - ybar z, ybar the mean of the
         * two sigmoids; gradient 0.7 (y - ybar) / cnt inside the mask, 0 outside */
        double ce = 0, maxerr = 0;
        for(j = 0; j < B * V; ++j){
            float y0 = 1 / (1 + expf(-a[0][j])), y1 = 1 / (1 + expf(-a[2][j])), yb = .5f * (y0 + y1);
            int w;
            for(w = 0; w < 2; ++w){
                float z = a[2 * w][j], y = w ? y1 : y0;
                if(m[j]) ce += log1p(exp(z)) - yb * z;
                double g = m[j] ? 0.7 * (y - yb) / cnt : 0, got = -net->layers[2 * w].delta[j] / B;
                if(fabs(got - g) > maxerr) maxerr = fabs(got - g);
            }
            CHECK(net->layers[1].delta[j] == 0 && net->layers[3].delta[j] == 0);
        }
        double want = 0.7 * ce / cnt;
        CHECK_MSG(fabs(cost - want) <= 1e-5 * fabs(want), "pse_mask=%d: cost %.8g, expected %.8g", mode, cost, want);
        float cover = dbisl_pse_cover(net->layers[net->n - 1]);
        CHECK_MSG(fabs(cover - (double)cnt / (B * V)) <= 1e-6, "pse_mask=%d: mask share %g, expected %g", mode, cover, (double)cnt / (B * V));
        CHECK_MSG(maxerr <= 1e-7, "pse_mask=%d: gradient max abs err %g", mode, maxerr);
        free_network(net);
    }
    /* without the pse term the share is -1 (the training line then prints no mask=) */
    char err[1024];
    network *net = make_net("k=-3\nrampup=0\nscale=1\nw_pse=0\n", err);
    CHECK_MSG(net != 0, "w_pse=0: %s", err);
    if(!net) return;
    static float z[4][B * V], truth[B * (V + 1)];
    float *in[4] = {z[0], z[1], z[2], z[3]};
    run(net, in, truth);
    CHECK_MSG(dbisl_pse_cover(net->layers[net->n - 1]) == -1, "w_pse=0: mask share %g", dbisl_pse_cover(net->layers[net->n - 1]));
    free_network(net);
}

/* The device path (forward_gpu/backward_gpu) against the CPU path on the same network: cost, term
 * values (host and output_gpu) and the four input gradients, for a mixed labeled/unlabeled batch with
 * every term on, each binarisation of the s2r, both resolutions, one decoder and an all-unlabeled batch. */
static void test_gpu_vs_cpu(void)
{
#ifndef GPU
    SKIP("CPU build");
#else
    if(!darknet3d_gpu_available(0)) SKIP("no usable CUDA device");
    gpu_index = 0;
    static const struct { const char *extra; int ndec, unlabeled; } cases[] = {
        {"binarize=ste\nscale=1\n", 2, 0},
        {"binarize=softmin\nscale=1\n", 2, 0},
        {"binarize=ste\n", 2, 0},                                    /* scale 0.5: resized transform */
        {"binarize=softmin\n", 2, 0},
        {"binarize=sigmoid\ntau=4\npse_labeled=0\npseudo_hard=1\nscale=1\n", 2, 0},
        {"binarize=ste\nscale=1\nw_sup_reg=0\nw_sup_s2r=0\n", 2, 0},  /* no label transform */
        {"binarize=softmin\nscale=1\n", 2, 1},                       /* no labeled sample */
        {"binarize=ste\nscale=1\n", 1, 0},                            /* one decoder */
        {"binarize=softmin\nscale=1\npse_mask=0\n", 2, 0},            /* no confidence mask */
        {"binarize=ste\nscale=1\npse_mask=2\n", 2, 0},                /* the seg heads' mask */
        {"binarize=softmin\nscale=1\ncon_rampup=8\ncon_s2r_grad=sdf\n", 2, 0},  /* con ramp at t=4, stop-gradients */
        {"binarize=ste\nscale=1\ncon_rampup=8\ncon_ramp=linear\ncon_s2r_grad=seg\ncon_r2s_grad=sdf\n", 2, 0},
        {"binarize=softmin\nscale=1\ncon_r2s_grad=seg\n", 2, 0},
    };
    size_t c;
    for(c = 0; c < sizeof(cases) / sizeof(cases[0]); ++c){
        char err[1024], extra[512];
        snprintf(extra, sizeof(extra), "k=-3\nk_seg=-2\nlambda=0.5\nbeta=0.6\n%s", cases[c].extra);
        int nin = 2 * cases[c].ndec, t, i, j;
        /* a network built for the device holds device buffers only ([dtransform] has no host scratch then): the CPU
         * reference runs on a second network of the same cfg built for the CPU */
        gpu_index = 0;
        network *net = make_net_n(extra, cases[c].ndec, err);
        CHECK_MSG(net != 0, "case %zu: %s", c, err);
        gpu_index = -1;
        network *cnet = net ? make_net_n(extra, cases[c].ndec, err) : 0;
        gpu_index = 0;
        CHECK_MSG(!net || cnet != 0, "case %zu (CPU): %s", c, err);
        if(!net || !cnet){ if(net) free_network(net); continue; }
        *net->seen = *cnet->seen = 4 * (size_t)net->batch * net->subdivisions;   /* iteration 4: inside every ramp above */
        layer l = net->layers[net->n - 1], lc = cnet->layers[cnet->n - 1];
        CHECK(l.output_gpu != 0);
        static float in[4][B * V], truth[B * (V + 1)], dcpu[4][B * V], dgpu[4][B * V];
        unsigned s = 11 + (unsigned)c;
        for(t = 0; t < nin; ++t) for(j = 0; j < B * V; ++j){ s = s * 1103515245u + 12345u; in[t][j] = ((s >> 8) % 2000) / 500.f - 2.f; }
        /* make the two decoders agree on part of the volume so the confidence mask is not tiny */
        if(nin == 4) for(j = 0; j < B * V; j += 2){ in[2][j] = in[0][j] + .1f; in[3][j] = in[1][j] - .1f; }
        for(i = 0; i < B; ++i){
            for(j = 0; j < V; ++j){ int z = j / (H * W), y = (j / W) % H, x = j % W; truth[i * (V + 1) + j] = abs(z - 2) + abs(y - 2) + abs(x - 3) <= 1 + i; }
            truth[i * (V + 1) + V] = !cases[c].unlabeled && i != 1;
        }
        for(t = 0; t < nin; ++t){
            memcpy(cnet->layers[t].output, in[t], B * V * sizeof(float));
            cuda_push_array(net->layers[t].output_gpu, in[t], B * V);
            fill_gpu(B * V, 0, net->layers[t].delta_gpu, 1);
            memset(cnet->layers[t].delta, 0, B * V * sizeof(float));
        }
        memcpy(net->truth, truth, sizeof(truth));
        memcpy(cnet->truth, truth, sizeof(truth));
        cuda_push_array(net->truth_gpu, truth, B * (V + 1));
        /* device path first (the [dtransform]/[r2s] sections and the loss), with the host results poisoned: it must
         * produce them itself */
        for(t = 0; t < DBISL_NTERMS; ++t) l.output[t] = NAN;
        l.cost[0] = NAN;
        run_sections(net, 1);
        float cg = l.cost[0], tg[DBISL_NTERMS], to[DBISL_NTERMS * B], covg = dbisl_pse_cover(l);
        for(t = 0; t < DBISL_NTERMS; ++t) tg[t] = l.output[t];
        cuda_pull_array(l.output_gpu, to, DBISL_NTERMS * B);
        for(t = 0; t < nin; ++t) cuda_pull_array(net->layers[t].delta_gpu, dgpu[t], B * V);
        /* then the CPU path on the CPU network */
        run_sections(cnet, 0);
        float cc = lc.cost[0];
        for(t = 0; t < nin; ++t) memcpy(dcpu[t], cnet->layers[t].delta, B * V * sizeof(float));
        CHECK_MSG(fabs(cg - cc) <= 1e-4 * fabs(cc) + 1e-7, "case %zu: cost gpu %.8g cpu %.8g", c, cg, cc);
        float covc = dbisl_pse_cover(lc);   /* the mask's share: equal up to one voxel whose sigmoid sits at .5 */
        CHECK_MSG((covc < 0) == (covg < 0) && fabs(covg - covc) <= 1.5 / (B * V), "case %zu: mask share gpu %g cpu %g", c, covg, covc);
        int nz = 0;
        for(t = 0; t < DBISL_NTERMS; ++t){
            float tc = lc.output[t];
            nz += tc != 0;
            CHECK_MSG(fabs(tg[t] - tc) <= 1e-4 * fabs(tc) + 1e-7, "case %zu: term %s gpu %.8g cpu %.8g", c, dbisl_term_names[t], tg[t], tc);
            CHECK_MSG(to[t] == tg[t], "case %zu: output_gpu[%d] %.8g vs l.output %.8g", c, t, to[t], tg[t]);
        }
        CHECK_MSG(nz >= (cases[c].ndec == 2 ? 5 : 3), "case %zu: only %d terms nonzero", c, nz);
        for(t = 0; t < nin; ++t){
            double e = max_rel_err(dgpu[t], dcpu[t], B * V, 1e-6);
            CHECK_MSG(e <= 1e-3, "case %zu: input %d gradient rel err %g", c, t, e);
        }
        printf("  case %zu: cost %.6g, %d terms nonzero\n", c, cc, nz);
        free_network(net);
        free_network(cnet);
    }
#endif
}

int main(void)
{
    darknet3d_init();
    darknet3d_gpu_available(0);
    if(system("mkdir -p tests/out")) return 1;
    /* these call the CPU functions directly: keep them on the CPU path in a GPU build too */
    int gi = gpu_index;
    gpu_index = -1;
    RUN(test_vs_pytorch);
    RUN(test_finite_differences_all_terms);
    RUN(test_one_decoder_and_errors);
    RUN(test_beta_ramp);
    RUN(test_con_ramp);
    RUN(test_con_grad_side);
    RUN(test_pse_mask);
    RUN(test_transforms_train_only);
    gpu_index = gi;
    RUN(test_gpu_vs_cpu);
    TEST_MAIN_END();
}
