/* The `<weights>.state` file of exact resume: momentum buffers, rand() state, loader position and training progress, written atomically and checked against its weights file. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <omp.h>
#include "darknet3d.h"
#include "conv3d_common.h"
#include "layer3d.h"
#include "file_publish.h"
#include "train_state.h"

#define STATE_MAGIC "DN3DSTAT"
#define STATE_VERSION 2u    /* version 1 (no loss scale) is still read */

/* ---- rand() with a saveable state --------------------------------------------------------- */

/* Two buffers: setstate() first saves the running generator's position into the buffer in use, so a
 * saved state is always restored into the other one. */
static char rand_buf[2][TRAIN_RAND_BYTES];
static int rand_active = -1;

static void rand_get(unsigned char *out)
{
    setstate(rand_buf[rand_active]);   /* writes the generator's position into the buffer in use */
    memcpy(out, rand_buf[rand_active], TRAIN_RAND_BYTES);
}

static void rand_set(const unsigned char *in)
{
    int other = 1 - rand_active;
    memcpy(rand_buf[other], in, TRAIN_RAND_BYTES);
    setstate(rand_buf[other]);
    rand_active = other;
}

static int rand_ok = 0;

int train_rand_seed(unsigned seed)
{
    rand_active = 0;
    initstate(seed, rand_buf[0], TRAIN_RAND_BYTES);
    unsigned char s[TRAIN_RAND_BYTES];
    int a[8], i, ok = 1;
    rand_get(s);
    for(i = 0; i < 8; ++i) a[i] = rand();
    rand_set(s);
    for(i = 0; i < 8; ++i) if(rand() != a[i]) ok = 0;
    rand_set(s);
    rand_ok = ok;
    return ok;
}

/* ---- progress ----------------------------------------------------------------------------- */

void train_progress_init(train_progress *p, int nseries, uint64_t seed)
{
    memset(p, 0, sizeof(*p));
    p->nseries = nseries;
    p->seed = seed;
    p->avg_loss = -1;
    p->best_dice = -1;
    amp_scaler_init(&p->amp);
}

int train_progress_add(train_progress *p, int iter, const float *values)
{
    if(p->npoints == p->cap){
        int cap = p->cap ? 2 * p->cap : 256;
        int *it = realloc(p->iter, cap * sizeof(int));
        if(!it) return -1;
        p->iter = it;
        float *v = realloc(p->val, (size_t)cap * p->nseries * sizeof(float));
        if(!v) return -1;
        p->val = v;
        p->cap = cap;
    }
    p->iter[p->npoints] = iter;
    memcpy(p->val + (size_t)p->npoints * p->nseries, values, p->nseries * sizeof(float));
    p->npoints++;
    return 0;
}

int train_progress_add_valid(train_progress *p, int iter, double dice)
{
    if(p->nvalid == p->vcap){
        int cap = p->vcap ? 2 * p->vcap : 64;
        int *it = realloc(p->viter, cap * sizeof(int));
        if(!it) return -1;
        p->viter = it;
        double *v = realloc(p->vdice, cap * sizeof(double));
        if(!v) return -1;
        p->vdice = v;
        p->vcap = cap;
    }
    p->viter[p->nvalid] = iter;
    p->vdice[p->nvalid] = dice;
    p->nvalid++;
    return 0;
}

void train_progress_free(train_progress *p)
{
    free(p->iter); free(p->val); free(p->viter); free(p->vdice);
    p->iter = 0; p->val = 0; p->viter = 0; p->vdice = 0;
    p->npoints = p->cap = p->nvalid = p->vcap = 0;
}

/* ---- momentum buffers --------------------------------------------------------------------- */

typedef struct { float *cpu; float *gpu; size_t n; } fbuf;
#define MAX_BUFS 4

/* The SGD state of layer l (buffers that persist from one update to the next). Returns the count; -1 for
 * a layer type whose state is not known here (a trainable stock layer other than the ones listed). */
static int layer_opt_buffers(const layer *l, fbuf *b)
{
    int k = 0;
#ifdef GPU
#define GPUPTR(x) (x)
#else
#define GPUPTR(x) ((float *)0)
#endif
    if(l->type == CONV3D || l->type == DECONV3D){
        conv3d_state *st = c3_state(*l);
        b[k++] = (fbuf){ l->weight_updates, GPUPTR(l->weight_updates_gpu), (size_t)l->nweights };
        if(l->nbiases) b[k++] = (fbuf){ l->bias_updates, GPUPTR(l->bias_updates_gpu), (size_t)l->nbiases };
        if(l->batch_normalize) b[k++] = (fbuf){ l->scale_updates, GPUPTR(l->scale_updates_gpu), (size_t)l->out_c };
        if(st->pre_bias) b[k++] = (fbuf){ st->pre_b_updates, GPUPTR(st->pre_b_updates_gpu), (size_t)l->out_c };
        return k;
    }
    if(l->type == CONVOLUTIONAL || l->type == DECONVOLUTIONAL || l->type == CONNECTED){
        size_t nw = l->type == CONNECTED ? (size_t)l->inputs * l->outputs : (size_t)l->nweights;
        size_t n = l->type == CONNECTED ? (size_t)l->outputs : (size_t)l->n;
        b[k++] = (fbuf){ l->weight_updates, GPUPTR(l->weight_updates_gpu), nw };
        b[k++] = (fbuf){ l->bias_updates, GPUPTR(l->bias_updates_gpu), n };
        if(l->batch_normalize) b[k++] = (fbuf){ l->scale_updates, GPUPTR(l->scale_updates_gpu), n };
        return k;
    }
    if(l->type == BATCHNORM){
        b[k++] = (fbuf){ l->bias_updates, GPUPTR(l->bias_updates_gpu), (size_t)l->c };
        b[k++] = (fbuf){ l->scale_updates, GPUPTR(l->scale_updates_gpu), (size_t)l->c };
        return k;
    }
#undef GPUPTR
    if(l->weight_updates || l->bias_updates || l->scale_updates) return -1;
    return 0;
}

/* total floats of momentum state; -1 (and the layer in *bad) when a layer's state is not known */
static long long opt_floats(network *net, int *bad)
{
    long long n = 0;
    int i, j;
    for(i = 0; i < net->n; ++i){
        fbuf b[MAX_BUFS];
        int k = layer_opt_buffers(&net->layers[i], b);
        if(k < 0){ *bad = i; return -1; }
        for(j = 0; j < k; ++j) n += (long long)b[j].n;
    }
    return n;
}

#ifdef GPU
amp_params *train_amp_params(network *net, char *err, size_t errlen)
{
    int bad = -1, i, j, count = 0;
    long long total = opt_floats(net, &bad);
    if(total < 0){
        snprintf(err, errlen, "precision fp16: layer %d (%s) has parameters whose updates the loss scaling does not know", bad,
                 get_layer_string(net->layers[bad].type));
        return 0;
    }
    float **arr = malloc((size_t)(net->n + 1) * MAX_BUFS * sizeof(float *));
    size_t *n = malloc((size_t)(net->n + 1) * MAX_BUFS * sizeof(size_t));
    amp_params *p = 0;
    if(!arr || !n) snprintf(err, errlen, "out of memory");
    else{
        for(i = 0; i < net->n; ++i){
            fbuf b[MAX_BUFS];
            int k = layer_opt_buffers(&net->layers[i], b);
            for(j = 0; j < k; ++j){ arr[count] = b[j].gpu; n[count] = b[j].n; ++count; }
        }
        p = amp_params_make(arr, n, count, err, errlen);
    }
    free(arr); free(n);
    return p;
}
#endif

/* ---- serialisation ------------------------------------------------------------------------ */

typedef struct { unsigned char *p; size_t n, cap; int oom; } wbuf;

static void put(wbuf *w, const void *src, size_t n)
{
    if(w->oom) return;
    if(w->n + n > w->cap){
        size_t cap = w->cap ? w->cap : 4096;
        while(cap < w->n + n) cap *= 2;
        unsigned char *q = realloc(w->p, cap);
        if(!q){ w->oom = 1; return; }
        w->p = q; w->cap = cap;
    }
    memcpy(w->p + w->n, src, n);
    w->n += n;
}
#define PUT(w, v) do { __typeof__(v) v_ = (v); put((w), &v_, sizeof(v_)); } while(0)

typedef struct { const unsigned char *p; size_t n, at; int bad; } rbuf;

static const void *get(rbuf *r, size_t n)
{
    if(r->bad || n > r->n - r->at){ r->bad = 1; return NULL; }
    const void *q = r->p + r->at;
    r->at += n;
    return q;
}
#define GET(r, v) do { const void *q_ = get((r), sizeof(v)); if(q_) memcpy(&(v), q_, sizeof(v)); else memset(&(v), 0, sizeof(v)); } while(0)

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    size_t i;
    for(i = 0; i < n; ++i){ h ^= p[i]; h *= 0x100000001b3ull; }
    return h;
}
#define FNV0 0xcbf29ce484222325ull

static int file_hash(const char *path, uint64_t *hash, uint64_t *size, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if(!f){ snprintf(err, errlen, "%s: %s", path, strerror(errno)); return -1; }
    unsigned char buf[1 << 16];
    size_t got;
    uint64_t h = FNV0, n = 0;
    while((got = fread(buf, 1, sizeof(buf), f)) > 0){ h = fnv1a(h, buf, got); n += got; }
    int e = ferror(f);
    fclose(f);
    if(e){ snprintf(err, errlen, "%s: read error", path); return -1; }
    *hash = h; *size = n;
    return 0;
}

/* n bytes to path, whole or not at all (file_publish.h); 0, or -1 with err (path left as it was) */
static int write_atomic(const char *path, const unsigned char *p, size_t n, char *err, size_t errlen)
{
    publishing pub;
    FILE *f = publish_fopen(&pub, path, err, errlen);
    if(!f) return -1;
    fwrite(p, 1, n, f);   /* a short write sets the stream's error flag */
    return publish_fclose(&pub, f, err, errlen);
}

int train_state_save(const char *state_path, const char *weights_path, network *net, const loader_batch *b,
                     const train_progress *p, char *err, size_t errlen)
{
    int bad = -1;
    long long nopt = opt_floats(net, &bad);
    if(nopt < 0){
        snprintf(err, errlen, "%s: layer %d (%s) keeps optimizer state this program does not know how to save", state_path, bad,
                 get_layer_string(net->layers[bad].type));
        return -1;
    }
    if(rand_active < 0 || !rand_ok){ snprintf(err, errlen, "%s: rand()'s state cannot be saved on this C library", state_path); return -1; }
    if(net->adam){ snprintf(err, errlen, "%s: adam=1: the Adam moments are not saved", state_path); return -1; }
    uint64_t wh, wsize;
    if(file_hash(weights_path, &wh, &wsize, err, errlen)) return -1;

    wbuf w = {0};
    put(&w, STATE_MAGIC, 8);
    PUT(&w, (uint32_t)STATE_VERSION);
    PUT(&w, (uint64_t)*net->seen);
    PUT(&w, wh);
    PUT(&w, wsize);
    PUT(&w, p->seed);
    PUT(&w, (int32_t)omp_get_max_threads());
    PUT(&w, p->avg_loss);
    PUT(&w, p->best_dice);
    PUT(&w, (int32_t)p->best_iter);
    PUT(&w, p->amp.scale);
    PUT(&w, (int32_t)p->amp.good_steps);
    PUT(&w, (int64_t)p->amp.skipped);
    unsigned char rs[TRAIN_RAND_BYTES];
    rand_get(rs);
    PUT(&w, (uint32_t)TRAIN_RAND_BYTES);
    put(&w, rs, TRAIN_RAND_BYTES);
    PUT(&w, (uint64_t)b->state_bytes);
    put(&w, b->state, b->state_bytes);
    PUT(&w, (uint64_t)nopt);
    int i, j;
    for(i = 0; i < net->n; ++i){
        fbuf fb[MAX_BUFS];
        int k = layer_opt_buffers(&net->layers[i], fb);
        for(j = 0; j < k; ++j){
#ifdef GPU
            if(gpu_index >= 0 && fb[j].gpu) layer3d_pull(fb[j].gpu, fb[j].cpu, fb[j].n);
#endif
            put(&w, fb[j].cpu, fb[j].n * sizeof(float));
        }
    }
    PUT(&w, (uint32_t)p->nseries);
    PUT(&w, (uint32_t)p->npoints);
    for(i = 0; i < p->npoints; ++i){
        PUT(&w, (int32_t)p->iter[i]);
        put(&w, p->val + (size_t)i * p->nseries, p->nseries * sizeof(float));
    }
    PUT(&w, (uint32_t)p->nvalid);
    for(i = 0; i < p->nvalid; ++i){ PUT(&w, (int32_t)p->viter[i]); PUT(&w, p->vdice[i]); }
    uint64_t h = w.oom ? 0 : fnv1a(FNV0, w.p, w.n);
    PUT(&w, h);
    if(w.oom){ free(w.p); snprintf(err, errlen, "%s: out of memory", state_path); return -1; }
    int rc = write_atomic(state_path, w.p, w.n, err, errlen);
    free(w.p);
    return rc;
}

/* The fields of a state file; the arrays point into its bytes. */
typedef struct {
    uint32_t version, rbytes, nseries, npoints, nvalid;
    uint64_t seen, wh, wsize, seed, lbytes, nopt;
    int32_t threads, best_iter, good_steps;
    int64_t skipped;
    float avg_loss, loss_scale;
    double best_dice;
    const unsigned char *rs, *ls, *opt, *pts, *vals;
    size_t prec, vrec;      /* bytes of one chart point / one validation result */
} state_fields;

/* the whole file; NULL with *missing = 1 when there is none, NULL with err when it cannot be read */
static unsigned char *state_read_file(const char *state_path, long *fsz, int *missing, char *err, size_t errlen)
{
    FILE *f = fopen(state_path, "rb");
    *missing = 0;
    if(!f){
        if(errno == ENOENT) *missing = 1;
        else snprintf(err, errlen, "%s: %s", state_path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    *fsz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = *fsz > 0 ? malloc(*fsz) : NULL;
    if(!data || fread(data, 1, *fsz, f) != (size_t)*fsz){
        fclose(f); free(data);
        snprintf(err, errlen, "%s: cannot be read", state_path);
        return NULL;
    }
    fclose(f);
    return data;
}

/* magic, checksum, version and every field with its bounds; 0, or -1 with err */
static int state_parse(const char *state_path, const unsigned char *data, long fsz, state_fields *s, char *err, size_t errlen)
{
    rbuf r = { data, (size_t)fsz, 0, 0 };
    uint64_t h_file;
    if(fsz < 8 + 8 || memcmp(data, STATE_MAGIC, 8)){ snprintf(err, errlen, "%s: not a darknet3d state file", state_path); return -1; }
    memcpy(&h_file, data + fsz - 8, 8);
    if(fnv1a(FNV0, data, fsz - 8) != h_file){ snprintf(err, errlen, "%s: damaged (its checksum does not match)", state_path); return -1; }
    r.n = fsz - 8;
    get(&r, 8);
    GET(&r, s->version);
    if(s->version != STATE_VERSION && s->version != 1){ snprintf(err, errlen, "%s: version %u, this program reads versions 1 and %u", state_path, s->version, STATE_VERSION); return -1; }
    GET(&r, s->seen); GET(&r, s->wh); GET(&r, s->wsize); GET(&r, s->seed); GET(&r, s->threads);
    GET(&r, s->avg_loss); GET(&r, s->best_dice); GET(&r, s->best_iter);
    s->loss_scale = AMP_INIT_SCALE; s->good_steps = 0; s->skipped = 0;
    if(s->version >= 2){ GET(&r, s->loss_scale); GET(&r, s->good_steps); GET(&r, s->skipped); }
    if(!r.bad && (!(s->loss_scale >= AMP_MIN_SCALE && s->loss_scale <= AMP_MAX_SCALE) || s->good_steps < 0 ||
                  s->good_steps >= AMP_GROWTH_INTERVAL || s->skipped < 0)){
        snprintf(err, errlen, "%s: loss scale %g after %d good steps (%lld skipped) is out of range", state_path,
                 s->loss_scale, (int)s->good_steps, (long long)s->skipped);
        return -1;
    }
    GET(&r, s->rbytes);
    s->rs = get(&r, s->rbytes);
    GET(&r, s->lbytes);
    s->ls = get(&r, s->lbytes);
    GET(&r, s->nopt);
    s->opt = (!r.bad && s->nopt <= (r.n - r.at) / sizeof(float)) ? get(&r, s->nopt * sizeof(float)) : (r.bad = 1, NULL);
    GET(&r, s->nseries); GET(&r, s->npoints);
    s->prec = sizeof(int32_t) + (size_t)s->nseries * sizeof(float);
    s->pts = (!r.bad && s->nseries < 1024 && s->npoints <= (r.n - r.at) / s->prec) ? get(&r, s->npoints * s->prec) : (r.bad = 1, NULL);
    GET(&r, s->nvalid);
    s->vrec = sizeof(int32_t) + sizeof(double);
    s->vals = (!r.bad && s->nvalid <= (r.n - r.at) / s->vrec) ? get(&r, s->nvalid * s->vrec) : (r.bad = 1, NULL);
    if(r.bad || r.at != r.n){ snprintf(err, errlen, "%s: truncated or malformed", state_path); return -1; }
    return 0;
}

/* the state belongs to these weights, this network, this C library's rand() and this run's chart; 0, or -1 with err */
static int state_check(const char *state_path, const char *weights_path, network *net, const train_progress *p,
                       const state_fields *s, char *err, size_t errlen)
{
    uint64_t h, size, k;
    if(file_hash(weights_path, &h, &size, err, errlen)) return -1;
    if(h != s->wh || size != s->wsize){
        snprintf(err, errlen, "%s was written with another %s (a different file now: stopped between the two writes, or copied alone)",
                 state_path, weights_path);
        return -1;
    }
    if(s->seen != (uint64_t)*net->seen){
        snprintf(err, errlen, "%s: seen %llu, the weights say %llu", state_path, (unsigned long long)s->seen, (unsigned long long)*net->seen);
        return -1;
    }
    int bad = -1;
    long long want = opt_floats(net, &bad);
    if(want < 0 || (uint64_t)want != s->nopt){
        snprintf(err, errlen, "%s: momentum for %llu parameters, this network has %lld (another cfg?)", state_path, (unsigned long long)s->nopt, want);
        return -1;
    }
    for(k = 0; k < s->nopt; ++k){
        float v;
        memcpy(&v, s->opt + k * sizeof(float), sizeof(v));
        if(!isfinite(v)){ snprintf(err, errlen, "%s: damaged (a momentum value is not finite)", state_path); return -1; }
    }
    if(s->rbytes != TRAIN_RAND_BYTES || rand_active < 0 || !rand_ok){
        snprintf(err, errlen, "%s: rand()'s state cannot be restored on this C library", state_path);
        return -1;
    }
    if(s->nseries != (uint32_t)p->nseries){
        snprintf(err, errlen, "%s: %u chart series, this run has %d (another cfg?)", state_path, s->nseries, p->nseries);
        return -1;
    }
    return 0;
}

/* the saved progress (chart history, running loss, best Dice) into np (initialised here); 0, or -1 out of memory */
static int state_progress(const state_fields *s, int nseries, train_progress *np)
{
    uint32_t i;
    int oom = 0;
    train_progress_init(np, nseries, s->seed);
    for(i = 0; i < s->npoints && !oom; ++i){
        int32_t it;
        memcpy(&it, s->pts + i * s->prec, sizeof(it));
        float v[1024];
        memcpy(v, s->pts + i * s->prec + sizeof(int32_t), s->nseries * sizeof(float));
        oom = train_progress_add(np, it, v);
    }
    for(i = 0; i < s->nvalid && !oom; ++i){
        int32_t it; double d;
        memcpy(&it, s->vals + i * s->vrec, sizeof(it));
        memcpy(&d, s->vals + i * s->vrec + sizeof(it), sizeof(d));
        oom = train_progress_add_valid(np, it, d);
    }
    if(oom){ train_progress_free(np); return -1; }
    np->avg_loss = s->avg_loss;
    np->best_dice = s->best_dice;
    np->best_iter = s->best_iter;
    np->amp.scale = s->loss_scale;
    np->amp.good_steps = s->good_steps;
    np->amp.skipped = (long)s->skipped;
    return 0;
}

/* the momentum buffers of every trainable layer from opt (pushed to the GPU when in use) */
static void state_restore_momentum(network *net, const unsigned char *opt)
{
    size_t at = 0;
    int li, j;
    for(li = 0; li < net->n; ++li){
        fbuf fb[MAX_BUFS];
        int k = layer_opt_buffers(&net->layers[li], fb);
        for(j = 0; j < k; ++j){
            memcpy(fb[j].cpu, opt + at, fb[j].n * sizeof(float));
            at += fb[j].n * sizeof(float);
#ifdef GPU
            if(gpu_index >= 0 && fb[j].gpu) layer3d_push(fb[j].gpu, fb[j].cpu, fb[j].n);
#endif
        }
    }
}

int train_state_load(const char *state_path, const char *weights_path, network *net, loader *L,
                     train_progress *p, int *threads_then, char *err, size_t errlen)
{
    long fsz = 0;
    int missing;
    unsigned char *data = state_read_file(state_path, &fsz, &missing, err, errlen);
    if(!data) return missing ? 1 : -1;
    state_fields s;
    train_progress np;
    int rc = -1;
    if(state_parse(state_path, data, fsz, &s, err, errlen) || state_check(state_path, weights_path, net, p, &s, err, errlen)) goto done;
    if(state_progress(&s, p->nseries, &np)){ snprintf(err, errlen, "%s: out of memory", state_path); goto done; }
    /* the loader checks its part before changing anything; after it nothing can fail */
    char lerr[512];
    if(loader_restore(L, s.ls, s.lbytes, lerr, sizeof(lerr))){
        train_progress_free(&np);
        snprintf(err, errlen, "%s: %s", state_path, lerr);
        goto done;
    }
    rand_set(s.rs);
    state_restore_momentum(net, s.opt);
    train_progress_free(p);
    *p = np;
    *threads_then = s.threads;
    rc = 0;
done:
    free(data);
    return rc;
}
