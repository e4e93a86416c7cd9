/* `./darknet seg3d train`: the training command (two-stream batches, Darknet's SGD and lr policies, safe checkpoints, exact resume, validation, loss chart) as its steps. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "darknet3d.h"
#include "cfg_options.h"
#include "cfg_keys.h"
#ifdef GPU
#include "cuda3d.h"
#endif
#include "cfg_check.h"
#include "dataset.h"
#include "intensity.h"
#include "loader.h"
#include "dbisl_layer.h"
#include "chart.h"
#include "train_state.h"
#include "cmd_common.h"
#include "commands.h"
#include "train.h"

/* What the command line asks for. */
typedef struct {
    char *datafile, *cfgfile, *weights, *gpus, *precision_flag;
    int clear, max_batches, valid_flag, benchmark_layers, deterministic_flag;
    int seed_given;         /* -seed was on the command line */
    unsigned long seed;
} train_args;

/* A training run: its settings, what it built, and what it carries from iteration to iteration. */
typedef struct {
    train_args a;
    int save_every, last_every, valid_every, deterministic;
    intensity_norm norm;
    char precision[96], base[256], chart_path[TRAIN_PATH_BUF];
    char good[TRAIN_PATH_BUF];        /* the newest checkpoint this run wrote, or the weights it resumed from ("": neither) */
    int good_iter;          /* the iteration of those weights */
    int rand_saveable;      /* rand()'s state can be checkpointed */
    dataset *ds;
    network *net;
    loader *L;
    int li, nseries;        /* the [dbisl] layer (-1: none); chart series */
    float pse_cover;        /* the step's mean confidence-mask share (dbisl_pse_cover), -1: pse off */
    train_progress pr;
    chart *ch;
    long weights_size;      /* bytes of this network's weights file (-1 until the first is written) */
    double start;
    double built_mib;       /* GPU: device memory in use once the network was built (cuda3d_device_used_mib) */
    size_t start_batch;
    loader_batch *b;        /* the batch trained last (NULL: none yet) */
    amp_params *amp;        /* precision fp16 on the GPU: the update buffers the loss scaling saves and checks (else NULL) */
    int amp_saved;          /* the buffers are saved for the step being accumulated */
} train_run;

static void usage(void)
{
    fprintf(stderr, "usage: ./darknet seg3d train <data> <cfg> [weights] [-clear] [-nogpu] [-gpus 0] [-seed S] [-max_batches N]\n"
                    "       [-valid_every N] [-benchmark_layers] [-deterministic] [-precision fp32|tf32|fp16|bf16] [-dont_show]\n");
}

/* -1 when the arguments are good, else the exit code (the error printed) */
static int train_parse(train_args *a, int argc, char **argv)
{
    int i;
    char aerr[256];
    long long v;
    a->datafile = argv[3]; a->cfgfile = argv[4]; a->max_batches = -1; a->valid_flag = -1; a->seed = 1;
    for(i = 5; i < argc; ++i){
        if(strcmp(argv[i], "-clear") == 0) a->clear = 1;
        else if(strcmp(argv[i], "-dont_show") == 0) continue;   /* accepted for Darknet users: there is no window */
        else if(strcmp(argv[i], "-benchmark_layers") == 0) a->benchmark_layers = 1;
        else if(strcmp(argv[i], "-deterministic") == 0) a->deterministic_flag = 1;
        else if(strcmp(argv[i], "-precision") == 0 && i + 1 < argc) a->precision_flag = argv[++i];
        else if(strcmp(argv[i], "-valid_every") == 0 && i + 1 < argc){
            if(arg_long("seg3d train", "-valid_every", argv[++i], &v, aerr, sizeof(aerr))){ fprintf(stderr, "error: %s\n", aerr); return 2; }
            a->valid_flag = (int)v;
        }
        else if(strcmp(argv[i], "-gpus") == 0 && i + 1 < argc) a->gpus = argv[++i];
        else if((strcmp(argv[i], "-seed") == 0 || strcmp(argv[i], "-max_batches") == 0) && i + 1 < argc){
            if(arg_long("seg3d train", argv[i], argv[i + 1], &v, aerr, sizeof(aerr))){ fprintf(stderr, "error: %s\n", aerr); return 2; }
            if(argv[i][1] == 's'){ a->seed = (unsigned long)v; a->seed_given = 1; } else a->max_batches = (int)v;
            ++i;
        }
        else if(argv[i][0] != '-' && !a->weights && i == 5) a->weights = argv[i];
        else if(i + 1 == argc && (!strcmp(argv[i], "-precision") || !strcmp(argv[i], "-valid_every") || !strcmp(argv[i], "-gpus") ||
                                  !strcmp(argv[i], "-seed") || !strcmp(argv[i], "-max_batches"))){
            fprintf(stderr, "error: seg3d train %s: expects a value after it\n", argv[i]); usage(); return 2;
        }
        else if(argv[i][0] != '-' && !a->weights){
            fprintf(stderr, "error: seg3d train: '%s': the weights file goes right after <cfg>, before any flag\n", argv[i]); usage(); return 2;
        }
        else if(argv[i][0] != '-'){ fprintf(stderr, "error: seg3d train: unexpected argument '%s'\n", argv[i]); usage(); return 2; }
        else { fprintf(stderr, "error: unknown argument '%s'\n", argv[i]); usage(); return 2; }
    }
    return -1;
}

/* the first of -gpus's comma-separated GPU indices, each an integer in [0, INT_MAX]; -1 with the error printed */
static int train_first_gpu(const char *gpus)
{
    const char *p = gpus;
    int first = -1;
    do {
        char *end;
        errno = 0;
        long g = isdigit((unsigned char)*p) ? strtol(p, &end, 10) : -1;
        if(g < 0 || (*end && *end != ',')){
            fprintf(stderr, "error: seg3d train -gpus: expected GPU indices such as 0 or 0,1, got '%s'\n", gpus); return -1;
        }
        if(errno == ERANGE || g > INT_MAX){
            fprintf(stderr, "error: seg3d train -gpus %s: GPU index %.*s is out of range (at most %d)\n", gpus, (int)(end - p), p, INT_MAX); return -1;
        }
        if(first < 0) first = (int)g;
        p = *end ? end + 1 : end;
        if(*end && !*p){ fprintf(stderr, "error: seg3d train -gpus: expected GPU indices such as 0 or 0,1, got '%s'\n", gpus); return -1; }
    } while(*p);
    return first;
}

/* -gpus picks the device: GPU indices as Darknet writes them ("0", "0,1"; the first is used). -nogpu was taken off
 * the command line by main() (src/main.c), which set gpu_index = -1. 0, or 2 with the error printed */
static int train_select_gpu(const train_args *a)
{
    if(a->gpus){
        int g = train_first_gpu(a->gpus), count = 0;
        if(g < 0) return 2;
#ifdef GPU
        if(gpu_index >= 0 && cudaGetDeviceCount(&count) != cudaSuccess) count = 0;
#endif
        if(gpu_index < 0) fprintf(stderr, "note: -gpus %s: this run has no GPU (CPU build, no usable device, or -nogpu): training on the CPU\n", a->gpus);
        else if(g >= count){ fprintf(stderr, "error: seg3d train -gpus %s: there is no GPU %d; this machine has %d (0..%d)\n", a->gpus, g, count, count - 1); return 2; }
        else {
            gpu_index = g;
            if(strchr(a->gpus, ',')) fprintf(stderr, "note: -gpus %s: darknet3d trains on one GPU; using GPU %d\n", a->gpus, gpu_index);
        }
    }
#ifdef GPU
    if(gpu_index >= 0) cuda_set_device(gpu_index);
#endif
    return 0;
}

/* the [net] keys read here, the [dbisl] check and the precision; 0, or 1 with the error printed */
static int train_read_cfg(train_run *r)
{
    char err[1024], *cfgfile = r->a.cfgfile;
    if(cfg_net_int(cfgfile, "save_every", 1000, &r->save_every, err, sizeof(err)) ||
       cfg_net_int(cfgfile, "last_every", 100, &r->last_every, err, sizeof(err)) ||
       cfg_net_int(cfgfile, "valid_every", 0, &r->valid_every, err, sizeof(err)) ||
       cfg_net_int(cfgfile, "deterministic", 0, &r->deterministic, err, sizeof(err)) ||
       intensity_read(cfgfile, &r->norm, err, sizeof(err))){
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
    if(r->a.valid_flag >= 0) r->valid_every = r->a.valid_flag;
    if(r->a.deterministic_flag) r->deterministic = 1;
    darknet3d_deterministic = r->deterministic;
    if(darknet3d_set_precision(cfgfile, r->a.precision_flag, r->precision, sizeof(r->precision), err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return 1; }
    return 0;
}

/* where a [net] setting came from, for messages: its flag, or the cfg's file:line and key */
static void train_setting_source(const train_run *r, int from_flag, const char *key, char *out, size_t n)
{
    char v[256], err[256];
    int line = 0;
    if(from_flag) snprintf(out, n, "-%s", key);
    else if(cfg_net_value(r->a.cfgfile, key, v, sizeof(v), &line, err, sizeof(err)) == 1)
        snprintf(out, n, "%s:%d: [net]: key '%s'", r->a.cfgfile, line, key);
    else snprintf(out, n, "%s: [net]: key '%s'", r->a.cfgfile, key);
}

/* with validation on: the .data file has a valid list, and each of its cases opens with a label of its image's
 * shape (read into the cache, where validation finds them); 0, or 1 with the error printed */
static int train_check_valid(train_run *r)
{
    char src[1400], err[1024];
    case_list *cl = &r->ds->split[SPLIT_VALID];
    int i;
    if(r->valid_every <= 0) return 0;
    if(cl->n == 0){
        train_setting_source(r, r->a.valid_flag >= 0, "valid_every", src, sizeof(src));
        fprintf(stderr, "error: %s: validation every %d iterations needs a 'valid' list, and %s has none: "
                        "add 'valid = <list of case ids>' to it, or pass -valid_every 0\n", src, r->valid_every, r->a.datafile);
        return 1;
    }
    for(i = 0; i < cl->n; ++i){
        if(dataset_case_load(r->ds, &cl->cases[i], 1, err, sizeof(err)) == 0) continue;
        fprintf(stderr, "error: %s (case %s of the valid list %s, checked before training because validation is on)\n",
                err, cl->cases[i].name, cl->list_path ? cl->list_path : r->a.datafile);
        return 1;
    }
    return 0;
}

/* weights past max_batches are an error; weights exactly at it (a run stopped between its last checkpoint and its
 * _final) train nothing and are written as _final and _last. 0, or 1 with the error printed */
static int train_check_start(const train_run *r)
{
    char src[1400];
    size_t at = get_current_batch(r->net), max = (size_t)r->net->max_batches;   /* max_batches >= 1: checked first */
    if(!r->a.weights || at < max) return 0;
    train_setting_source(r, r->a.max_batches > 0, "max_batches", src, sizeof(src));
    if(at == max){
        fprintf(stderr, "note: weights %s are at iteration %zu, max_batches (%s): nothing to train; they are written as _final and _last\n",
                r->a.weights, at, src);
        return 0;
    }
    fprintf(stderr, "error: weights %s are at iteration %zu, past max_batches %d (%s): nothing was trained or written; "
                    "raise max_batches to train on, or pass -clear to train again from iteration 0\n",
            r->a.weights, at, r->net->max_batches, src);
    return 1;
}

/* data set, network (rand() seeded first: weight initialisation and dropout masks use it) and loader; 0 or 1 */
static int train_build(train_run *r)
{
    char err[1024];
    r->ds = dataset_load(r->a.datafile, err, sizeof(err));
    if(!r->ds){ fprintf(stderr, "error: %s\n", err); return 1; }
    r->ds->norm = r->norm;
    if(train_check_valid(r)) return 1;
    r->rand_saveable = train_rand_seed((unsigned)r->a.seed);
    r->net = load_network_checked(r->a.cfgfile, r->a.weights, r->a.clear);
    if(!r->net) return 1;
    network *net = r->net;
#ifdef GPU
    if(gpu_index >= 0) r->built_mib = cuda3d_device_used_mib();
#endif
    if(r->a.max_batches > 0) net->max_batches = r->a.max_batches;
    if(net->max_batches < 1){ fprintf(stderr, "error: %s: [net] max_batches must be >= 1 (or pass -max_batches)\n", r->a.cfgfile); return 1; }
    if(train_check_start(r)) return 1;
#ifdef GPU
    if(gpu_index >= 0 && darknet3d_precision == DARKNET3D_FP16 && !(r->amp = train_amp_params(net, err, sizeof(err)))){
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
#endif
    for(r->li = 0; r->li < net->n && net->layers[r->li].type != DBISL; ++r->li);
    if(r->li == net->n) r->li = -1;
    loader_params lp = loader_params_from_net(net);
    lp.seed = r->a.seed;
    r->L = loader_create(r->ds, &lp, err, sizeof(err));
    if(!r->L){ fprintf(stderr, "error: %s\n", err); return 1; }
    return 0;
}

/* every file of the run, <backup>/<base> and a suffix (the longest: _<max_batches>.weights.state or
 * _final.weights.state), has a path the system accepts (below PATH_MAX); 0, or 1 with the error printed */
static int train_check_paths(const train_run *r)
{
    size_t suffix = strlen("_final.weights.state");
    int n = snprintf(NULL, 0, "_%d.weights.state", r->net->max_batches);
    if((size_t)n > suffix) suffix = (size_t)n;
    /* a file is written under a hidden name first, ".~<pid>-" and the name (src/file_publish.c): up to 13 more */
    size_t len = strlen(r->ds->backup), fixed = 1 + strlen(r->base) + suffix + 13;
    if(strlen(r->base) + suffix + 13 > NAME_MAX){
        fprintf(stderr, "error: %s: the cfg's name is too long for the run's files (%zu characters; at most %zu, so that names "
                        "such as %s_final.weights.state fit in a file name)\n", r->a.cfgfile, strlen(r->base), (size_t)NAME_MAX - suffix - 13, r->base);
        return 1;
    }
    if(len + fixed < PATH_MAX) return 0;   /* fixed is at most NAME_MAX + 1 (checked above) */
    fprintf(stderr, "error: %s: path too long (%zu characters; at most %zu, so that the run's files such as %s_final.weights.state "
                    "fit in it): backup in %s\n", r->ds->backup, len, (size_t)PATH_MAX - 1 - fixed, r->base, r->a.datafile);
    return 1;
}

/* the checkpoints' base name (the cfg's file name without .cfg), the backup folder and the opening line; 0 or 1 */
static int train_outputs(train_run *r)
{
    const char *b = strrchr(r->a.cfgfile, '/');
    b = b ? b + 1 : r->a.cfgfile;
    snprintf(r->base, sizeof(r->base), "%s", b);
    char *dot = strrchr(r->base, '.');
    if(dot && strcmp(dot, ".cfg") == 0) *dot = 0;
    if(train_check_paths(r)) return 1;
    if(cmd_mkdir_p(r->ds->backup)){ fprintf(stderr, "error: cannot create backup folder %s: %s\n", r->ds->backup, strerror(errno)); return 1; }
    snprintf(r->chart_path, sizeof(r->chart_path), "%s/%s_chart.png", r->ds->backup, r->base);   /* fits: train_check_paths */
    network *net = r->net;
    fprintf(stderr, "training %s on %s: batch %d (%d labeled), %d x %d x %d crops, max_batches %d, %s, precision %s, seed %lu\n",
            r->a.cfgfile, r->a.datafile, net->batch, loader_labeled_per_batch(r->L), net->d, net->h, net->w, net->max_batches,
            gpu_index >= 0 ? (r->deterministic ? "GPU (deterministic)" : "GPU") : "CPU", r->precision, r->a.seed);
    return 0;
}

/* with weights (and no -clear): the weights' .state makes the run continue exactly as if it had never stopped */
static void train_resume(train_run *r)
{
    char sp[TRAIN_PATH_BUF], err[TRAIN_PATH_BUF + 256], *weights = r->a.weights;
    network *net = r->net;
    if(!weights || r->a.clear) return;
    snprintf(r->good, sizeof(r->good), "%s", weights);
    r->good_iter = (int)get_current_batch(net);
    snprintf(sp, sizeof(sp), "%s.state", weights);
    int threads_then = 0;
    int src = r->rand_saveable ? train_state_load(sp, weights, net, r->L, &r->pr, &threads_then, err, sizeof(err)) : -1;
    if(!r->rand_saveable) snprintf(err, sizeof(err), "rand()'s state cannot be saved on this C library");
    if(src == 0){
        fprintf(stderr, "resuming exactly at iteration %d from %s and %s (the run's seed: %llu)\n", (int)get_current_batch(net), weights, sp,
                (unsigned long long)r->pr.seed);
        if(r->a.seed_given && r->pr.seed != r->a.seed) fprintf(stderr, "note: the run was started with -seed %llu; its saved random streams are used (-seed %lu has no effect)\n",
                                            (unsigned long long)r->pr.seed, r->a.seed);
        if(threads_then != omp_get_max_threads())
            fprintf(stderr, "note: the run was made with %d threads, this one has %d: results differ in the last bits from an uninterrupted run\n",
                    threads_then, omp_get_max_threads());
        if(gpu_index >= 0 && !r->deterministic)
            fprintf(stderr, "note: on the GPU without -deterministic the state is restored, but the cuDNN "
                            "algorithms and atomics are not reproducible: the run continues, not bit for bit as if never stopped\n");
    } else if(get_current_batch(net) > 0){
        fprintf(stderr, "note: resuming approximately at iteration %d: %s; momentum, the random streams and the data order start afresh\n",
                (int)get_current_batch(net), src == 1 ? "no state file next to the weights" : err);
    }
}

/* the loss chart, with the history a resumed run brings */
static void train_chart(train_run *r)
{
    train_progress *pr = &r->pr;
    int t, k, nseries = r->nseries;
    r->ch = chart_create(nseries, r->net->max_batches);
    if(!r->ch) return;
    chart_set_name(r->ch, 0, "total");
    if(r->li >= 0) for(t = 0; t < DBISL_NTERMS; ++t) chart_set_name(r->ch, t + 1, dbisl_term_names[t]);
    for(k = 0; k < pr->npoints; ++k) for(t = 0; t < nseries; ++t) chart_add(r->ch, t, pr->iter[k], pr->val[(size_t)k * nseries + t]);
    for(k = 0; k < pr->nvalid; ++k) chart_add_valid(r->ch, pr->viter[k], pr->vdice[k]);
}

static void train_write_chart(train_run *r)
{
    char cerr[256];
    if(r->ch && chart_write_png(r->ch, r->chart_path, cerr, sizeof(cerr))) fprintf(stderr, "note: chart: %s\n", cerr);
}

/* one SGD step over the batch's sub-batches: the mean loss, and the [dbisl] terms when there is that layer */
static float train_step(train_run *r, float *terms)
{
    network *net = r->net;
    int sub, t, nsub = r->b->rows / net->batch;
    float loss = 0, *own_input = net->input, *own_truth = net->truth;
    for(sub = 0; sub < nsub; ++sub){
        if(!loader_batch_bind(r->b, sub * net->batch, net)) get_next_batch(r->b->d, net->batch, sub * net->batch, net->input, net->truth);
        loss += train_datum(net, r->amp, &r->pr.amp, &r->amp_saved) / nsub;
        /* the term values are copied to the host by the loss layer every iteration */
        if(r->li >= 0) for(t = 0; t < DBISL_NTERMS; ++t) terms[t] += net->layers[r->li].output[t] / nsub;
        float c = r->li >= 0 ? dbisl_pse_cover(net->layers[r->li]) : -1;
        r->pse_cover = sub == 0 ? c : (r->pse_cover < 0 || c < 0) ? -1 : r->pse_cover + (c - r->pse_cover) / (sub + 1);
    }
    net->input = own_input;
    net->truth = own_truth;
    return loss;
}

/* the iteration's line, its point in the progress history and on the chart */
static void train_record(train_run *r, int iter, float loss, const float *terms, double secs, double tload)
{
    network *net = r->net;
    int t;
    r->pr.avg_loss = r->pr.avg_loss < 0 ? loss : r->pr.avg_loss * .9f + loss * .1f;
    double per = (cmd_now() - r->start) / (iter - r->start_batch > 0 ? iter - r->start_batch : 1);
    printf("%d: %f, %f avg loss, %f rate, %lf seconds, %zu volumes, %.2f hours left",
           iter, loss, r->pr.avg_loss, get_current_rate(net), secs, *net->seen, per * (net->max_batches - iter) / 3600.);
    if(r->li >= 0){
        printf(" |");
        for(t = 0; t < DBISL_NTERMS; ++t) printf(" %s=%.4f", dbisl_term_names[t], terms[t]);
        printf(" beta=%.3f", dbisl_beta(net->layers[r->li], iter));
        if(r->pse_cover >= 0) printf(" mask=%.3f", r->pse_cover);
        printf(" load=%.3fs", tload);
    }
    printf("\n");
    fflush(stdout);
    float v[DBISL_NTERMS + 1];
    v[0] = loss;
    if(r->li >= 0) for(t = 0; t < DBISL_NTERMS; ++t) v[t + 1] = terms[t];
    if(train_progress_add(&r->pr, iter, v)) fprintf(stderr, "note: out of memory for the chart history\n");
    if(r->ch) for(t = 0; t < r->nseries; ++t) chart_add(r->ch, t, iter, v[t]);
}

/* validation when due, and <base>_best.weights when it improved; 0, or save_weights_atomic's error */
static int train_validate_due(train_run *r, int iter)
{
    dataset *ds = r->ds;
    if(!(r->valid_every > 0 && ds->split[SPLIT_VALID].n > 0 && (iter % r->valid_every == 0 || iter == r->net->max_batches))) return 0;
    double vs;
    int scored;
    double dice = train_validate(r->net, ds, r->a.cfgfile, &vs, &scored);
    int better = isfinite(dice) && dice > r->pr.best_dice;
    printf("valid %d: mean_dice=%.4f over %d cases (%.1f s)%s\n", iter, dice, scored, vs, better ? " best" : "");
    fflush(stdout);
    if(r->ch) chart_add_valid(r->ch, iter, dice);
    train_progress_add_valid(&r->pr, iter, dice);
    if(!better) return 0;
    char path[TRAIN_PATH_BUF];
    snprintf(path, sizeof(path), "%s/%s_best.weights", ds->backup, r->base);   /* fits: train_check_paths */
    int rc = save_weights_atomic(r->net, path, &r->weights_size);
    if(rc) return rc;
    r->pr.best_dice = dice;
    r->pr.best_iter = iter;
    fprintf(stderr, "best: mean_dice=%.6f at iteration %d: %s\n", dice, iter, path);
    return 0;
}

/* a checkpoint <backup>/<base><suffix> of the weights and their state (the weights alone when no batch was trained:
 * resumed at max_batches); a written one becomes the run's last good weights. 0 or train_checkpoint's error */
static int train_checkpoint_as(train_run *r, const char *suffix)
{
    char path[TRAIN_PATH_BUF];
    snprintf(path, sizeof(path), "%s/%s%s", r->ds->backup, r->base, suffix);   /* fits: train_check_paths */
    int rc = r->b ? train_checkpoint(r->net, path, r->b, &r->pr, &r->weights_size) : save_weights_atomic(r->net, path, &r->weights_size);
    if(rc == 0){
        snprintf(r->good, sizeof(r->good), "%s", path);
        r->good_iter = (int)get_current_batch(r->net);
    }
    return rc;
}

/* <base>_<iter>.weights every save_every, <base>_last.weights and the chart every last_every; 0 or the error */
static int train_checkpoint_due(train_run *r, int iter)
{
    char suffix[64];
    int rc;
    if(iter % r->save_every == 0){
        snprintf(suffix, sizeof(suffix), "_%d.weights", iter);
        if((rc = train_checkpoint_as(r, suffix))) return rc;
    }
    if(iter % r->last_every == 0){
        if((rc = train_checkpoint_as(r, "_last.weights"))) return rc;
        train_write_chart(r);
    }
    return 0;
}

/* what a stopped run leaves to resume from: only weights this run wrote, or the weights it resumed from */
static void train_good_weights(const train_run *r, char *out, size_t n)
{
    if(r->good[0]) snprintf(out, n, "the last good weights are %s (iteration %d)", r->good, r->good_iter);
    else snprintf(out, n, "no checkpoint was written yet (checkpoints are due every last_every=%d iterations)", r->last_every);
}

static void report_bad_weights(const train_run *r)
{
    char good[TRAIN_PATH_BUF + 256];
    train_good_weights(r, good, sizeof(good));
    fprintf(stderr, "error: weights are not finite at iteration %d: stopping; %s\n", (int)get_current_batch(r->net), good);
}

/* one iteration: batch, step, its line, validation and checkpoints. 0 to go on, else the exit code so far
 * (-1 a write error, 1 an error, 3 a non-finite loss or weights; *bad_weights set for the weights) */
static int train_iteration(train_run *r, int *bad_weights)
{
    char err[1024];
    network *net = r->net;
    double t0 = cmd_now();
    if(loader_next(r->L, &r->b, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return 1; }
    double tload = cmd_now() - t0;
    /* the second iteration of the run when there is one: the first also sets up (oneDNN primitives, cuDNN) */
    size_t bench_at = r->start_batch + (r->start_batch + 2 <= (size_t)net->max_batches ? 1 : 0);
    int bench_now = r->a.benchmark_layers && get_current_batch(net) == bench_at;
    if(bench_now) train_bench_wrap(net, 1);
    float terms[DBISL_NTERMS] = {0};
    float loss = train_step(r, terms);
    int iter = (int)get_current_batch(net), rc;
    if(bench_now){ train_bench_wrap(net, 0); train_bench_report(net, iter, cmd_now() - t0); }
    if(!isfinite(loss)){
        char good[TRAIN_PATH_BUF + 256];
        train_good_weights(r, good, sizeof(good));
        fprintf(stderr, "error: loss is %f at iteration %d: stopping; %s\n", loss, iter, good);
        return 3;
    }
    train_record(r, iter, loss, terms, cmd_now() - t0, tload);
#ifdef GPU
    /* what nvidia-smi's peak of a run is made of: context, network and search (built), the first pass's extras */
    if(gpu_index >= 0 && (size_t)iter == r->start_batch + 1)
        fprintf(stderr, "GPU memory in use on the device (whole device, CUDA context included): %.0f MiB once the network was built, "
                        "%.0f MiB after the first iteration\n", r->built_mib, cuda3d_device_used_mib());
#endif
    if((rc = train_validate_due(r, iter)) || (rc = train_checkpoint_due(r, iter))) *bad_weights = rc == 3;
    return rc;
}

/* iterations up to max_batches; the exit code so far (0, 1 or 3) */
static int train_loop(train_run *r)
{
    int rc = 0, bad_weights = 0;
    r->start = cmd_now();
    r->start_batch = get_current_batch(r->net);
    while(rc == 0 && get_current_batch(r->net) < (size_t)r->net->max_batches) rc = train_iteration(r, &bad_weights);
    if(bad_weights) report_bad_weights(r);
    return rc < 0 ? 1 : rc;
}

/* <base>_final.weights and <base>_last.weights (with their states when a batch was trained: weights resumed at
 * max_batches train none, train_check_start), the chart and the closing lines; the exit code */
static int train_finish(train_run *r)
{
    const char *backup = r->ds->backup;
    int rc = train_checkpoint_as(r, "_final.weights");
    if(rc == 0) rc = train_checkpoint_as(r, "_last.weights");
    if(rc == 3) report_bad_weights(r);
    if(rc < 0) rc = 1;
    train_write_chart(r);
    if(rc) return rc;
    fprintf(stderr, "done: %d iterations in %.1f s; weights in %s/%s_final.weights\n",
            (int)get_current_batch(r->net), cmd_now() - r->start, backup, r->base);
    if(r->pr.best_dice >= 0) fprintf(stderr, "best: mean_dice=%.6f at iteration %d: %s/%s_best.weights\n", r->pr.best_dice, r->pr.best_iter, backup, r->base);
    return 0;
}

static void train_free(train_run *r)
{
#ifdef GPU
    if(r->amp){
        fprintf(stderr, "fp16 loss scaling: %ld steps skipped since the run began (resumes included), loss scale %g\n", r->pr.amp.skipped, r->pr.amp.scale);
        amp_params_free(r->amp);
    }
#endif
    train_progress_free(&r->pr);
    chart_free(r->ch);
    loader_free(r->L);
    if(r->net) free_network(r->net);
    dataset_free(r->ds);
}

int seg3d_train(int argc, char **argv)
{
    if(argc < 5){ usage(); return 2; }
    train_run r;
    memset(&r, 0, sizeof(r));
    r.weights_size = -1;
    int rc = train_parse(&r.a, argc, argv);
    if(rc >= 0) return rc;
    if(train_select_gpu(&r.a)) return 2;
    if(train_read_cfg(&r) || train_build(&r) || train_outputs(&r)){ train_free(&r); return 1; }
    r.nseries = r.li >= 0 ? DBISL_NTERMS + 1 : 1;
    train_progress_init(&r.pr, r.nseries, r.a.seed);
    train_resume(&r);
    train_chart(&r);
    rc = train_loop(&r);
    loader_stop(r.L);
    if(rc == 0) rc = train_finish(&r);
    train_free(&r);
    return rc;
}
