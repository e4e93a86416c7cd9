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
#include "train_state.h"

#define STATE_MAGIC "DN3DSTAT"
#define STATE_VERSION 1u

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
            if(gpu_index >= 0 && fb[j].gpu) cuda_pull_array(fb[j].gpu, fb[j].cpu, fb[j].n);
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

    char tmp[1200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", state_path);
    FILE *f = fopen(tmp, "wb");
    if(!f){ snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno)); free(w.p); return -1; }
    size_t put_n = fwrite(w.p, 1, w.n, f);
    int ok = put_n == w.n && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    free(w.p);
    if(!ok){ snprintf(err, errlen, "%s: write failed (disk full?); %s is left as it was", tmp, state_path); remove(tmp); return -1; }
    if(rename(tmp, state_path)){ snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, state_path, strerror(errno)); return -1; }
    return 0;
}

int train_state_load(const char *state_path, const char *weights_path, network *net, loader *L,
                     train_progress *p, int *threads_then, char *err, size_t errlen)
{
    FILE *f = fopen(state_path, "rb");
    if(!f){
        if(errno == ENOENT) return 1;
        snprintf(err, errlen, "%s: %s", state_path, strerror(errno));
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long fsz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = fsz > 0 ? malloc(fsz) : NULL;
    if(!data || fread(data, 1, fsz, f) != (size_t)fsz){
        fclose(f); free(data);
        snprintf(err, errlen, "%s: cannot be read", state_path);
        return -1;
    }
    fclose(f);
    int rc = -1;
    rbuf r = { data, (size_t)fsz, 0, 0 };
    uint64_t h_file;
    if(fsz < 8 + 8 || memcmp(data, STATE_MAGIC, 8)){ snprintf(err, errlen, "%s: not a darknet3d state file", state_path); goto done; }
    memcpy(&h_file, data + fsz - 8, 8);
    if(fnv1a(FNV0, data, fsz - 8) != h_file){ snprintf(err, errlen, "%s: damaged (its checksum does not match)", state_path); goto done; }
    r.n = fsz - 8;
    get(&r, 8);
    uint32_t version, rbytes, nseries, npoints, nvalid;
    uint64_t seen, wh, wsize, seed, lbytes, nopt;
    int32_t threads, best_iter;
    float avg_loss;
    double best_dice;
    GET(&r, version);
    if(version != STATE_VERSION){ snprintf(err, errlen, "%s: version %u, this program reads version %u", state_path, version, STATE_VERSION); goto done; }
    GET(&r, seen); GET(&r, wh); GET(&r, wsize); GET(&r, seed); GET(&r, threads);
    GET(&r, avg_loss); GET(&r, best_dice); GET(&r, best_iter);
    GET(&r, rbytes);
    const unsigned char *rs = get(&r, rbytes);
    GET(&r, lbytes);
    const unsigned char *ls = get(&r, lbytes);
    GET(&r, nopt);
    const unsigned char *opt = (!r.bad && nopt <= (r.n - r.at) / sizeof(float)) ? get(&r, nopt * sizeof(float)) : (r.bad = 1, NULL);
    GET(&r, nseries); GET(&r, npoints);
    size_t prec = sizeof(int32_t) + (size_t)nseries * sizeof(float);
    const unsigned char *pts = (!r.bad && nseries < 1024 && npoints <= (r.n - r.at) / prec) ? get(&r, npoints * prec) : (r.bad = 1, NULL);
    GET(&r, nvalid);
    size_t vrec = sizeof(int32_t) + sizeof(double);
    const unsigned char *vals = (!r.bad && nvalid <= (r.n - r.at) / vrec) ? get(&r, nvalid * vrec) : (r.bad = 1, NULL);
    if(r.bad || r.at != r.n){ snprintf(err, errlen, "%s: truncated or malformed", state_path); goto done; }

    uint64_t h, size;
    if(file_hash(weights_path, &h, &size, err, errlen)) goto done;
    if(h != wh || size != wsize){
        snprintf(err, errlen, "%s was written with another %s (a different file now: stopped between the two writes, or copied alone)",
                 state_path, weights_path);
        goto done;
    }
    if(seen != (uint64_t)*net->seen){
        snprintf(err, errlen, "%s: seen %llu, the weights say %llu", state_path, (unsigned long long)seen, (unsigned long long)*net->seen);
        goto done;
    }
    int bad = -1;
    long long want = opt_floats(net, &bad);
    if(want < 0 || (uint64_t)want != nopt){
        snprintf(err, errlen, "%s: momentum for %llu parameters, this network has %lld (another cfg?)", state_path, (unsigned long long)nopt, want);
        goto done;
    }
    {
        uint64_t k;
        for(k = 0; k < nopt; ++k){
            float v;
            memcpy(&v, opt + k * sizeof(float), sizeof(v));
            if(!isfinite(v)){ snprintf(err, errlen, "%s: damaged (a momentum value is not finite)", state_path); goto done; }
        }
    }
    if(rbytes != TRAIN_RAND_BYTES || rand_active < 0 || !rand_ok){
        snprintf(err, errlen, "%s: rand()'s state cannot be restored on this C library", state_path);
        goto done;
    }
    if(nseries != (uint32_t)p->nseries){
        snprintf(err, errlen, "%s: %u chart series, this run has %d (another cfg?)", state_path, nseries, p->nseries);
        goto done;
    }
    train_progress np;
    train_progress_init(&np, p->nseries, seed);
    uint32_t i;
    int oom = 0;
    for(i = 0; i < npoints && !oom; ++i){
        int32_t it;
        memcpy(&it, pts + i * prec, sizeof(it));
        float v[1024];
        memcpy(v, pts + i * prec + sizeof(int32_t), nseries * sizeof(float));
        oom = train_progress_add(&np, it, v);
    }
    for(i = 0; i < nvalid && !oom; ++i){
        int32_t it; double d;
        memcpy(&it, vals + i * vrec, sizeof(it));
        memcpy(&d, vals + i * vrec + sizeof(it), sizeof(d));
        oom = train_progress_add_valid(&np, it, d);
    }
    if(oom){ train_progress_free(&np); snprintf(err, errlen, "%s: out of memory", state_path); goto done; }
    /* the loader checks its part before changing anything; after it nothing can fail */
    char lerr[512];
    if(loader_restore(L, ls, lbytes, lerr, sizeof(lerr))){
        train_progress_free(&np);
        snprintf(err, errlen, "%s: %s", state_path, lerr);
        goto done;
    }
    rand_set(rs);
    size_t at = 0;
    int li, j;
    for(li = 0; li < net->n; ++li){
        fbuf fb[MAX_BUFS];
        int k = layer_opt_buffers(&net->layers[li], fb);
        for(j = 0; j < k; ++j){
            memcpy(fb[j].cpu, opt + at, fb[j].n * sizeof(float));
            at += fb[j].n * sizeof(float);
#ifdef GPU
            if(gpu_index >= 0 && fb[j].gpu) cuda_push_array(fb[j].gpu, fb[j].cpu, fb[j].n);
#endif
        }
    }
    np.avg_loss = avg_loss;
    np.best_dice = best_dice;
    np.best_iter = best_iter;
    train_progress_free(p);
    *p = np;
    *threads_then = threads;
    rc = 0;
done:
    free(data);
    return rc;
}
