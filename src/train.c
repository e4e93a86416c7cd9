/* `./darknet seg3d train`: the training loop (two-stream batches, Darknet's SGD and lr policies, safe checkpoints, resume, validation, loss chart). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <omp.h>
#include "darknet3d.h"
#include "cfg_options.h"
#include "cfg_keys.h"
#include "cfg_check.h"
#include "dataset.h"
#include "loader.h"
#include "dbisl_layer.h"
#include "predict.h"
#include "metrics.h"
#include "train.h"
#include "chart.h"
#include "train_state.h"
#include "dropout_seeded.h"

static double now(void)
{
    struct timeval tv;
    gettimeofday(&tv, 0);
    return tv.tv_sec + tv.tv_usec * 1e-6;
}

static int mkdir_p(const char *dir)
{
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s", dir);
    char *p;
    for(p = tmp + 1; *p; ++p){
        if(*p == '/'){ *p = 0; mkdir(tmp, 0755); *p = '/'; }
    }
    if(mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

int save_weights_atomic(network *net, const char *path)
{
    char tmp[1100];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    /* Darknet's writer cannot report errors (an unopenable file even exits with status 0, a full disk leaves a
     * short file): check the file opens first, then that the size matches the network before renaming */
    FILE *f = fopen(tmp, "wb");
    if(!f){ fprintf(stderr, "error: cannot write weights %s: %s\n", tmp, strerror(errno)); return -1; }
    fclose(f);
    char serr[1400];
    if(save_weights_upto_err(net, tmp, net->n, serr, sizeof(serr))){ fprintf(stderr, "error: %s; %s is left as it was\n", serr, path); remove(tmp); return -1; }
    f = fopen(tmp, "rb+");
    if(!f){ fprintf(stderr, "error: %s: could not be written\n", tmp); return -1; }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    /* the size of a network's weights never changes: a later save shorter than the first one is a failed write */
    static const network *first_net = 0;
    static long first_size = 0;
    long want = (net == first_net) ? first_size : -1;
    if(fflush(f) != 0 || fsync(fileno(f)) != 0 || size < (long)(3 * sizeof(int) + sizeof(size_t)) || (want > 0 && size != want)){
        fprintf(stderr, "error: %s: write failed (%ld bytes, expected %ld: disk full?); %s is left as it was\n", tmp, size, want, path);
        fclose(f);
        return -1;
    }
    /* a diverging run can overflow its weights while the loss still looks finite (saturated sigmoids): such a file
     * is never made the checkpoint */
    float buf[4096];
    size_t got, k;
    int bad = 0;
    fseek(f, (long)(3 * sizeof(int) + sizeof(size_t)), SEEK_SET);
    while(!bad && (got = fread(buf, sizeof(float), 4096, f)) > 0)
        for(k = 0; k < got; ++k) if(!isfinite(buf[k])){ bad = 1; break; }
    fclose(f);
    if(bad){ remove(tmp); return 3; }
    if(net != first_net){ first_net = net; first_size = size; }
    if(rename(tmp, path) != 0){ fprintf(stderr, "error: cannot rename %s to %s: %s\n", tmp, path, strerror(errno)); return -1; }
    return 0;
}

static void report_bad_weights(network *net, const char *backup, const char *base)
{
    fprintf(stderr, "error: weights are not finite at iteration %d: stopping; the last good weights are %s/%s_last.weights\n",
            (int)get_current_batch(net), backup, base);
}

static int find_dbisl(network *net)
{
    int i;
    for(i = 0; i < net->n; ++i) if(net->layers[i].type == DBISL) return i;
    return -1;
}

/* mean Dice over the valid list, sliding window at the cfg's infer stride (or half a window) */
static double validate(network *net, dataset *ds, const char *cfg, double *secs)
{
    double t0 = now();
    int stride[3];
    char err[1024];
    if(cfg_infer_stride(cfg, stride, err, sizeof(err)) <= 0){
        stride[0] = net->d > 1 ? net->d / 2 : 1; stride[1] = net->h > 1 ? net->h / 2 : 1; stride[2] = net->w > 1 ? net->w / 2 : 1;
    }
    case_list *cl = &ds->split[SPLIT_VALID];
    double sum = 0;
    int i, n = 0;
    int train = net->train;
    net->train = 0;
    for(i = 0; i < cl->n; ++i){
        dataset_case *c = &cl->cases[i];
        if(dataset_case_load(ds, c, 1, err, sizeof(err))){ fprintf(stderr, "validation: %s\n", err); continue; }
        size_t nv = (size_t)c->nx * c->ny * c->nz, j;
        float *prob = malloc(nv * sizeof(float));
        unsigned char *pm = malloc(nv), *rm = malloc(nv);
        if(network_predict_volume(net, c->image, c->nx, c->ny, c->nz, stride, -1, prob, err, sizeof(err)) == 0){
            for(j = 0; j < nv; ++j){ pm[j] = prob[j] > 0.5f; rm[j] = c->label[j] != 0; }
            seg_metrics m;
            seg_overlap(pm, rm, nv, &m);
            sum += m.dice;
            ++n;
        } else fprintf(stderr, "validation: %s: %s\n", c->name, err);
        free(prob); free(pm); free(rm);
    }
    net->train = train;
    *secs = now() - t0;
    return n ? sum / n : NAN;
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
    if(gpu_index >= 0) cudaDeviceSynchronize();
#endif
}
static void bench_forward(layer l, network net)
{
    double t = now();
    bench.fwd[net.index](l, net);
    bench_sync();
    bench.tf[net.index] += now() - t;
}
static void bench_backward(layer l, network net)
{
    double t = now();
    bench.bwd[net.index](l, net);
    bench_sync();
    bench.tb[net.index] += now() - t;
}

/* on = 1: wraps every layer's functions (the GPU ones in a GPU run); on = 0: puts them back */
static void bench_wrap(network *net, int on)
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
static void bench_report(network *net, int iter, double total)
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

/* writes the weights at path, then their .state; 0, 3 (weights not finite: nothing written) or -1 */
static int checkpoint(network *net, const char *path, const loader_batch *b, const train_progress *pr)
{
    int rc = save_weights_atomic(net, path);
    if(rc) return rc;
    char sp[1300], err[1400];
    snprintf(sp, sizeof(sp), "%s.state", path);
    if(train_state_save(sp, path, net, b, pr, err, sizeof(err))){
        fprintf(stderr, "warning: %s; a resume from %s will be approximate\n", err, path);
        remove(sp);
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: ./darknet seg3d train <data> <cfg> [weights] [-clear] [-nogpu] [-gpus 0] [-seed S] [-max_batches N]\n"
                    "       [-valid_every N] [-benchmark_layers] [-deterministic] [-precision fp32|tf32] [-dont_show]\n");
}

int seg3d_train(int argc, char **argv)
{
    if(argc < 5){ usage(); return 2; }
    char *datafile = argv[3], *cfgfile = argv[4], *weights = 0;
    int i, clear = 0, max_batches = -1, dont_show = 0, valid_flag = -1, benchmark_layers = 0, deterministic_flag = 0;
    unsigned long seed = 1;
    char *gpus = 0, aerr[256], *precision_flag = 0, precision[96];
    for(i = 5; i < argc; ++i){
        if(strcmp(argv[i], "-clear") == 0) clear = 1;
        else if(strcmp(argv[i], "-dont_show") == 0) dont_show = 1;   /* accepted for Darknet users: there is no window */
        else if(strcmp(argv[i], "-benchmark_layers") == 0) benchmark_layers = 1;
        else if(strcmp(argv[i], "-deterministic") == 0) deterministic_flag = 1;
        else if(strcmp(argv[i], "-precision") == 0 && i + 1 < argc) precision_flag = argv[++i];
        else if(strcmp(argv[i], "-valid_every") == 0 && i + 1 < argc){
            long long v;
            if(arg_long("seg3d train", "-valid_every", argv[++i], &v, aerr, sizeof(aerr))){ fprintf(stderr, "error: %s\n", aerr); return 2; }
            valid_flag = (int)v;
        }
        else if(strcmp(argv[i], "-gpus") == 0 && i + 1 < argc) gpus = argv[++i];
        else if((strcmp(argv[i], "-seed") == 0 || strcmp(argv[i], "-max_batches") == 0) && i + 1 < argc){
            long long v;
            if(arg_long("seg3d train", argv[i], argv[i + 1], &v, aerr, sizeof(aerr))){ fprintf(stderr, "error: %s\n", aerr); return 2; }
            if(argv[i][1] == 's') seed = (unsigned long)v; else max_batches = (int)v;
            ++i;
        }
        else if(argv[i][0] != '-' && !weights && i == 5) weights = argv[i];
        else { fprintf(stderr, "error: unknown argument '%s'\n", argv[i]); usage(); return 2; }
    }
    (void)dont_show;   /* there is no window to show */
    /* -nogpu was taken off the command line by main() (src/main.c), which set gpu_index = -1 */
    if(gpu_index >= 0 && gpus){
        gpu_index = atoi(gpus);
        if(strchr(gpus, ',')) fprintf(stderr, "note: -gpus %s: darknet3d trains on one GPU; using GPU %d\n", gpus, gpu_index);
    }
#ifdef GPU
    if(gpu_index >= 0) cuda_set_device(gpu_index);
#endif

    char err[1024];
    int save_every, last_every, valid_every, deterministic;
    intensity_norm norm;
    if(cfg_net_int(cfgfile, "save_every", 1000, &save_every, err, sizeof(err)) ||
       cfg_net_int(cfgfile, "last_every", 100, &last_every, err, sizeof(err)) ||
       cfg_net_int(cfgfile, "valid_every", 0, &valid_every, err, sizeof(err)) ||
       cfg_net_int(cfgfile, "deterministic", 0, &deterministic, err, sizeof(err)) ||
       intensity_read(cfgfile, &norm, err, sizeof(err))){
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    /* the loader's truth rows (label crop + labeled flag, src/loader.h) are read by [dbisl] only: checked on the
     * text, before a full-size network is allocated */
    if(cfg_has_section(cfgfile, "[dbisl]") == 0){
        fprintf(stderr, "error: %s has no [dbisl] section, so seg3d train has no loss to compute: add one on its heads "
                        "(as cfg/vnet-sup.cfg does for the V-Net), or use this cfg with trained weights in seg3d predict/test\n", cfgfile);
        return 1;
    }
    if(valid_flag >= 0) valid_every = valid_flag;
    if(deterministic_flag) deterministic = 1;
    darknet3d_deterministic = deterministic;
    if(darknet3d_set_precision(cfgfile, precision_flag, precision, sizeof(precision), err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return 1; }
    dataset *ds = dataset_load(datafile, err, sizeof(err));
    if(!ds){ fprintf(stderr, "error: %s\n", err); return 1; }
    ds->norm = norm;

    /* weight initialisation and dropout masks use rand(): seeded on a state that checkpoints save */
    int rand_saveable = train_rand_seed((unsigned)seed);
    network *net = load_network_checked(cfgfile, weights, clear);
    if(!net){ dataset_free(ds); return 1; }
    if(max_batches > 0) net->max_batches = max_batches;
    if(net->max_batches < 1){ fprintf(stderr, "error: %s: [net] max_batches must be >= 1 (or pass -max_batches)\n", cfgfile); free_network(net); dataset_free(ds); return 1; }
#ifdef GPU
    /* deterministic GPU mode: [dropout] masks from rand() (saved with checkpoints) instead of a time-seeded generator */
    if(gpu_index >= 0 && deterministic)
        for(i = 0; i < net->n; ++i) if(net->layers[i].type == DROPOUT) net->layers[i].forward_gpu = forward_dropout_seeded_gpu;
#endif
    int li = find_dbisl(net);

    loader_params lp = loader_params_from_net(net);
    lp.seed = seed;
    loader *L = loader_create(ds, &lp, err, sizeof(err));
    if(!L){ fprintf(stderr, "error: %s\n", err); free_network(net); dataset_free(ds); return 1; }

    char base[256];
    {
        const char *b = strrchr(cfgfile, '/');
        b = b ? b + 1 : cfgfile;
        snprintf(base, sizeof(base), "%s", b);
        char *dot = strrchr(base, '.');
        if(dot && strcmp(dot, ".cfg") == 0) *dot = 0;
    }
    if(mkdir_p(ds->backup)){ fprintf(stderr, "error: cannot create backup folder %s: %s\n", ds->backup, strerror(errno)); loader_free(L); free_network(net); dataset_free(ds); return 1; }
    char path[1200], chart_path[1200];
    snprintf(chart_path, sizeof(chart_path), "%s/%s_chart.png", ds->backup, base);
    fprintf(stderr, "training %s on %s: batch %d (%d labeled), %d x %d x %d crops, max_batches %d, %s, precision %s, seed %lu\n",
            cfgfile, datafile, net->batch, loader_labeled_per_batch(L), net->d, net->h, net->w, net->max_batches,
            gpu_index >= 0 ? (deterministic ? "GPU (deterministic)" : "GPU") : "CPU", precision, seed);

    int nseries = li >= 0 ? DBISL_NTERMS + 1 : 1;
    train_progress pr;
    train_progress_init(&pr, nseries, seed);
    /* resuming: the weights' .state makes the run continue exactly as if it had never stopped */
    if(weights && !clear){
        char sp[1300];
        snprintf(sp, sizeof(sp), "%s.state", weights);
        int threads_then = 0;
        int src = rand_saveable ? train_state_load(sp, weights, net, L, &pr, &threads_then, err, sizeof(err)) : -1;
        if(!rand_saveable) snprintf(err, sizeof(err), "rand()'s state cannot be saved on this C library");
        if(src == 0){
            fprintf(stderr, "resuming exactly at iteration %d from %s and %s\n", (int)get_current_batch(net), weights, sp);
            if(pr.seed != seed) fprintf(stderr, "note: the run was started with -seed %llu; its saved random streams are used (-seed %lu has no effect)\n",
                                        (unsigned long long)pr.seed, seed);
            if(threads_then != omp_get_max_threads())
                fprintf(stderr, "note: the run was made with %d threads, this one has %d: results differ in the last bits from an uninterrupted run\n",
                        threads_then, omp_get_max_threads());
        } else if(get_current_batch(net) > 0){
            fprintf(stderr, "note: resuming approximately at iteration %d: %s; momentum, the random streams and the data order start afresh\n",
                    (int)get_current_batch(net), src == 1 ? "no state file next to the weights" : err);
        }
    }
    chart *ch = chart_create(nseries, net->max_batches);
    if(ch){
        chart_set_name(ch, 0, "total");
        int t, k;
        if(li >= 0) for(t = 0; t < DBISL_NTERMS; ++t) chart_set_name(ch, t + 1, dbisl_term_names[t]);
        for(k = 0; k < pr.npoints; ++k) for(t = 0; t < nseries; ++t) chart_add(ch, t, pr.iter[k], pr.val[(size_t)k * nseries + t]);
        for(k = 0; k < pr.nvalid; ++k) chart_add_valid(ch, pr.viter[k], pr.vdice[k]);
    }
    int rc = 0, bad_weights = 0;
    double start = now();
    size_t start_batch = get_current_batch(net);
    loader_batch *b = 0;
    while(get_current_batch(net) < (size_t)net->max_batches){
        double t0 = now();
        if(loader_next(L, &b, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); rc = 1; break; }
        double tload = now() - t0;
        /* the second iteration of the run when there is one: the first also sets up (oneDNN primitives, cuDNN) */
        size_t bench_at = start_batch + (start_batch + 2 <= (size_t)net->max_batches ? 1 : 0);
        int bench_now = benchmark_layers && get_current_batch(net) == bench_at;
        if(bench_now) bench_wrap(net, 1);
        int sub, nsub = b->rows / net->batch;
        float loss = 0;
        float terms[DBISL_NTERMS] = {0};
        for(sub = 0; sub < nsub; ++sub){
            get_next_batch(b->d, net->batch, sub * net->batch, net->input, net->truth);
            loss += train_network_datum(net) / nsub;
            if(li >= 0){
                int t;
                /* the term values are copied to the host by the loss layer every iteration */
                for(t = 0; t < DBISL_NTERMS; ++t) terms[t] += net->layers[li].output[t] / nsub;
            }
        }
        int iter = (int)get_current_batch(net);
        if(bench_now){ bench_wrap(net, 0); bench_report(net, iter, now() - t0); }
        if(!isfinite(loss)){
            fprintf(stderr, "error: loss is %f at iteration %d: stopping; the last good weights are %s/%s_last.weights\n", loss, iter, ds->backup, base);
            rc = 3;
            break;
        }
        pr.avg_loss = pr.avg_loss < 0 ? loss : pr.avg_loss * .9f + loss * .1f;
        double secs = now() - t0;
        double elapsed = now() - start;
        double per = elapsed / (iter - start_batch > 0 ? iter - start_batch : 1);
        printf("%d: %f, %f avg loss, %f rate, %lf seconds, %zu volumes, %.2f hours left",
               iter, loss, pr.avg_loss, get_current_rate(net), secs, *net->seen, per * (net->max_batches - iter) / 3600.);
        if(li >= 0){
            int t;
            printf(" |");
            for(t = 0; t < DBISL_NTERMS; ++t) printf(" %s=%.4f", dbisl_term_names[t], terms[t]);
            printf(" beta=%.3f load=%.3fs", dbisl_beta(net->layers[li], iter), tload);
        }
        printf("\n");
        fflush(stdout);
        {
            float v[DBISL_NTERMS + 1];
            v[0] = loss;
            int t;
            if(li >= 0) for(t = 0; t < DBISL_NTERMS; ++t) v[t + 1] = terms[t];
            if(train_progress_add(&pr, iter, v)) fprintf(stderr, "note: out of memory for the chart history\n");
            if(ch) for(t = 0; t < nseries; ++t) chart_add(ch, t, iter, v[t]);
        }
        if(valid_every > 0 && ds->split[SPLIT_VALID].n > 0 && (iter % valid_every == 0 || iter == net->max_batches)){
            double vs;
            double dice = validate(net, ds, cfgfile, &vs);
            int better = isfinite(dice) && dice > pr.best_dice;
            printf("valid %d: mean_dice=%.4f over %d cases (%.1f s)%s\n", iter, dice, ds->split[SPLIT_VALID].n, vs, better ? " best" : "");
            fflush(stdout);
            if(ch) chart_add_valid(ch, iter, dice);
            train_progress_add_valid(&pr, iter, dice);
            if(better){
                snprintf(path, sizeof(path), "%s/%s_best.weights", ds->backup, base);
                if((rc = save_weights_atomic(net, path))){ bad_weights = rc == 3; break; }
                pr.best_dice = dice;
                pr.best_iter = iter;
                fprintf(stderr, "best: mean_dice=%.6f at iteration %d: %s\n", dice, iter, path);
            }
        }
        if(iter % save_every == 0){
            snprintf(path, sizeof(path), "%s/%s_%d.weights", ds->backup, base, iter);
            if((rc = checkpoint(net, path, b, &pr))){ bad_weights = rc == 3; break; }
        }
        if(iter % last_every == 0){
            snprintf(path, sizeof(path), "%s/%s_last.weights", ds->backup, base);
            if((rc = checkpoint(net, path, b, &pr))){ bad_weights = rc == 3; break; }
            if(ch){
                char cerr[256];
                if(chart_write_png(ch, chart_path, cerr, sizeof(cerr))) fprintf(stderr, "note: chart: %s\n", cerr);
            }
        }
    }
    if(bad_weights) report_bad_weights(net, ds->backup, base);
    if(rc < 0) rc = 1;
    loader_stop(L);
    if(rc == 0){
        /* b is NULL when the weights were already at max_batches: nothing was trained, no state to write */
        snprintf(path, sizeof(path), "%s/%s_final.weights", ds->backup, base);
        if((rc = b ? checkpoint(net, path, b, &pr) : save_weights_atomic(net, path)) == 0){
            snprintf(path, sizeof(path), "%s/%s_last.weights", ds->backup, base);
            rc = b ? checkpoint(net, path, b, &pr) : save_weights_atomic(net, path);
        }
        if(rc == 3) report_bad_weights(net, ds->backup, base);
        if(rc < 0) rc = 1;
        if(ch){
            char cerr[256];
            if(chart_write_png(ch, chart_path, cerr, sizeof(cerr))) fprintf(stderr, "note: chart: %s\n", cerr);
        }
        if(rc == 0){
            fprintf(stderr, "done: %d iterations in %.1f s; weights in %s/%s_final.weights\n",
                    (int)get_current_batch(net), now() - start, ds->backup, base);
            if(pr.best_dice >= 0) fprintf(stderr, "best: mean_dice=%.6f at iteration %d: %s/%s_best.weights\n", pr.best_dice, pr.best_iter, ds->backup, base);
        }
    }
    train_progress_free(&pr);
    chart_free(ch);
    loader_free(L);
    free_network(net);
    dataset_free(ds);
    return rc;
}
