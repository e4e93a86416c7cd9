/* Batch loader: two independently shuffled case streams, random crops with zero padding, flip/rot90 augmentation, and a prefetch thread. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "loader.h"
#ifdef GPU
#include "cuda3d.h"
#endif

/* splitmix64: a small, well-mixed generator with its own state (rand() is shared and unseeded per loader) */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* uniform in [0, n) for n >= 1 (Lemire's multiply; bias < 2^-32, irrelevant here) */
static int rng_int(uint64_t *s, int n) { return (int)(((rng_next(s) >> 32) * (uint64_t)n) >> 32); }

typedef struct {
    int n;
    int *perm;
    int pos;
    int epoch;
} stream;

struct loader {
    dataset *ds;
    loader_params p;
    int lpb, rows;
    uint64_t rng;
    stream st[2];
    loader_batch buf[2];
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, primed, failed, stop, want, ready, filling, fill_rc;
    char fill_err[1024];
};

static void shuffle(int *a, int n, uint64_t *rng)
{
    int i;
    for(i = n - 1; i > 0; --i){
        int j = rng_int(rng, i + 1);
        int t = a[i]; a[i] = a[j]; a[j] = t;
    }
}

/* next case of a stream; a new epoch (fresh shuffle) starts when every case has been drawn once */
static int stream_next(stream *s, uint64_t *rng)
{
    if(s->pos == s->n){
        shuffle(s->perm, s->n, rng);
        s->pos = 0;
        s->epoch++;
    }
    return s->perm[s->pos++];
}

loader_params loader_params_from_net(const network *net)
{
    loader_params p;
    memset(&p, 0, sizeof(p));
    p.batch = net->batch;
    p.subdivisions = net->subdivisions > 0 ? net->subdivisions : 1;
    p.labeled_per_batch = 0;
    p.d = net->d > 0 ? net->d : 1;
    p.h = net->h;
    p.w = net->w;
    p.flip = LOADER_FLIP_W | LOADER_FLIP_H;
    p.rot90 = net->h == net->w;
    p.seed = 0;
    return p;
}

loader *loader_create(dataset *ds, const loader_params *p, char *err, size_t errlen)
{
    const char *dp = ds && ds->data_path ? ds->data_path : "(data set)";
    if(!ds || !p){ snprintf(err, errlen, "loader: no data set or parameters"); return NULL; }
    if(p->batch < 1 || p->subdivisions < 1 || p->d < 1 || p->h < 1 || p->w < 1){
        snprintf(err, errlen, "%s: loader needs batch, subdivisions and crop d/h/w >= 1 (got batch=%d subdivisions=%d crop %dx%dx%d)",
                 dp, p->batch, p->subdivisions, p->d, p->h, p->w);
        return NULL;
    }
    if((double)p->d * p->h * p->w + 1 > 1 << 30){ snprintf(err, errlen, "%s: crop %dx%dx%d too large", dp, p->d, p->h, p->w); return NULL; }
    if(p->rot90 && p->h != p->w){
        snprintf(err, errlen, "%s: rot90 augmentation needs square crops in the i-j plane (height %d != width %d)", dp, p->h, p->w);
        return NULL;
    }
    if(p->flip & ~(LOADER_FLIP_W | LOADER_FLIP_H | LOADER_FLIP_D)){ snprintf(err, errlen, "%s: bad flip mask %d", dp, p->flip); return NULL; }
    if(ds->split[SPLIT_LABELED].n < 1){ snprintf(err, errlen, "%s: no labeled cases", dp); return NULL; }
    int has_unl = ds->split[SPLIT_UNLABELED].n > 0;
    int asked = p->labeled_per_batch > 0 ? p->labeled_per_batch : ds->labeled_per_batch;   /* 0: not given */
    if(asked > p->batch){
        snprintf(err, errlen, "%s: labeled_per_batch %d is larger than the batch %d", dp, asked, p->batch); return NULL;
    }
    int lpb = !has_unl ? p->batch : asked > 0 ? asked : (p->batch + 1) / 2;
    if(has_unl && lpb == p->batch)
        fprintf(stderr, "note: %s: %d labeled crops fill the batch of %d: the unlabeled list is not used\n", dp, lpb, p->batch);
    loader *L = calloc(1, sizeof(*L));
    if(!L){ snprintf(err, errlen, "%s: out of memory", dp); return NULL; }
    L->ds = ds;
    L->p = *p;
    L->lpb = lpb;
    L->rows = p->batch * p->subdivisions;
    L->rng = p->seed ^ 0x6A09E667F3BCC909ull;
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->cv, NULL);
    int s, i;
    for(s = 0; s < 2; ++s){
        stream *st = &L->st[s];
        st->n = ds->split[s].n;
        st->perm = malloc((st->n > 0 ? st->n : 1) * sizeof(int));
        if(!st->perm){ snprintf(err, errlen, "%s: out of memory", dp); loader_free(L); return NULL; }
        for(i = 0; i < st->n; ++i) st->perm[i] = i;
        st->pos = st->n;     /* the first draw shuffles */
        st->epoch = -1;      /* ... and counts as the start of epoch 0 */
    }
    return L;
}

static void block_matrix_free_block(float *block, int pinned)
{
#ifdef GPU
    if(pinned){ cuda3d_host_free(block); return; }
#endif
    (void)pinned;
    free(block);
}

/* m = rows x cols zeros in one block, rows in order; page-locked on a GPU run when the device gives it (*pinned = 1).
 * 0, or -1 with m->vals NULL. */
static int block_matrix(matrix *m, int rows, int cols, int *pinned)
{
    size_t n = (size_t)rows * cols;
    float *block = NULL;
    *pinned = 0;
    memset(m, 0, sizeof(*m));
#ifdef GPU
    if(gpu_index >= 0 && (block = cuda3d_host_alloc(n * sizeof(float)))) *pinned = 1;
#endif
    if(!block) block = calloc(n ? n : 1, sizeof(float));
    float **vals = calloc(rows > 0 ? rows : 1, sizeof(float *));
    if(!block || !vals){ free(vals); block_matrix_free_block(block, *pinned); return -1; }
    int r;
    for(r = 0; r < rows; ++r) vals[r] = block + (size_t)r * cols;
    m->rows = rows; m->cols = cols; m->vals = vals;
    return 0;
}

static void block_matrix_free(matrix *m, int pinned)
{
    if(m->vals) block_matrix_free_block(m->vals[0], pinned);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

int loader_batch_bind(const loader_batch *b, int offset, network *net)
{
    if(!b->d.X.vals || offset < 0 || offset + net->batch > b->rows || b->d.X.cols != net->inputs ||
       (net->truth && b->d.y.cols != net->truths)) return 0;
    net->input = b->d.X.vals[offset];
    if(net->truth) net->truth = b->d.y.vals[offset];
    return 1;
}

loader_batch loader_alloc_batch(const loader *L)
{
    loader_batch b;
    memset(&b, 0, sizeof(b));
    int vox = L->p.d * L->p.h * L->p.w, px = 0, py = 0;
    b.rows = L->rows;
    b.d.shallow = 0;
    if(block_matrix(&b.d.X, L->rows, vox, &px) || block_matrix(&b.d.y, L->rows, vox + 1, &py)){
        block_matrix_free(&b.d.X, px);
        return b;
    }
    b.pinned = px | py << 1;
    b.d.w = L->p.w;
    b.d.h = L->p.h;
    b.info = calloc(L->rows, sizeof(*b.info));
    b.state_bytes = loader_state_bytes(L);
    b.state = calloc(1, b.state_bytes);
    if(!b.state){ free(b.info); b.info = NULL; }
    return b;
}

void loader_free_batch(loader_batch *b)
{
    block_matrix_free(&b->d.X, b->pinned & 1);
    block_matrix_free(&b->d.y, b->pinned >> 1 & 1);
    free(b->info);
    free(b->state);
    memset(b, 0, sizeof(*b));
}

/* state layout: uint64 rng, then per stream: int32 n, pos, epoch, perm[n] */
size_t loader_state_bytes(const loader *L)
{
    return sizeof(uint64_t) + (size_t)(3 + L->st[0].n + 3 + L->st[1].n) * sizeof(int32_t);
}

static void state_write(const loader *L, unsigned char *buf)
{
    unsigned char *p = buf;
    memcpy(p, &L->rng, sizeof(uint64_t)); p += sizeof(uint64_t);
    int s, i;
    for(s = 0; s < 2; ++s){
        const stream *st = &L->st[s];
        int32_t v[3] = { st->n, st->pos, st->epoch };
        memcpy(p, v, sizeof(v)); p += sizeof(v);
        for(i = 0; i < st->n; ++i){ int32_t x = st->perm[i]; memcpy(p, &x, sizeof(x)); p += sizeof(x); }
    }
}

int loader_restore(loader *L, const unsigned char *state, size_t bytes, char *err, size_t errlen)
{
    const char *dp = L->ds->data_path ? L->ds->data_path : "(data set)";
    if(L->started || L->primed){ snprintf(err, errlen, "%s: loader_restore after loading started", dp); return -1; }
    if(bytes != loader_state_bytes(L)){
        snprintf(err, errlen, "%s: the saved loader position is %zu bytes, this data set needs %zu (the lists changed?)", dp, bytes, loader_state_bytes(L));
        return -1;
    }
    const unsigned char *p = state + sizeof(uint64_t);
    int s, i;
    for(s = 0; s < 2; ++s){   /* check everything before changing anything */
        int32_t v[3];
        memcpy(v, p, sizeof(v)); p += sizeof(v);
        if(v[0] != L->st[s].n || v[1] < 0 || v[1] > v[0] || v[2] < -1 || v[2] > (1 << 30)){
            snprintf(err, errlen, "%s: the saved loader position does not fit the %s list (%d cases now)", dp, dataset_split_names[s], L->st[s].n);
            return -1;
        }
        for(i = 0; i < v[0]; ++i){
            int32_t x; memcpy(&x, p, sizeof(x)); p += sizeof(x);
            if(x < 0 || x >= v[0]){ snprintf(err, errlen, "%s: the saved loader position has a bad case index", dp); return -1; }
        }
    }
    p = state;
    memcpy(&L->rng, p, sizeof(uint64_t)); p += sizeof(uint64_t);
    for(s = 0; s < 2; ++s){
        int32_t v[3];
        memcpy(v, p, sizeof(v)); p += sizeof(v);
        L->st[s].pos = v[1]; L->st[s].epoch = v[2];
        for(i = 0; i < v[0]; ++i){ int32_t x; memcpy(&x, p, sizeof(x)); p += sizeof(x); L->st[s].perm[i] = x; }
    }
    return 0;
}

int loader_epoch(const loader *L, int split) { return (split == 0 || split == 1) ? (L->st[split].epoch < 0 ? 0 : L->st[split].epoch) : -1; }
int loader_labeled_per_batch(const loader *L) { return L->lpb; }

static int pick_origin(uint64_t *rng, int n, int crop)
{
    if(n >= crop) return rng_int(rng, n - crop + 1);
    return -rng_int(rng, crop - n + 1);   /* in [n - crop, 0] */
}

void loader_extract(const float *img, const uint8_t *lab, int nx, int ny, int nz,
                    int W, int H, int D, const loader_sample_info *s, float *x, float *y)
{
    int k = s->rot & 3;
    int fw = s->flip & LOADER_FLIP_W, fh = s->flip & LOADER_FLIP_H, fd = s->flip & LOADER_FLIP_D;
    int oz, oy;
    for(oz = 0; oz < D; ++oz){
        int z = fd ? D - 1 - oz : oz;
        int vz = s->oz + z;
        for(oy = 0; oy < H; ++oy){
            int y1 = fh ? H - 1 - oy : oy;
            /* crop coordinates of output x = 0 and their step per output x, after undoing flip then rotation */
            int x0 = fw ? W - 1 : 0, dx = fw ? -1 : 1;   /* x1 = x0 + dx * ox */
            int sx0, sdx, sy0, sdy;                      /* source (cx, cy) = (sx0 + sdx*ox, sy0 + sdy*ox) */
            switch(k){
                case 0:  sx0 = x0;         sdx = dx;  sy0 = y1;         sdy = 0;   break;  /* (x1, y1) */
                case 1:  sx0 = y1;         sdx = 0;   sy0 = W - 1 - x0; sdy = -dx; break;  /* (y1, W-1-x1) */
                case 2:  sx0 = W - 1 - x0; sdx = -dx; sy0 = W - 1 - y1; sdy = 0;   break;  /* (W-1-x1, W-1-y1) */
                default: sx0 = W - 1 - y1; sdx = 0;   sy0 = x0;         sdy = dx;  break;  /* (W-1-y1, x1) */
            }
            size_t orow = (size_t)W * (oy + (size_t)H * oz);
            float *xr = x + orow;
            float *yr = y ? y + orow : NULL;
            int vx = s->ox + sx0, vy = s->oy + sy0, ox;
            int zin = vz >= 0 && vz < nz;
            for(ox = 0; ox < W; ++ox, vx += sdx, vy += sdy){
                if(zin && vx >= 0 && vx < nx && vy >= 0 && vy < ny){
                    size_t si = (size_t)vx + (size_t)nx * (vy + (size_t)ny * vz);
                    xr[ox] = img[si];
                    if(yr) yr[ox] = lab ? (float)lab[si] : 0.f;
                } else {
                    xr[ox] = 0.f;
                    if(yr) yr[ox] = 0.f;
                }
            }
        }
    }
}

int loader_fill(loader *L, loader_batch *b, char *err, size_t errlen)
{
    int W = L->p.w, H = L->p.h, D = L->p.d, vox = W * H * D;
    int r;
    for(r = 0; r < L->rows; ++r){
        int in_sub = r % L->p.batch;
        int split = in_sub < L->lpb ? SPLIT_LABELED : SPLIT_UNLABELED;
        /* all random draws of a row happen before any file is read, so the sequence never depends on I/O */
        loader_sample_info *s = &b->info[r];
        s->split = split;
        s->index = stream_next(&L->st[split], &L->rng);
        dataset_case *c = &L->ds->split[split].cases[s->index];
        int u1 = rng_int(&L->rng, 1 << 30), u2 = rng_int(&L->rng, 1 << 30), u3 = rng_int(&L->rng, 1 << 30);
        int fl = 0;
        if((L->p.flip & LOADER_FLIP_W) && rng_int(&L->rng, 2)) fl |= LOADER_FLIP_W;
        if((L->p.flip & LOADER_FLIP_H) && rng_int(&L->rng, 2)) fl |= LOADER_FLIP_H;
        if((L->p.flip & LOADER_FLIP_D) && rng_int(&L->rng, 2)) fl |= LOADER_FLIP_D;
        s->flip = fl;
        s->rot = L->p.rot90 ? rng_int(&L->rng, 4) : 0;
        if(dataset_case_load(L->ds, c, split == SPLIT_LABELED, err, errlen)){
            size_t n = strlen(err);   /* the case and its list, as the valid-list check names them */
            const char *list = L->ds->split[split].list_path;
            if(n < errlen) snprintf(err + n, errlen - n, " (case %s of the %s list%s%s)", c->name, dataset_split_names[split],
                                    list ? " " : "", list ? list : "");
            return -1;
        }
        /* the crop origin needs the volume size: derive it from the draws made above */
        uint64_t t;
        t = (uint64_t)u1; s->ox = pick_origin(&t, c->nx, W);
        t = (uint64_t)u2; s->oy = pick_origin(&t, c->ny, H);
        t = (uint64_t)u3; s->oz = pick_origin(&t, c->nz, D);
        float *x = b->d.X.vals[r], *y = b->d.y.vals[r];
        loader_extract(c->image, split == SPLIT_LABELED ? c->label : NULL, c->nx, c->ny, c->nz, W, H, D, s, x, y);
        y[vox] = split == SPLIT_LABELED ? 1.f : 0.f;
    }
    if(b->state) state_write(L, b->state);
    return 0;
}

/* The worker always finishes a requested batch before honouring stop, so stopping never drops or
 * skips a batch: the sequence is the same whether or not the loader was stopped in between. */
static void *loader_thread(void *arg)
{
    loader *L = arg;
    pthread_mutex_lock(&L->mu);
    for(;;){
        while(!L->stop && !L->want) pthread_cond_wait(&L->cv, &L->mu);
        if(L->want){
            L->want = 0;
            int slot = L->filling;
            pthread_mutex_unlock(&L->mu);
            char e[1024];
            int rc = loader_fill(L, &L->buf[slot], e, sizeof(e));
            pthread_mutex_lock(&L->mu);
            L->fill_rc = rc;
            if(rc) snprintf(L->fill_err, sizeof(L->fill_err), "%s", e);
            L->ready = 1;
            pthread_cond_broadcast(&L->cv);
            continue;
        }
        break;   /* stop, nothing requested */
    }
    pthread_mutex_unlock(&L->mu);
    return NULL;
}

static int loader_start(loader *L, char *err, size_t errlen)
{
    int i;
    for(i = 0; i < 2; ++i) if(!L->buf[i].d.X.vals){
        L->buf[i] = loader_alloc_batch(L);
        if(!L->buf[i].info){ snprintf(err, errlen, "%s: out of memory for batches", L->ds->data_path); return -1; }
    }
    if(!L->primed){   /* first start: request batch 1; a restart finds the batch finished before the stop */
        L->filling = 0; L->want = 1; L->ready = 0; L->fill_rc = 0;
        L->primed = 1;
    }
    L->stop = 0;
    if(pthread_create(&L->th, NULL, loader_thread, L)){
        snprintf(err, errlen, "%s: cannot start the loader thread", L->ds->data_path); return -1;
    }
    L->started = 1;
    return 0;
}

int loader_next(loader *L, loader_batch **out, char *err, size_t errlen)
{
    if(L->failed){ snprintf(err, errlen, "%s", L->fill_err); return -1; }
    if(!L->started && loader_start(L, err, errlen)) return -1;
    pthread_mutex_lock(&L->mu);
    while(!L->ready) pthread_cond_wait(&L->cv, &L->mu);
    L->ready = 0;
    int got = L->filling;
    if(L->fill_rc){
        L->failed = 1;   /* the sequence cannot go on past a case that cannot be read */
        snprintf(err, errlen, "%s", L->fill_err);
        pthread_mutex_unlock(&L->mu);
        loader_stop(L);
        return -1;
    }
    /* the caller is done with the other buffer (it asked for the next batch): fill it now */
    L->filling = 1 - got;
    L->want = 1;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
    *out = &L->buf[got];
    return 0;
}

void loader_stop(loader *L)
{
    if(!L || !L->started) return;
    pthread_mutex_lock(&L->mu);
    L->stop = 1;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
    pthread_join(L->th, NULL);
    L->started = 0;
}

void loader_free(loader *L)
{
    if(!L) return;
    loader_stop(L);
    int i;
    for(i = 0; i < 2; ++i){ free(L->st[i].perm); loader_free_batch(&L->buf[i]); }
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->cv);
    free(L);
}
