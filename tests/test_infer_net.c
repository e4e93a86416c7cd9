/* Tests of the inference-shaped network (load_network_infer): no delta or update buffers on any layer, the same weights and byte-identical predictions as the training-shaped network without running the loss-only layers, and backward/update refused without a crash. */
#include <stdint.h>
#include <sys/stat.h>
#include "testlib.h"
#include "darknet3d.h"
#include "predict.h"

#define OUT "tests/out/infer_net"
#define CFG "cfg/dbisl-tiny.cfg"

static void mkout(void){ mkdir("tests/out", 0755); mkdir(OUT, 0755); }

static int ours_with_weights(LAYER_TYPE t)
{
    return (CONV3D != BLANK && t == CONV3D) || (DECONV3D != BLANK && t == DECONV3D);
}

/* weights of the tiny DBiSL cfg with BN running statistics away from 0/1, saved to OUT/w.weights; 0 or -1 */
static int make_weights(void)
{
    srand(7);
    network *net = load_network_checked(CFG, 0, 0);
    if(!net) return -1;
    int i, k;
    for(i = 0; i < net->n; ++i){
        layer *l = &net->layers[i];
        if(!ours_with_weights(l->type) || !l->batch_normalize) continue;
        for(k = 0; k < l->out_c; ++k){
            l->rolling_mean[k] = 0.2f * (float)((k * 7 + i) % 5) - 0.4f;
            l->rolling_variance[k] = 0.5f + 0.25f * (float)((k + i) % 4);
            l->scales[k] = 0.8f + 0.1f * (float)(k % 3);
            l->biases[k] = 0.05f * (float)(k % 5) - 0.1f;
        }
    }
    char err[512];
    int rc = save_weights_upto_err(net, OUT "/w.weights", net->n, err, sizeof(err));
    if(rc) printf("  %s\n", err);
    free_network(net);
    return rc ? -1 : 0;
}

static size_t delta_floats(network *net)
{
    size_t n = 0;
    int i;
    for(i = 0; i < net->n; ++i) if(net->layers[i].delta) n += (size_t)net->layers[i].outputs * net->layers[i].batch;
    return n;
}

/* the inference network holds no delta and no update buffer; the training network holds them */
static void test_infer_net_buffers(void)
{
    mkout();
    if(make_weights()) { CHECK_MSG(0, "cannot make the weights of %s", CFG); return; }
    network *tr = load_network_checked(CFG, OUT "/w.weights", 0);
    network *in = load_network_infer(CFG, OUT "/w.weights", 0);
    CHECK(tr && in);
    if(!tr || !in){ if(tr) free_network(tr); if(in) free_network(in); return; }
    CHECK(tr->n == in->n && !tr->inference && in->inference);
    CHECK_MSG(delta_floats(tr) > 0 && delta_floats(in) == 0, "delta floats: training %zu, inference %zu", delta_floats(tr), delta_floats(in));
    int i, stock = 0, ours = 0;
    for(i = 0; i < in->n; ++i){
        layer *l = &in->layers[i];
        CHECK_MSG(!l->delta, "layer %d (%s) has a delta", i, get_layer_string(l->type));
        if(l->type == ROUTE || l->type == SHORTCUT || l->type == DROPOUT) stock += tr->layers[i].delta != 0;
        if(!ours_with_weights(l->type)) continue;
        ++ours;
        CHECK_MSG(!l->weight_updates && !l->bias_updates && !l->scale_updates, "layer %d (%s) has update buffers", i, get_layer_string(l->type));
        CHECK_MSG(!l->x_norm && (!l->batch_normalize || tr->layers[i].x_norm), "layer %d (%s): x_norm %p, training network's %p", i,
                  get_layer_string(l->type), (void *)l->x_norm, (void *)tr->layers[i].x_norm);
        CHECK(tr->layers[i].weight_updates != 0);
        /* the weights read are the same */
        CHECK(l->nweights == tr->layers[i].nweights && memcmp(l->weights, tr->layers[i].weights, sizeof(float) * l->nweights) == 0);
        if(l->batch_normalize)
            CHECK(memcmp(l->rolling_variance, tr->layers[i].rolling_variance, sizeof(float) * l->out_c) == 0 &&
                  memcmp(l->scales, tr->layers[i].scales, sizeof(float) * l->out_c) == 0);
    }
    CHECK_MSG(stock > 0 && ours > 0, "the cfg has %d stock layers with a delta, %d conv layers", stock, ours);
    free_network(tr);
    free_network(in);
}

/* the same probabilities, byte for byte, for each decoder and the mean; backward and update do nothing */
static void test_infer_net_same_prediction(void)
{
    mkout();
    if(make_weights()) { CHECK_MSG(0, "cannot make the weights of %s", CFG); return; }
    network *tr = load_network_checked(CFG, OUT "/w.weights", 0);
    network *in = load_network_infer(CFG, OUT "/w.weights", 0);
    CHECK(tr && in);
    if(!tr || !in){ if(tr) free_network(tr); if(in) free_network(in); return; }
    int nx = 56, ny = 32, nz = 20, stride[3] = { 8, 16, 16 }, dec;   /* 3 x 1 x 2 windows: two forwards of 4, the second half filler */
    long n = (long)nx * ny * nz, i;
    float *vol = malloc(n * sizeof(float)), *pa = malloc(n * sizeof(float)), *pb = malloc(n * sizeof(float));
    for(i = 0; i < n; ++i) vol[i] = (float)(((i * 2654435761u) >> 7) % 1000) / 250.f - 2.f + (((i % nx) > nx / 3 && (i / nx % ny) > ny / 3) ? 1.5f : 0.f);
    char err[512] = "";
    for(dec = -1; dec <= 1; ++dec){
        CHECK_MSG(network_predict_volume(tr, vol, nx, ny, nz, stride, dec, pa, err, sizeof(err)) == 0, "%s", err);
        CHECK_MSG(network_predict_volume(in, vol, nx, ny, nz, stride, dec, pb, err, sizeof(err)) == 0, "%s", err);
        CHECK_MSG(memcmp(pa, pb, n * sizeof(float)) == 0, "decoder %d: the inference network predicts differently", dec);
    }
    /* the layers only the loss reads (s2r [dtransform], sdf heads, [r2s]) did not run in the inference network: their
     * outputs are still zero; the training network (in its forward-only mode) ran them, and the inference network ran
     * every other conv */
    int li, dl;
    for(dl = in->n - 1; dl >= 0 && in->layers[dl].type != DBISL; --dl);
    CHECK(dl >= 0 && in->layers[dl].n == 4);
    int skipped = 0, ran = 0;
    for(li = 0; dl >= 0 && li < in->n; ++li){
        const layer *l = &in->layers[li];
        if(l->type == DBISL || !l->output) continue;
        int loss_only = l->type == DTRANSFORM || l->type == R2S || li == in->layers[dl].input_layers[1] ||
                        li == in->layers[dl].input_layers[3];
        size_t k, m = (size_t)l->outputs * l->batch, nz_in = 0, nz_tr = 0;
        for(k = 0; k < m; ++k){ nz_in += in->layers[li].output[k] != 0; nz_tr += tr->layers[li].output[k] != 0; }
        if(loss_only){
            /* [dtransform] computes nothing outside training in either network */
            CHECK_MSG(nz_in == 0 && (nz_tr > 0 || l->type == DTRANSFORM), "layer %d (%s): %zu nonzero outputs in the inference network, %zu in the training one",
                      li, get_layer_string(l->type), nz_in, nz_tr);
            ++skipped;
        } else if(l->type == CONV3D){
            CHECK_MSG(nz_in > 0, "layer %d (conv3d) did not run in the inference network", li);
            ++ran;
        }
    }
    CHECK_MSG(skipped == 6, "%d loss-only layers found, expected 6 (2 x s2r, sdf head, r2s)", skipped);
    printf("  %d loss-only layers not run, %d conv3d layers run\n", skipped, ran);
    /* a training step on the inference network is refused: no crash, the weights and predictions stay */
    int ci;
    for(ci = 0; ci < in->n && !ours_with_weights(in->layers[ci].type); ++ci);
    CHECK(ci < in->n);
    if(ci < in->n){
        layer *l = &in->layers[ci];
        float *w0 = malloc(sizeof(float) * l->nweights);
        memcpy(w0, l->weights, sizeof(float) * l->nweights);
        backward_network(in);   /* after the forwards above: every layer's output is set */
        update_network(in);
        CHECK(memcmp(w0, l->weights, sizeof(float) * l->nweights) == 0);
        free(w0);
        CHECK_MSG(network_predict_volume(in, vol, nx, ny, nz, stride, -1, pb, err, sizeof(err)) == 0, "%s", err);
        CHECK_MSG(network_predict_volume(tr, vol, nx, ny, nz, stride, -1, pa, err, sizeof(err)) == 0, "%s", err);
        CHECK(memcmp(pa, pb, n * sizeof(float)) == 0);
    }
    free(vol); free(pa); free(pb);
    free_network(tr);
    free_network(in);
}

/* windows per forward pass (-batch): 1, 3 and 5 windows per pass give the probabilities of the cfg's batch 4 */
static void test_infer_net_batch(void)
{
    mkout();
    if(make_weights()) { CHECK_MSG(0, "cannot make the weights of %s", CFG); return; }
    int nx = 56, ny = 32, nz = 20, stride[3] = { 8, 16, 16 }, b, bs[3] = { 1, 3, 5 };
    long n = (long)nx * ny * nz, i;
    float *vol = malloc(n * sizeof(float)), *pa = malloc(n * sizeof(float)), *pb = malloc(n * sizeof(float));
    for(i = 0; i < n; ++i) vol[i] = (float)(((i * 2654435761u) >> 9) % 1000) / 300.f - 1.5f;
    char err[512] = "";
    network *ref = load_network_infer(CFG, OUT "/w.weights", 0);
    CHECK(ref && ref->batch == 4);
    if(ref) CHECK_MSG(network_predict_volume(ref, vol, nx, ny, nz, stride, -1, pa, err, sizeof(err)) == 0, "%s", err);
    for(b = 0; b < 3 && ref; ++b){
        network *net = load_network_infer(CFG, OUT "/w.weights", bs[b]);
        CHECK(net && net->batch == bs[b]);
        if(!net) continue;
        CHECK_MSG(network_predict_volume(net, vol, nx, ny, nz, stride, -1, pb, err, sizeof(err)) == 0, "%s", err);
        double e = 0;
        for(i = 0; i < n; ++i) if(fabs(pa[i] - pb[i]) > e) e = fabs(pa[i] - pb[i]);
        CHECK_MSG(e < 1e-5, "batch %d: max abs difference %g to batch 4", bs[b], e);
        printf("  batch %d: max abs difference %g to batch 4\n", bs[b], e);
        free_network(net);
    }
    /* the override is for that one load: the next training network has the cfg's batch */
    network *tr = load_network_checked(CFG, 0, 0);
    CHECK(tr && tr->batch == 4);
    if(tr) free_network(tr);
    if(ref) free_network(ref);
    free(vol); free(pa); free(pb);
}

int main(void)
{
    darknet3d_init();
    darknet3d_gpu_available(0);
    gpu_index = -1;   /* the CPU path; scripts/gpu_checks.sh measures the device */
    RUN(test_infer_net_buffers);
    RUN(test_infer_net_same_prediction);
    RUN(test_infer_net_batch);
    TEST_MAIN_END();
}
