/* Whole-network tests: PyTorch's default initialisation, and two SGD steps of a small V-Net (forward, loss, backward through the skips, update, BN running statistics) against PyTorch (scripts/fixtures_network.py). */
#include "testlib.h"
#include "darknet.h"
#include "darknet3d.h"

#define FIX "tests/fixtures/network/"

/* floats of a .weights file after its 20-byte header */
static long read_weights(const char *path, float **out)
{
    float *all = 0;
    long n = read_fixture(path, &all);
    if(n < 5) return -1;
    *out = all;
    return n - 5;
}

/* compares what the steps changed: (Darknet's saved weights - initial) vs (PyTorch's - initial), relative to the
 * largest PyTorch change; prints where the worst error is */
static void compare_weights(network *net, const float *init, long ninit, const char *torch_path, int step)
{
    char ours_path[256];
    snprintf(ours_path, sizeof(ours_path), "tests/out/network_step%d.weights", step);
    save_weights(net, ours_path);
    float *a = 0, *b = 0;
    long na = read_weights(ours_path, &a), nb = read_weights(torch_path, &b);
    CHECK_MSG(na == nb && na == ninit, "step %d: %ld floats saved, PyTorch fixture has %ld, initial %ld", step, na, nb, ninit);
    if(na == nb && na == ninit){
        long i, worst = 0;
        double wd = 0, big = 0, changed = 0;
        for(i = 0; i < na; ++i){
            double dt = (double)b[5 + i] - init[i];
            if(fabs(dt) > big) big = fabs(dt);
        }
        for(i = 0; i < na; ++i){
            double dt = (double)b[5 + i] - init[i], d = fabs(((double)a[5 + i] - init[i]) - dt);
            if(d > wd){ wd = d; worst = i; }
            changed += fabs(dt) > 1e-6 * big;
        }
        CHECK_MSG(big > 1e-4 && changed > na / 2, "step %d: PyTorch changed only %.0f of %ld floats (max %g)", step, changed, na, big);
        CHECK_MSG(wd <= 2e-3 * big, "step %d: float %ld of %ld changed by %.7g in Darknet, %.7g in PyTorch (largest change %.4g)",
                  step, worst, na, a[5 + worst] - init[worst], b[5 + worst] - init[worst], big);
    }
    free(a);
    free(b);
}

static void test_two_sgd_steps_vs_pytorch(void)
{
    char err[1024];
    network *net = parse_network_cfg_err(FIX "vnet.cfg", err, sizeof(err));
    CHECK_MSG(net != 0, "%s", err);
    if(!net) return;
    CHECK(load_weights_upto_err(net, FIX "init.weights", 0, net->n, err, sizeof(err)) == 0);
    float *init = 0;
    long ninit = read_weights(FIX "init.weights", &init);
    CHECK(ninit > 0);
    if(ninit <= 0){ free_network(net); return; }
    float want[2] = {0, 0};
    FILE *f = fopen(FIX "loss.txt", "r");
    CHECK(f && fscanf(f, "%g %g", &want[0], &want[1]) == 2);
    if(f) fclose(f);
    int step;
    for(step = 1; step <= 2; ++step){
        char p[256];
        snprintf(p, sizeof(p), FIX "batch%d.f32", step);
        float *bt = 0;
        long n = fixture_f32(p, (long)net->batch * (net->inputs + net->truths), &bt);
        size_t nin = (size_t)net->batch * net->inputs, ntr = (size_t)net->batch * net->truths;
        CHECK_MSG(n == (long)(nin + ntr), "%s: %ld floats, want %zu", p, n, nin + ntr);
        if(n != (long)(nin + ntr)){ free(bt); break; }
        memcpy(net->input, bt, nin * sizeof(float));
        memcpy(net->truth, bt + nin, ntr * sizeof(float));
        free(bt);
        float loss = train_network_datum(net);
        CHECK_NEAR(loss, want[step - 1], 1e-4 * fabs(want[step - 1]) + 1e-6);
        snprintf(p, sizeof(p), FIX "step%d.weights", step);
        compare_weights(net, init + 5, ninit, p, step);
    }
    free(init);
    free_network(net);
}

/* [conv3d]/[deconv3d] start as PyTorch's Conv3d/ConvTranspose3d do (kaiming_uniform, a = sqrt(5)): weights
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), so weight * sqrt(fan_in) has std 1/sqrt(3); BN gamma 1, beta 0 */
static void test_init_matches_pytorch(void)
{
    char err[1024];
    network *net = parse_network_cfg_err(FIX "vnet.cfg", err, sizeof(err));
    CHECK_MSG(net != 0, "%s", err);
    if(!net) return;
    double s2 = 0, n = 0;
    int i, nconv = 0;
    for(i = 0; i < net->n; ++i){
        layer l = net->layers[i];
        if(l.type != CONV3D && l.type != DECONV3D) continue;
        ++nconv;
        /* PyTorch's fan-in: in_c * k^3 for Conv3d, out_c * k^3 for ConvTranspose3d (dim 1 of its weight) */
        int fan_in = l.type == CONV3D ? l.nweights / l.out_c : l.nweights / l.c;
        double bound = 1.0 / sqrt((double)fan_in), mx = 0;
        int j;
        for(j = 0; j < l.nweights; ++j){
            if(fabs(l.weights[j]) > mx) mx = fabs(l.weights[j]);
            s2 += (double)l.weights[j] * l.weights[j] * fan_in;
            n += 1;
        }
        CHECK_MSG(mx <= bound * (1 + 1e-6) && (l.nweights < 100 || mx > 0.9 * bound), "layer %d: max |w| %g, bound %g", i, mx, bound);
        if(l.batch_normalize) for(j = 0; j < l.out_c; ++j){ CHECK(l.scales[j] == 1.f); CHECK(l.biases[j] == 0.f); }
    }
    CHECK(nconv == 31);
    double sd = sqrt(s2 / n);
    CHECK_MSG(fabs(sd - 1 / sqrt(3.0)) < 0.01, "std of w * sqrt(fan_in) = %g, want %g", sd, 1 / sqrt(3.0));
    free_network(net);
}

int main(void)
{
    darknet3d_init();
    darknet3d_gpu_available(0);
    if(system("mkdir -p tests/out")) return 1;
    gpu_index = -1;   /* the CPU path; tests/test_gpu_fallback.sh and the GPU tests cover the device */
    RUN(test_init_matches_pytorch);
    RUN(test_two_sgd_steps_vs_pytorch);
    TEST_MAIN_END();
}
