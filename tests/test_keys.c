/* Every numeric row of core/cfg_keys.def at lo, mid and hi: cfg keys of layer sections in-process (parse, forward, backward, update), [net] keys and command-line values through ./darknet, plus degenerate volumes; a row without a harness here fails. */
#include <sys/stat.h>
#include <unistd.h>
#include "testlib.h"
#include "darknet.h"
#include "darknet3d.h"
#include "cfg_keys.h"
#include "cfg_options.h"
#include "infer.h"
#include "volume_io.h"

#define OUT "tests/out/keys/"
static char darknet_bin[512];

/* a value as cfg text; K_INT3 as "v,v,v" (cfg) or "v v v" (flag) */
static void fmt(const cfg_key *k, double v, int flag, char *buf, size_t n)
{
    if(k->kind == K_FLOAT) snprintf(buf, n, "%.9g", v);
    else if(k->kind == K_INT3) snprintf(buf, n, flag ? "%.0f %.0f %.0f" : "%.0f,%.0f,%.0f", v, v, v);
    else snprintf(buf, n, "%.0f", v);
}

/* ---- layer sections, in-process on the CPU ---- */

/* The network around the tested key: "[net]" text, the sections before, the tested section's other keys and the
 * sections after. Input sizes follow the value where the key needs room (a window of 16 needs an input of 16). */
static int layer_harness(const cfg_key *k, double v, char *cfg, size_t n)
{
    const char *sec = k->where, *key = k->key;
    int iv = (int)v, N = 4;
    int is_size = !strncmp(key, "size", 4), is_pad = !strncmp(key, "pad", 3);
    char keyline[128], val[64];
    fmt(k, v, 0, val, sizeof(val));
    snprintf(keyline, sizeof(keyline), "%s=%s\n", key, val);
    const char *body = "", *before = "", *after = "";
    char extra[256] = "";
    if(!strcmp(sec, "*")){
        before = "[conv3d]\nfilters=2\nsize=3\npad=1\nbatch_normalize=1\nactivation=relu\n";
        sec = "[conv3d]"; body = "filters=1\nsize=1\n";
    } else if(!strcmp(sec, "[conv3d]") || !strcmp(sec, "[deconv3d]")){
        int deconv = sec[1] == 'd';
        if(is_size) N = iv > N ? iv : N;
        if(is_pad) N = deconv ? 2 * iv + 2 : N;
        /* the other axis keys default to the common key; a per-axis key alone leaves the common one at its default */
        body = !strcmp(key, "filters") ? "size=3\npad=1\nbatch_normalize=1\nactivation=leaky\n"
             : (is_size ? "filters=2\nbatch_normalize=1\n" : "filters=2\nsize=2\nbatch_normalize=1\nactivation=relu\n");
        if(is_size && strcmp(key, "size")) body = "filters=2\nsize=1\nbatch_normalize=1\n";
    } else if(!strcmp(sec, "[maxpool3d]")){
        before = "[conv3d]\nfilters=2\nsize=1\n";
        if(is_size){ N = iv > N ? iv : N; if(strcmp(key, "size")) body = "size=1\n"; }
        else if(is_pad){ N = 2 * iv > N ? 2 * iv : N; snprintf(extra, sizeof(extra), "size=%d\n", 2 * iv > 0 ? 2 * iv : 1); body = extra; }
        else body = "size=2\n";
    } else if(!strcmp(sec, "[upsample3d]")){
        before = "[conv3d]\nfilters=2\nsize=1\n"; N = 2;
    } else if(!strcmp(sec, "[r2s]") || !strcmp(sec, "[dtransform]")){
        before = "[conv3d]\nfilters=1\nsize=1\nactivation=logistic\n"; N = 6;
        if(!strcmp(sec, "[dtransform]") && strcmp(key, "binarize")) body = "binarize=softmin\n";
    } else if(!strcmp(sec, "[dropout]")){
        before = "[conv3d]\nfilters=2\nsize=1\n";
    } else if(!strcmp(sec, "[shortcut]")){
        before = "[conv3d]\nfilters=2\nsize=1\n[conv3d]\nfilters=2\nsize=3\npad=1\n";
        body = "from=-2\n";
    } else return -1;
    /* the section's other keys, without a line for the tested key */
    char rest[256] = "", line[128];
    const char *p = body;
    while(*p){
        size_t len = strcspn(p, "\n");
        snprintf(line, sizeof(line), "%.*s", (int)len, p);
        if(strncmp(line, key, strlen(key)) || line[strlen(key)] != '=') snprintf(rest + strlen(rest), sizeof(rest) - strlen(rest), "%s\n", line);
        p += len + (p[len] == '\n');
    }
    snprintf(cfg, n, "[net]\nbatch=2\nwidth=%d\nheight=%d\ndepth=%d\nchannels=1\nlearning_rate=0.01\nmomentum=0.9\n\n%s\n%s\n%s%s\n%s",
             N, N, N, before, sec, rest, keyline, after);
    return 0;
}

/* one forward, backward and update from a random input and output gradient; 0 when everything stays finite */
static int exercise(network *net, char *why, size_t n)
{
    size_t i, nin = (size_t)net->batch * net->inputs;
    for(i = 0; i < nin; ++i) net->input[i] = (float)rand() / RAND_MAX - 0.5f;
    net->train = 1;
    forward_network(net);
    layer *top = &net->layers[net->n - 1];
    size_t nout = (size_t)top->batch * top->outputs;
    for(i = 0; i < nout; ++i){
        if(!isfinite(top->output[i])){ snprintf(why, n, "output %zu of the last layer is %g", i, top->output[i]); return -1; }
        top->delta[i] = (float)rand() / RAND_MAX - 0.5f;
    }
    backward_network(net);
    update_network(net);
    for(i = 0; i < (size_t)net->n; ++i){
        layer *l = &net->layers[i];
        int w;
        for(w = 0; w < l->nweights; ++w) if(!isfinite(l->weights[w])){ snprintf(why, n, "layer %zu weight %d is %g after the update", i, w, l->weights[w]); return -1; }
    }
    return 0;
}

static void run_layer_row(const cfg_key *k, double v)
{
    char cfg[2048], why[256] = "", err[1024] = "";
    if(layer_harness(k, v, cfg, sizeof(cfg))){ CHECK_MSG(0, "%s %s: no harness in tests/test_keys.c", k->where, k->key); return; }
    write_text(OUT "layer.cfg", cfg);
    network *net = load_network_checked(OUT "layer.cfg", 0, 0);
    if(!net){
        network *again = parse_network_cfg_err(OUT "layer.cfg", err, sizeof(err));
        if(again) free_network(again);
        CHECK_MSG(0, "%s %s=%.9g is accepted by the table but the network does not build: %s", k->where, k->key, v, err);
        return;
    }
    CHECK_MSG(exercise(net, why, sizeof(why)) == 0, "%s %s=%.9g: %s", k->where, k->key, v, why);
    free_network(net);
}

/* ---- [dbisl], in-process: two decoders, one labeled and one unlabeled sample ---- */

static void run_dbisl_row(const cfg_key *k, double v)
{
    char cfg[2048], val[64];
    fmt(k, v, 0, val, sizeof(val));
    /* per decoder: seg head, its [dtransform], a route back, sdf head, its [r2s] */
    snprintf(cfg, sizeof(cfg),
             "[net]\nbatch=2\nwidth=6\nheight=6\ndepth=4\nchannels=1\nlearning_rate=0.01\nmomentum=0.9\n"
             "[conv3d]\nfilters=2\nsize=3\npad=1\nbatch_normalize=1\nactivation=relu\n"
             "[conv3d]\nfilters=1\nsize=1\n[dtransform]\ninput=logits\nbinarize=softmin\n[route]\nlayers=0\n[conv3d]\nfilters=1\nsize=1\n[r2s]\ninput=preact\n"
             "[route]\nlayers=0\n[conv3d]\nfilters=1\nsize=1\n[dtransform]\ninput=logits\nbinarize=softmin\n[route]\nlayers=0\n[conv3d]\nfilters=1\nsize=1\n[r2s]\ninput=preact\n"
             "[dbisl]\nseg=1,7\nsdf=4,10\ns2r=2,8\nr2s=5,11\n%s%s=%s\n", strcmp(k->key, "rampup") ? "rampup=4\n" : "", k->key, val);
    write_text(OUT "dbisl.cfg", cfg);
    network *net = load_network_checked(OUT "dbisl.cfg", 0, 0);
    if(!net){ CHECK_MSG(0, "[dbisl] %s=%s is accepted by the table but the network does not build", k->key, val); return; }
    size_t vox = 4 * 6 * 6, i, it;
    for(it = 0; it < 2; ++it){
        for(i = 0; i < (size_t)net->batch * net->inputs; ++i) net->input[i] = (float)rand() / RAND_MAX - 0.5f;
        for(i = 0; i < vox; ++i) net->truth[i] = (i % 7) < 3; /* sample 0: labeled */
        net->truth[vox] = 1;
        for(i = 0; i <= vox; ++i) net->truth[vox + 1 + i] = 0; /* sample 1: unlabeled */
        float loss = train_network_datum(net);
        if(it == 0) CHECK_MSG(isfinite(loss), "[dbisl] %s=%s: first loss %g", k->key, val, loss);
    }
    free_network(net);
}

/* ---- [net] keys and command-line values, through ./darknet ---- */

/* runs a shell command line; rc in *rc; 0 when no sanitizer or abort report reached err_path */
static int sh(const char *cmd, int *rc, const char *err_path)
{
    int s = system(cmd);
    *rc = WIFEXITED(s) ? WEXITSTATUS(s) : 128 + WTERMSIG(s);
    char grep[512];
    snprintf(grep, sizeof(grep), "grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:|Assertion .* failed|Segmentation' %s", err_path);
    return system(grep) == 0 ? -1 : 0;
}

static const char *NET_BASE =
    "batch=2\nsubdivisions=1\nwidth=8\nheight=8\ndepth=4\nchannels=1\nlearning_rate=0.01\nmomentum=0.9\npolicy=poly\npower=0.9\n"
    "max_batches=2\nvalid_every=1\n";
static const char *NET_LAYERS =
    "[conv3d]\nfilters=2\nsize=3\npad=1\nbatch_normalize=1\nactivation=relu\n"
    "[conv3d]\nfilters=1\nsize=1\n[dtransform]\ninput=logits\n[route]\nlayers=0\n[conv3d]\nfilters=1\nsize=1\n[r2s]\ninput=preact\n"
    "[dbisl]\nseg=1\nsdf=4\ns2r=2\nr2s=5\n";

static void write_net_cfg(const char *path, const char *key, const char *val)
{
    char cfg[2048], base[1024];
    snprintf(base, sizeof(base), "%s", NET_BASE);
    if(key){
        /* drop the base's own line for key, and the keys the tested one depends on */
        char *p = strstr(base, key), *e;
        if(p && (p == base || p[-1] == '\n') && p[strlen(key)] == '='){ e = strchr(p, '\n'); memmove(p, e + 1, strlen(e + 1) + 1); }
        if(!strcmp(key, "subdivisions")){ p = strstr(base, "batch=2\n"); memmove(p, p + 8, strlen(p + 8) + 1); }
        if(!strcmp(key, "step") || !strcmp(key, "scale") || !strcmp(key, "gamma")){ p = strstr(base, "policy=poly\n"); memmove(p, p + 12, strlen(p + 12) + 1); }
    }
    const char *pol = key && (!strcmp(key, "step") || !strcmp(key, "scale")) ? "policy=step\n" : (key && !strcmp(key, "gamma") ? "policy=exp\n" : "");
    const char *batch = key && !strcmp(key, "subdivisions") ? "batch=" : 0;
    char bline[64] = "";
    if(batch) snprintf(bline, sizeof(bline), "batch=%s\n", val);
    /* a window end needs normalize=ctwindow and the other end one unit beyond it */
    if(key && (!strcmp(key, "window_lo") || !strcmp(key, "window_hi"))){
        int lo = !strcmp(key, "window_lo");
        snprintf(bline, sizeof(bline), "normalize=ctwindow\nwindow_%s=%.9g\n", lo ? "hi" : "lo", atof(val) + (lo ? 1 : -1));
    }
    snprintf(cfg, sizeof(cfg), "[net]\n%s%s%s%s%s%s\n%s", base, pol, bline, key ? key : "", key ? "=" : "", key ? val : "", NET_LAYERS);
    write_text(path, cfg);
}

static void run_net_row(const cfg_key *k, double v)
{
    char val[64], cmd[2048];
    fmt(k, v, 0, val, sizeof(val));
    write_net_cfg(OUT "net.cfg", k->key, val);
    snprintf(cmd, sizeof(cmd), "%s seg3d train " OUT "data/synth.data " OUT "net.cfg -clear -max_batches 2 > " OUT "net.out 2> " OUT "net.err", darknet_bin);
    int rc, clean = sh(cmd, &rc, OUT "net.err") == 0;
    /* 3: training stopped on a non-finite loss (a learning rate of 1e6 diverges), the documented clean stop */
    CHECK_MSG(clean && (rc == 0 || rc == 3), "[net] %s=%s: exit %d%s (see " OUT "net.err)", k->key, val, rc, clean ? "" : ", sanitizer report");
}

static void run_cmd_row(const cfg_key *k, double v)
{
    char val[64], cmd[2048];
    fmt(k, v, 1, val, sizeof(val));
    const char *c = k->where + 6, *f = k->key, *D = OUT "data/", *W = OUT "data/backup/w_final.weights";
    if(!strcmp(c, "train") && !strcmp(f, "-seed"))
        snprintf(cmd, sizeof(cmd), "%s seg3d train %ssynth.data " OUT "base.cfg -clear -seed %s -max_batches 2", darknet_bin, D, val);
    else if(!strcmp(c, "train") && !strcmp(f, "-valid_every"))
        snprintf(cmd, sizeof(cmd), "%s seg3d train %ssynth.data " OUT "base.cfg -clear -valid_every %s -max_batches 2", darknet_bin, D, val);
    else if(!strcmp(c, "train") && !strcmp(f, "-max_batches"))
        /* the largest count is started and stopped after its first iterations: the pipe closes */
        snprintf(cmd, sizeof(cmd), "%s seg3d train %ssynth.data " OUT "base.cfg -clear -max_batches %s | head -c 2000 > /dev/null; true", darknet_bin, D, val);
    else if(!strcmp(c, "predict") && !strcmp(f, "-batch"))
        snprintf(cmd, sizeof(cmd), "%s seg3d predict " OUT "base.cfg %s %scase_000/image.nii.gz " OUT "pred.nii.gz -batch %s", darknet_bin, W, D, val);
    else if(!strcmp(c, "test") && !strcmp(f, "-batch"))
        snprintf(cmd, sizeof(cmd), "%s seg3d test %ssynth.data " OUT "base.cfg %s -batch %s", darknet_bin, D, W, val);
    else if(!strcmp(c, "predict"))
        snprintf(cmd, sizeof(cmd), "%s seg3d predict " OUT "base.cfg %s %scase_000/image.nii.gz " OUT "pred.nii.gz -stride %s", darknet_bin, W, D, val);
    else if(!strcmp(c, "test"))
        snprintf(cmd, sizeof(cmd), "%s seg3d test %ssynth.data " OUT "base.cfg %s -stride %s", darknet_bin, D, W, val);
    else if(!strcmp(c, "heads"))
        snprintf(cmd, sizeof(cmd), "%s seg3d heads " OUT "base.cfg %s %scase_000/image.nii.gz -stride %s", darknet_bin, W, D, val);
    else if(!strcmp(c, "synth") && !strcmp(f, "<n>"))
        snprintf(cmd, sizeof(cmd), "%s seg3d synth " OUT "s %s -size 1 2 2", darknet_bin, val);
    else if(!strcmp(c, "synth") && !strcmp(f, "-size"))
        snprintf(cmd, sizeof(cmd), "%s seg3d synth " OUT "s 1 -size %s", darknet_bin, val);
    else if(!strcmp(c, "synth") && !strcmp(f, "-seed"))
        snprintf(cmd, sizeof(cmd), "%s seg3d synth " OUT "s 1 -size 4 4 4 -seed %s", darknet_bin, val);
    else if(!strcmp(c, "resample") && !strcmp(f, "-spacing"))
        snprintf(cmd, sizeof(cmd), "%s seg3d resample tests/errors/tiny.h5 " OUT "r.nii.gz 1 -spacing %s %s %s && "
                 "%s seg3d resample tests/errors/tiny.h5 " OUT "r.nii.gz 2 -label -spacing %s 1 %s", darknet_bin, val, val, val, darknet_bin, val, val);
    else if(!strcmp(c, "resample"))
        snprintf(cmd, sizeof(cmd), "%s seg3d resample " OUT "rs/case_000/image.nii.gz " OUT "r.nii.gz %s", darknet_bin, val);
    else if(!strcmp(c, "sdf"))
        snprintf(cmd, sizeof(cmd), "%s seg3d sdf %scase_000/label.nii.gz " OUT "sdf.nii.gz %s %s && "
                 "%s seg3d sdf %scase_000/label.nii.gz " OUT "sdf.nii.gz %s %s -binarize softmin",
                 darknet_bin, D, f, val, darknet_bin, D, f, val);
    else { CHECK_MSG(0, "%s %s: no harness in tests/test_keys.c", k->where, k->key); return; }
    char full[2300];
    snprintf(full, sizeof(full), "(%s) > " OUT "cmd.out 2> " OUT "cmd.err", cmd);
    int rc, clean = sh(full, &rc, OUT "cmd.err") == 0;
    CHECK_MSG(clean && rc == 0, "%s %s %s: exit %d%s (see " OUT "cmd.err)", k->where, f, val, rc, clean ? "" : ", sanitizer report");
}

static void test_every_row_lo_mid_hi(void)
{
    int i, j, rows = 0;
    for(i = 0; i < cfg_nkeys; ++i){
        const cfg_key *k = &cfg_keys[i];
        if(k->kind == K_TEXT) continue;
        double vals[3] = {k->lo, k->mid, k->hi};
        CHECK_MSG(k->lo <= k->mid && k->mid <= k->hi, "%s %s: typical value outside [lo, hi]", k->where, k->key);
        for(j = 0; j < 3; ++j){
            int before = tl_cur_failed_;
            tl_cur_failed_ = 0;
            if(!strcmp(k->where, "[net]")) run_net_row(k, vals[j]);
            else if(!strcmp(k->where, "[dbisl]")) run_dbisl_row(k, vals[j]);
            else if(!strncmp(k->where, "seg3d ", 6)) run_cmd_row(k, vals[j]);
            else run_layer_row(k, vals[j]);
            if(tl_cur_failed_) printf("  row %s %s value %.9g failed\n", k->where, k->key, vals[j]);
            tl_cur_failed_ |= before;
        }
        ++rows;
    }
    printf("  %d numeric rows, 3 values each\n", rows);
    CHECK(rows > 50);
}

/* ---- degenerate but legal volumes ---- */

static int write_mask(const char *path, int nx, int ny, int nz, float value)
{
    volume v;
    char err[512];
    if(volume_alloc(&v, nx, ny, nz)) return -1;
    size_t i, n = (size_t)nx * ny * nz;
    for(i = 0; i < n; ++i) v.data[i] = value;
    int rc = volume_write(path, &v, 0, 1, err, sizeof(err));
    volume_free(&v);
    return rc;
}

static void test_degenerate_volumes(void)
{
    char cmd[2048];
    int rc;
    CHECK(write_mask(OUT "empty.nii.gz", 5, 6, 7, 0) == 0);
    CHECK(write_mask(OUT "full.nii.gz", 5, 6, 7, 1) == 0);
    CHECK(write_mask(OUT "one.nii.gz", 1, 1, 1, 1) == 0);
    const char *pairs[][2] = {{"empty", "empty"}, {"full", "full"}, {"empty", "full"}, {"full", "empty"}, {"one", "one"}};
    size_t i;
    for(i = 0; i < sizeof(pairs) / sizeof(pairs[0]); ++i){
        snprintf(cmd, sizeof(cmd), "%s seg3d metrics " OUT "%s.nii.gz " OUT "%s.nii.gz > " OUT "deg.out 2> " OUT "deg.err", darknet_bin, pairs[i][0], pairs[i][1]);
        CHECK_MSG(sh(cmd, &rc, OUT "deg.err") == 0 && rc == 0, "metrics %s vs %s: exit %d", pairs[i][0], pairs[i][1], rc);
    }
    const char *masks[] = {"empty", "full", "one"};
    for(i = 0; i < 3; ++i){
        snprintf(cmd, sizeof(cmd), "%s seg3d sdf " OUT "%s.nii.gz " OUT "deg_sdf.nii.gz > " OUT "deg.out 2> " OUT "deg.err && "
                 "%s seg3d sdf " OUT "%s.nii.gz " OUT "deg_sdf.nii.gz -exact >> " OUT "deg.out 2>> " OUT "deg.err && "
                 "%s seg3d sdf " OUT "%s.nii.gz " OUT "deg_sdf.nii.gz -binarize softmin -kernel 15 >> " OUT "deg.out 2>> " OUT "deg.err",
                 darknet_bin, masks[i], darknet_bin, masks[i], darknet_bin, masks[i]);
        CHECK_MSG(sh(cmd, &rc, OUT "deg.err") == 0 && rc == 0, "sdf of the %s mask: exit %d", masks[i], rc);
        snprintf(cmd, sizeof(cmd), "%s seg3d predict " OUT "base.cfg " OUT "data/backup/w_final.weights " OUT "%s.nii.gz " OUT "deg_pred.nii.gz > " OUT "deg.out 2> " OUT "deg.err",
                 darknet_bin, masks[i]);
        CHECK_MSG(sh(cmd, &rc, OUT "deg.err") == 0 && rc == 0, "predict on the %s volume (smaller than the window): exit %d", masks[i], rc);
    }
    /* a data set of 1 x 1 x 1 volumes: every crop is mostly padding; train, then test slides a window larger than each volume */
    snprintf(cmd, sizeof(cmd), "%s seg3d synth " OUT "tiny 3 -size 1 1 1 > " OUT "deg.out 2> " OUT "deg.err && "
             "%s seg3d train " OUT "tiny/synth.data " OUT "base.cfg -clear -max_batches 2 >> " OUT "deg.out 2>> " OUT "deg.err && "
             "%s seg3d test " OUT "tiny/synth.data " OUT "base.cfg " OUT "tiny/backup/base_final.weights >> " OUT "deg.out 2>> " OUT "deg.err",
             darknet_bin, darknet_bin, darknet_bin);
    CHECK_MSG(sh(cmd, &rc, OUT "deg.err") == 0 && rc == 0, "train and test on 1 x 1 x 1 volumes: exit %d (see " OUT "deg.err)", rc);
}

/* [net] keys darknet3d reads itself see the line as Darknet's read_cfg does: all white space removed, any length */
static void test_net_reader_as_darknet(void)
{
    FILE *f = fopen(OUT "reader.cfg", "w");
    CHECK(f != 0);
    if(!f) return;
    /* a comment of 4095 characters before 'last_every=3': a reader of 4096-byte pieces takes that tail as a line */
    fprintf(f, "[net]\nbatch=2\n save _every = 7\n#");
    int i;
    for(i = 0; i < 4094; ++i) fputc('x', f);
    fprintf(f, "last_every=3\ninfer_stride = 2, 3 ,4\nnormalize=");
    for(i = 0; i < 5000; ++i) fputc(' ', f);   /* a line of 5000 characters whose value, white space removed, is 'zscore' */
    fprintf(f, "zscore\n[conv3d]\nlast_every=5\n");
    fclose(f);
    char err[512];
    int v = 0, st[3] = {0, 0, 0};
    CHECK(cfg_net_int(OUT "reader.cfg", "save_every", 1000, &v, err, sizeof(err)) == 0 && v == 7);
    CHECK_MSG(cfg_net_int(OUT "reader.cfg", "last_every", 100, &v, err, sizeof(err)) == 0 && v == 100,
              "a comment line of 4107 characters ending in last_every=3: read %d, not the default 100", v);
    CHECK(cfg_infer_stride(OUT "reader.cfg", st, err, sizeof(err)) == 1 && st[0] == 2 && st[1] == 3 && st[2] == 4);
    char nv[64] = "";
    int line = 0;
    CHECK_MSG(cfg_net_value(OUT "reader.cfg", "normalize", nv, sizeof(nv), &line, err, sizeof(err)) == 1 && !strcmp(nv, "zscore") && line == 6,
              "normalize read as '%s' on line %d", nv, line);
}

int main(int argc, char **argv)
{
    darknet3d_init();
    darknet3d_gpu_available(0);
    gpu_index = -1; /* in-process rows on the CPU; the ./darknet rows use the device when there is one */
    srand(7);
    tl_darknet_bin(argv[0], darknet_bin, sizeof(darknet_bin));
    (void)argc;
    if(system("rm -rf " OUT " && mkdir -p " OUT)) return 1;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s seg3d synth " OUT "data 3 -size 6 8 8 -seed 3 > " OUT "setup.log 2>&1", darknet_bin);
    if(system(cmd)){ printf("FAIL test_keys_setup: %s failed\n", cmd); return 1; }
    /* resample's largest factor needs a volume holding one block of it */
    snprintf(cmd, sizeof(cmd), "%s seg3d synth " OUT "rs 1 -size 64 64 64 -seed 3 >> " OUT "setup.log 2>&1", darknet_bin);
    if(system(cmd)){ printf("FAIL test_keys_setup: %s failed\n", cmd); return 1; }
    write_net_cfg(OUT "base.cfg", 0, 0);
    snprintf(cmd, sizeof(cmd), "cp " OUT "base.cfg " OUT "w.cfg && %s seg3d train " OUT "data/synth.data " OUT "w.cfg -max_batches 2 >> " OUT "setup.log 2>&1", darknet_bin);
    if(system(cmd)){ printf("FAIL test_keys_setup: %s failed\n", cmd); return 1; }
    RUN(test_net_reader_as_darknet);
    RUN(test_every_row_lo_mid_hi);
    RUN(test_degenerate_volumes);
    TEST_MAIN_END();
}
