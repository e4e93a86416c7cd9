/* The pieces of a seg3d training run: safe weight checkpoints (weights written whole or not at all, then their .state), validation on the valid list and the per-layer benchmark. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "darknet3d.h"
#include "infer.h"
#include "metrics.h"
#include "cmd_common.h"
#include "train.h"
#include "cuda3d.h"

int save_weights_atomic(network *net, const char *path, long *expect)
{
    char tmp[TRAIN_PATH_BUF];
    int w = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if(w < 0 || (size_t)w >= sizeof(tmp)){ fprintf(stderr, "error: %s: path too long to write beside it\n", path); return -1; }
    /* written to <path>.tmp, every write checked (save_weights_upto_err), the size compared with the network's,
     * and the weights read back for non-finite values before the rename makes it the checkpoint */
    FILE *f = fopen(tmp, "wb");
    if(!f){ fprintf(stderr, "error: cannot write weights %s: %s\n", tmp, strerror(errno)); return -1; }
    fclose(f);
    char serr[TRAIN_PATH_BUF + 256];
    if(save_weights_upto_err(net, tmp, net->n, serr, sizeof(serr))){ fprintf(stderr, "error: %s; %s is left as it was\n", serr, path); remove(tmp); return -1; }
    f = fopen(tmp, "rb+");
    if(!f){ fprintf(stderr, "error: %s: could not be written\n", tmp); return -1; }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    /* the size of a network's weights never changes: a later save of another size is a failed write */
    long want = *expect;
    if(fflush(f) != 0 || fsync(fileno(f)) != 0 || size < (long)(3 * sizeof(int) + sizeof(size_t)) || (want > 0 && size != want)){
        fprintf(stderr, "error: %s: write failed (%ld bytes, expected %ld: disk full?); %s is left as it was\n", tmp, size, want, path);
        fclose(f);
        return -1;
    }
    /* a diverging run can overflow its weights while the loss still looks finite (saturated sigmoids): such a file
     * is never made the checkpoint */
    fseek(f, (long)(3 * sizeof(int) + sizeof(size_t)), SEEK_SET);
    int bad = floats_first_nonfinite(f) >= 0;
    fclose(f);
    if(bad){ remove(tmp); return 3; }
    if(want <= 0) *expect = size;
    if(rename(tmp, path) != 0){ fprintf(stderr, "error: cannot rename %s to %s: %s\n", tmp, path, strerror(errno)); return -1; }
    return 0;
}

int train_checkpoint(network *net, const char *path, const loader_batch *b, const train_progress *pr, long *size)
{
    int rc = save_weights_atomic(net, path, size);
    if(rc) return rc;
    char sp[TRAIN_PATH_BUF], err[TRAIN_PATH_BUF + 256];
    int w = snprintf(sp, sizeof(sp), "%s.state", path), fits = w >= 0 && (size_t)w < sizeof(sp);
    if(!fits) snprintf(err, sizeof(err), "%s.state: path too long", path);
    if(!fits || train_state_save(sp, path, net, b, pr, err, sizeof(err))){
        fprintf(stderr, "warning: %s; a resume from %s will be approximate\n", err, path);
        if(fits) remove(sp);
    }
    return 0;
}

double train_validate(network *net, dataset *ds, const char *cfg, double *secs, int *scored)
{
    double t0 = cmd_now();
    int stride[3];
    char err[1024];
    if(cfg_infer_stride(cfg, stride, err, sizeof(err)) <= 0) infer_default_stride(net, stride);
    case_list *cl = &ds->split[SPLIT_VALID];
    double sum = 0;
    int i, n = 0;
    int train = net->train;
    net->train = 0;
    for(i = 0; i < cl->n; ++i){
        dataset_case *c = &cl->cases[i];
        if(dataset_case_load(ds, c, 1, err, sizeof(err))){ fprintf(stderr, "warning: validation skips a case: %s\n", err); continue; }
        size_t nv = (size_t)c->nx * c->ny * c->nz, j;
        float *prob = malloc(nv * sizeof(float));
        unsigned char *pm = malloc(nv), *rm = malloc(nv);
        int rc = network_predict_volume(net, c->image, c->nx, c->ny, c->nz, stride, -1, prob, err, sizeof(err));
        if(rc == -2){   /* a diverging network: the case is scored, not left out; its non-finite voxels as background */
            fprintf(stderr, "warning: validation: case %s: %s: those voxels count as background\n", c->name, err);
            for(j = 0; j < nv; ++j) if(!isfinite(prob[j])) prob[j] = 0;
            rc = 0;
        }
        if(rc == 0){
            for(j = 0; j < nv; ++j){ pm[j] = prob[j] > 0.5f; rm[j] = c->label[j] != 0; }
            seg_metrics m;
            seg_overlap(pm, rm, nv, &m);
            sum += m.dice;
            ++n;
        } else fprintf(stderr, "warning: validation skips a case: %s: %s\n", c->name, err);
        free(prob); free(pm); free(rm);
    }
    net->train = train;
    *secs = cmd_now() - t0;
    *scored = n;
    return n ? sum / n : NAN;
}

float train_datum(network *net, amp_params *amp, amp_scaler *scaler, int *saved)
{
    *net->seen += net->batch;
    net->train = 1;
    forward_network(net);
#ifdef GPU
    if(amp && !*saved){ amp_step_begin(amp); *saved = 1; }
#endif
    amp_loss_scale = amp ? scaler->scale : 1.f;
    backward_network(net);
    amp_loss_scale = 1.f;
    float error = *net->cost;
    if(((*net->seen) / net->batch) % net->subdivisions) return error;
#ifdef GPU
    if(amp){
        *saved = 0;
        float scale = scaler->scale;
        if(!amp_step_finish(amp, scaler)){
            if(scale <= AMP_MIN_SCALE){   /* not an fp16 range problem: the gradients themselves are not finite */
                fprintf(stderr, "iteration %d: fp16 gradients are not finite even at loss scale %g: the step cannot be "
                                "taken (try -precision bf16 or fp32 to see whether fp16's range is the cause)\n",
                        (int)get_current_batch(net), scale);
                return NAN;
            }
            fprintf(stderr, "iteration %d: fp16 gradients overflowed at loss scale %g: step skipped, loss scale now %g\n",
                    (int)get_current_batch(net), scale, scaler->scale);
            return error;
        }
    }
#endif
    update_network(net);
    return error;
}

/* -benchmark_layers: each layer's forward and backward run through a timing wrapper for one iteration. Darknet's
 * forward/backward loops set net.index to the layer being run, which is how a wrapper finds its layer. */
static struct {
    int n;
    void (**fwd)(struct layer, struct network);
    void (**bwd)(struct layer, struct network);
    double *tf, *tb;
} bench;

static void bench_sync(void)
{
#ifdef GPU
    if(gpu_index >= 0) CUDA3D_CHECK(cudaDeviceSynchronize());
#endif
}
static void bench_forward(layer l, network net)
{
    double t = cmd_now();
    bench.fwd[net.index](l, net);
    bench_sync();
    bench.tf[net.index] += cmd_now() - t;
}
static void bench_backward(layer l, network net)
{
    double t = cmd_now();
    bench.bwd[net.index](l, net);
    bench_sync();
    bench.tb[net.index] += cmd_now() - t;
}

void train_bench_wrap(network *net, int on)
{
    int i;
    if(on){
        bench.n = net->n;
        bench.fwd = calloc(net->n, sizeof(*bench.fwd));
        bench.bwd = calloc(net->n, sizeof(*bench.bwd));
        bench.tf = calloc(net->n, sizeof(double));
        bench.tb = calloc(net->n, sizeof(double));
    }
    for(i = 0; i < net->n; ++i){
        layer *l = &net->layers[i];
#ifdef GPU
        if(gpu_index >= 0){
            if(on){ bench.fwd[i] = l->forward_gpu; bench.bwd[i] = l->backward_gpu; l->forward_gpu = bench_forward; l->backward_gpu = bench_backward; }
            else { l->forward_gpu = bench.fwd[i]; l->backward_gpu = bench.bwd[i]; }
            continue;
        }
#endif
        if(on){ bench.fwd[i] = l->forward; bench.bwd[i] = l->backward; l->forward = bench_forward; l->backward = bench_backward; }
        else { l->forward = bench.fwd[i]; l->backward = bench.bwd[i]; }
    }
}

/* the table, in AlexeyAB's spirit: one line per layer, then the totals and the update step */
void train_bench_report(network *net, int iter, double total)
{
    double sf = 0, sb = 0;
    int i;
    printf("benchmark_layers: iteration %d (%s), milliseconds\n", iter, gpu_index >= 0 ? "GPU, synchronised per layer" : "CPU");
    printf("%5s %-12s %10s %10s\n", "layer", "type", "forward", "backward");
    for(i = 0; i < bench.n; ++i){
        printf("%5d %-12s %10.3f %10.3f\n", i, get_layer_string(net->layers[i].type), bench.tf[i] * 1e3, bench.tb[i] * 1e3);
        sf += bench.tf[i]; sb += bench.tb[i];
    }
    printf("total forward %.3f ms, backward %.3f ms, rest (update, loading the batch) %.3f ms, iteration %.3f ms\n",
           sf * 1e3, sb * 1e3, (total - sf - sb) * 1e3, total * 1e3);
    fflush(stdout);
    free(bench.fwd); free(bench.bwd); free(bench.tf); free(bench.tb);
    memset(&bench, 0, sizeof(bench));
}
