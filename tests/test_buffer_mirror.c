/* Tests of the deferred device twins (src/buffer_mirror.h): networks loaded with host stand-ins for the device's allocations mirror every output and delta exactly as the host sharings placed them, and dropping Darknet's twins frees each buffer once. */
#include "testlib.h"
#include "darknet.h"
#include "darknet3d.h"
#include "buffer_mirror.h"
#include "layers3d.h"
#include "layer3d.h"

#ifdef GPU
#define MAX_REC 512
/* host memory standing in for the device: every allocation and release recorded */
typedef struct { float *p[MAX_REC]; size_t n[MAX_REC]; int count, limit, released; float *gone[MAX_REC]; } rec;

static int rec_alloc(float **p, size_t n, void *ctx, char *err, size_t errlen)
{
    rec *r = (rec *)ctx;
    if(r->count >= MAX_REC || (r->limit && r->count >= r->limit)){
        snprintf(err, errlen, "stand-in device out of memory after %d allocations", r->count);
        return -1;
    }
    *p = calloc(n ? n : 1, sizeof(float));
    r->p[r->count] = *p;
    r->n[r->count++] = n;
    return 0;
}

static void rec_release(float *p, void *ctx)
{
    rec *r = (rec *)ctx;
    if(r->released < MAX_REC) r->gone[r->released] = p;
    r->released++;
}

static int rec_find(const rec *r, const float *p)
{
    int i;
    for(i = 0; i < r->count; ++i) if(r->p[i] == p) return i;
    return -1;
}

static float **slot(layer *l, int k, int gpu)
{
    if(gpu) return k ? &l->delta_gpu : &l->output_gpu;
    return k ? &l->delta : &l->output;
}

static int in_arena(const float *p, const float *a, size_t n) { return a && p >= a && p < a + n; }

/* the mirror's rules, checked slot by slot against the host layout the sharings left */
static void check_mirror(network *net, const rec *r)
{
    int i, j, k, m, bad_pair = 0, bad_place = 0, missing = 0;
    size_t b[5], total = 0;
    for(i = 0; i < net->n; ++i) for(k = 0; k < 2; ++k){
        layer *l = &net->layers[i];
        float *h = *slot(l, k, 0), *g = *slot(l, k, 1);
        if(!h){ CHECK_MSG(!g, "layer %d slot %d: a device twin without a host buffer", i, k); continue; }
        if(!g){ ++missing; continue; }
        for(j = 0; j < net->n; ++j) for(m = 0; m < 2; ++m){
            float *h2 = *slot(&net->layers[j], m, 0), *g2 = *slot(&net->layers[j], m, 1);
            if(h2 && g2 && (h == h2) != (g == g2)) ++bad_pair;
        }
        if(in_arena(h, net->output_arena, net->output_arena_n)) bad_place += g != net->output_arena_gpu + (h - net->output_arena);
        else if(in_arena(h, net->delta_arena, net->delta_arena_n)) bad_place += g != net->delta_arena_gpu + (h - net->delta_arena);
        else {
            int a = rec_find(r, g);
            bad_place += a < 0 || r->n[a] < (size_t)l->outputs * l->batch;
        }
    }
    CHECK_MSG(!missing, "%d host buffers without a device twin", missing);
    CHECK_MSG(!bad_pair, "%d slot pairs share a host buffer but not its twin, or the reverse", bad_pair);
    CHECK_MSG(!bad_place, "%d twins not at the host buffer's place (arena offset, or an allocation of its size)", bad_place);
    CHECK_MSG(net->output_gpu && net->output_gpu == net->layers[net->n - 1].output_gpu, "net->output_gpu follows the output layer");
    for(i = 0; i < r->count; ++i) total += r->n[i];
    network_buffer_bytes(net, b);
    CHECK_MSG(total * sizeof(float) == b[0] + b[1], "device floats %zu, host outputs + deltas %zu bytes: the device holds the host's layout",
              total, b[0] + b[1]);
    CHECK_MSG(r->released == 0, "nothing to release without a GPU (%d released)", r->released);
}

/* the stand-in allocations freed and every twin forgotten, so that free_network frees the host side only */
static void free_mirrored(network *net, rec *r)
{
    int i, k;
    for(i = 0; i < net->n; ++i) for(k = 0; k < 2; ++k) *slot(&net->layers[i], k, 1) = 0;
    net->output_arena_gpu = net->delta_arena_gpu = net->output_gpu = 0;
    for(i = 0; i < r->count; ++i) free(r->p[i]);
    free_network(net);
}

/* cfg loaded twice, directly and with deferred, mirrored twins: the same host buffers, each mirrored once; shared:
 * the cfg keeps the sharings on (arenas expected) */
static void mirror_case(const char *cfg, int inference, int shared)
{
    static rec r;
    mirror_ops ops = { rec_alloc, rec_release, &r };
    size_t plain[5], deferred[5];
    memset(&r, 0, sizeof(r));
    network *a = inference ? load_network_infer((char *)cfg, 0, 2) : load_network_checked((char *)cfg, 0, 1);
    darknet3d_mirror_ops = &ops;
    network *net = inference ? load_network_infer((char *)cfg, 0, 2) : load_network_checked((char *)cfg, 0, 1);
    darknet3d_mirror_ops = 0;
    CHECK(a && net);
    if(!a || !net){ if(a) free_network(a); return; }
    CHECK_MSG(!layer3d_defer_device, "the deferral ends with the load");
    network_buffer_bytes(a, plain);
    network_buffer_bytes(net, deferred);
    CHECK_MSG(!memcmp(plain, deferred, sizeof(plain)), "host buffers %zu/%zu/%zu deferred against %zu/%zu/%zu",
              deferred[0], deferred[1], deferred[2], plain[0], plain[1], plain[2]);
    CHECK_MSG((net->delta_arena != 0) == (a->delta_arena != 0) && (net->output_arena != 0) == (a->output_arena != 0),
              "the same sharings with and without deferral");
    CHECK_MSG((net->delta_arena != 0) == (shared && !inference) && (net->output_arena != 0) == shared,
              "arenas: gradients %d, outputs %d", net->delta_arena != 0, net->output_arena != 0);
    check_mirror(net, &r);
    free_network(a);
    free_mirrored(net, &r);
}

static void test_mirror_training(void) { mirror_case("cfg/dbisl-tiny.cfg", 0, 1); }
static void test_mirror_inference(void) { mirror_case("cfg/dbisl-tiny.cfg", 1, 1); }
static void test_mirror_supervised(void) { mirror_case("cfg/sup-tiny.cfg", 0, 1); }

/* every sharing off: each layer its own twin, Darknet's [dropout] aliases the layer before on both sides */
static void test_mirror_unshared(void)
{
    FILE *in = fopen("cfg/dbisl-tiny.cfg", "r");
    if(!in) SKIP("cfg/dbisl-tiny.cfg not found");
    char line[1024];
    FILE *out = fopen("tests/out/mirror_unshared.cfg", "w");
    CHECK(out != 0);
    if(!out){ fclose(in); return; }
    while(fgets(line, sizeof(line), in)){
        fputs(line, out);
        if(!strncmp(line, "[net]", 5)) fputs("share_deltas=0\ninplace_shortcut=0\nrecompute_outputs=0\n", out);
    }
    fclose(in);
    fclose(out);
    mirror_case("tests/out/mirror_unshared.cfg", 0, 0);
}

/* a holder that has a twin lends it to the others; a new twin takes the largest holder's size; an allocation that
 * fails is an error, not an exit */
static void test_mirror_rules(void)
{
    static rec r;
    mirror_ops ops = { rec_alloc, rec_release, &r };
    float h[64], own[8];
    layer ls[4] = {{0}};
    network net = {0};
    char err[256] = {0};
    int i;
    memset(&r, 0, sizeof(r));
    for(i = 0; i < 4; ++i){ ls[i].type = SHORTCUT; ls[i].batch = 2; ls[i].outputs = 4; }
    ls[2].outputs = 8;
    ls[0].output = h; ls[0].output_gpu = own;   /* a twin already */
    ls[1].output = h;                           /* shares it */
    ls[2].output = h + 16; ls[3].output = h + 16; ls[3].delta = h + 40;
    net.n = 4; net.layers = ls; net.output = h + 16;
    CHECK(network_mirror_buffers(&net, &ops, err, sizeof(err)) == 0);
    CHECK(ls[1].output_gpu == own);
    int o = rec_find(&r, ls[2].output_gpu), d = rec_find(&r, ls[3].delta_gpu);
    CHECK(r.count == 2 && o >= 0 && ls[2].output_gpu == ls[3].output_gpu && r.n[o > 0 ? o : 0] == 16);
    CHECK(d >= 0 && d != o && r.n[d > 0 ? d : 0] == 8);
    CHECK(net.output_gpu == ls[3].output_gpu);
    for(i = 0; i < r.count; ++i) free(r.p[i]);
    memset(&r, 0, sizeof(r));
    r.limit = 1;
    ls[2].output_gpu = ls[3].output_gpu = ls[3].delta_gpu = 0;
    CHECK(network_mirror_buffers(&net, &ops, err, sizeof(err)) == -1);
    CHECK_MSG(strstr(err, "layer 3 (shortcut), its gradient: stand-in device out of memory") != 0, "err: %s", err);
    for(i = 0; i < r.count; ++i) free(r.p[i]);
}

/* Darknet's twins freed once each, [dropout]'s alias of the layer before with them; [dbisl]'s kept */
static void test_drop_device_buffers(void)
{
    static rec r;
    mirror_ops ops = { rec_alloc, rec_release, &r };
    float a[4], b[4], c[4], d[4], e[4];
    layer ls[4] = {{0}};
    network net = {0};
    memset(&r, 0, sizeof(r));
    ls[0].type = SHORTCUT; ls[0].output_gpu = a; ls[0].delta_gpu = b;
    ls[1].type = DROPOUT; ls[1].output_gpu = a; ls[1].delta_gpu = b;
    ls[2].type = ROUTE; ls[2].output_gpu = c; ls[2].delta_gpu = d;
    ls[3].type = DBISL; ls[3].output_gpu = e;
    net.n = 4; net.layers = ls; net.output_gpu = c;
    network_drop_device_buffers(&net, &ops);
    CHECK_MSG(r.released == 4, "%d releases, 4 distinct buffers", r.released);
    CHECK_MSG(net.output_gpu == 0, "net->output_gpu still points at a released buffer");
    CHECK(!ls[0].output_gpu && !ls[0].delta_gpu && !ls[1].output_gpu && !ls[1].delta_gpu && !ls[2].output_gpu && !ls[2].delta_gpu);
    CHECK(ls[3].output_gpu == e);
}
#endif

int main(void)
{
    darknet3d_init();
    if(system("mkdir -p tests/out")) return 1;
#ifndef GPU
    printf("SKIP test_buffer_mirror: CPU build (the device twins exist in GPU builds only)\n");
    return 0;
#else
    darknet3d_gpu_available(0);
    gpu_index = -1;   /* host stand-ins: the same on machines with and without a device */
    RUN(test_mirror_training);
    RUN(test_mirror_inference);
    RUN(test_mirror_supervised);
    RUN(test_mirror_unshared);
    RUN(test_mirror_rules);
    RUN(test_drop_device_buffers);
    TEST_MAIN_END();
#endif
}
