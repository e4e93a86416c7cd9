/* CUDA twin of [conv3d]: cuDNN Nd convolution (FP32, TF32, or fp16/bf16 operands with FP32 accumulation), with the descriptor/algorithm set-up and the 16-bit scratch shared by [deconv3d]. */
#include <time.h>
#include "cuda3d.h"
extern "C" {
#include "conv3d_layer.h"
#include "amp.h"
}

#ifdef CUDNN
/* Workspace bound for the algorithm choice: the network shares one workspace of the largest layer's size. */
#define C3_WORKSPACE_LIMIT ((size_t)1 << 30)

/* the data type of the convolution's operands: FP32, or the 16-bit type of precision=fp16|bf16 */
static cudnnDataType_t c3_dtype(void)
{
    if(!amp_half()) return CUDNN_DATA_FLOAT;
    return darknet3d_precision == DARKNET3D_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_HALF;
}

/* 1 when the layer's 16-bit copies are channels-last (NDHWC activations, KDHWC weights; core/amp.h, c3_cudnn_setup) */
static int c3_cl(const layer *l) { return c3_state(*l)->nhwc; }

static int set_tensor(cudnnTensorDescriptor_t t, int cl, int n, int c, int d, int h, int w)
{
    int dims[5] = {n, c, d, h, w};
    int strides[5] = {c * d * h * w, d * h * w, h * w, w, 1};
    if(cl){ strides[1] = 1; strides[2] = h * w * c; strides[3] = w * c; strides[4] = c; }
    return CUDNN3D_TRY(cudnnSetTensorNdDescriptor(t, c3_dtype(), 5, dims, strides));
}

/* The math type an algorithm search starts from: FMA at fp32 (results match the CPU), DEFAULT at tf32 (TF32 tensor
 * cores allowed, as PyTorch's cuDNN convolutions by default), TENSOR_OP at fp16|bf16 (cuDNN uses tensor cores for
 * 16-bit operands only when asked). TF32 rounds the inputs to 10-bit mantissas, so GPU results at tf32 differ from the
 * CPU's beyond the tests' 1e-4. */
static cudnnMathType_t c3_search_math(void)
{
    if(darknet3d_precision == DARKNET3D_FP32) return CUDNN_FMA_MATH;
    return amp_half() ? CUDNN_TENSOR_OP_MATH : CUDNN_DEFAULT_MATH;
}

/* cudnnFind* and cudnnGet*_v7 return entries measured under several math types; each operation runs with the math
 * type of its chosen entry (c3_conv_desc), except at fp32, where tensor-op entries are refused and FMA is kept. */
static int c3_math_ok(cudnnMathType_t m)
{
    return darknet3d_precision != DARKNET3D_FP32 || (m != CUDNN_TENSOR_OP_MATH && m != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION);
}
static int c3_run_math(cudnnMathType_t m) { return darknet3d_precision == DARKNET3D_FP32 ? CUDNN_FMA_MATH : m; }

extern "C" int darknet3d_deterministic;

/* The first entry that succeeded, fits the bound and passes c3_math_ok; with darknet3d_deterministic the first such
 * entry cuDNN reports as deterministic (bit-identical from run to run). Without a deterministic one the fastest
 * passing entry is used, and without any passing entry the default algorithm stays; miss counts both. The layer says
 * so, unless its copies are channels-last: then a miss makes it fall back to NCDHW copies (c3_cudnn_setup). ms gets
 * the chosen entry's time (milliseconds; meaningful for measured rankings only). */
#define PICK(perf, found, out, math, what, miss, ms) do { int i_, got_ = -1; \
    for(i_ = 0; i_ < (found) && got_ < 0; ++i_) if((perf)[i_].status == CUDNN_STATUS_SUCCESS && (perf)[i_].memory <= C3_WORKSPACE_LIMIT && \
        c3_math_ok((perf)[i_].mathType) && (!darknet3d_deterministic || (perf)[i_].determinism == CUDNN_DETERMINISTIC)) got_ = i_; \
    if(got_ < 0 && darknet3d_deterministic){ \
        ++(miss); \
        for(i_ = 0; i_ < (found) && got_ < 0; ++i_) if((perf)[i_].status == CUDNN_STATUS_SUCCESS && (perf)[i_].memory <= C3_WORKSPACE_LIMIT && \
            c3_math_ok((perf)[i_].mathType)) got_ = i_; \
        if(!c3_cl(l)) fprintf(stderr, "note: %s: no deterministic cuDNN %s algorithm fits; results may vary from run to run\n", c3_name(l), what); } \
    if(got_ >= 0){ (out) = (perf)[got_].algo; (math) = c3_run_math((perf)[got_].mathType); (ms) = (perf)[got_].time; } \
    else if(++(miss), !c3_cl(l)) fprintf(stderr, "note: %s: no cuDNN %s algorithm passed the search; the default one (%d) is used\n", c3_name(l), what, (int)(out)); \
    } while(0)

/* The descriptors of the layer's geometry, made once and reset on a resize; -1 (recorded) when cuDNN refuses. */
static int c3_descriptors(layer *l)
{
    conv3d_state *st = c3_state(*l);
    const geom3d *g = &st->g;
    int yc = st->transposed ? l->c : l->out_c;
    if(!l->convDesc){
        if(CUDNN3D_TRY(cudnnCreateTensorDescriptor(&l->srcTensorDesc)) || CUDNN3D_TRY(cudnnCreateTensorDescriptor(&l->dstTensorDesc)) ||
           CUDNN3D_TRY(cudnnCreateFilterDescriptor(&l->weightDesc)) || CUDNN3D_TRY(cudnnCreateConvolutionDescriptor(&l->convDesc)))
            return -1;
    }
    /* x = the "image" (conv3d input / deconv3d output), y = the positions (conv3d output / deconv3d input) */
    if(set_tensor(l->srcTensorDesc, c3_cl(l), l->batch, g->c, g->d, g->h, g->w)) return -1;
    if(set_tensor(l->dstTensorDesc, c3_cl(l), l->batch, yc, g->od, g->oh, g->ow)) return -1;
    int fd[5] = {yc, g->c, g->kd, g->kh, g->kw};
    if(CUDNN3D_TRY(cudnnSetFilterNdDescriptor(l->weightDesc, c3_dtype(), c3_cl(l) ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW, 5, fd))) return -1;
    int pad[3] = {g->pd, g->ph, g->pw}, str[3] = {g->sd, g->sh, g->sw}, dil[3] = {1, 1, 1};
    if(CUDNN3D_TRY(cudnnSetConvolutionNdDescriptor(l->convDesc, 3, pad, str, dil, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT))) return -1;
    /* the accumulation is FP32 at every precision (fp16/bf16: cuDNN's "pseudo-half" configurations) */
    return CUDNN3D_TRY(cudnnSetConvolutionMathType(l->convDesc, c3_search_math()));
}

/* the layer's convolution descriptor set to the math type operation op (C3_FW, C3_BD, C3_BF) was chosen with */
extern "C" cudnnConvolutionDescriptor_t c3_conv_desc(layer l, int op)
{
    CUDNN3D_CHECK(cudnnSetConvolutionMathType(l.convDesc, (cudnnMathType_t)c3_state(l)->math[op]));
    return l.convDesc;
}

/* byte offsets of the 16-bit scratch in net.workspace (c3_half_scratch), and the total */
typedef struct { size_t cudnn, x, y, w, dw, total; } half_parts;
static half_parts c3_half_parts(layer l)
{
    conv3d_state *st = c3_state(l);
    const geom3d *g = &st->g;
    int yc = st->transposed ? l.c : l.out_c;
    size_t nx = (size_t)l.batch * g->c * g->d * g->h * g->w, ny = (size_t)l.batch * yc * g->od * g->oh * g->ow;
    half_parts p;
    p.cudnn = (st->cudnn_ws + 255) / 256 * 256;
    p.x = p.cudnn;
    p.y = p.x + amp_bytes(nx);
    p.w = p.y + amp_bytes(ny);
    p.dw = p.w + amp_bytes(l.nweights);
    p.total = p.dw + amp_bytes(l.nweights);
    return p;
}

/* The algorithms of one convolution, chosen once per process for its key (c3_algo_key): a resize back to a known
 * shape, or another network with the same layer, reuses the choice instead of measuring again. A process-wide
 * table of choices (no device memory); when it is full, choices are measured again (nothing is evicted). */
#define C3_KEYLEN 24
#define C3_CACHE 512
static struct { int key[C3_KEYLEN]; int fw, bd, bf, math[3], missed, thin; } c3_cache[C3_CACHE];
static int c3_cached;

/* the searches made since c3_search_stats last reported them (conv3d_common.h, c3_search_report) */
static c3_search_report c3_report;
extern "C" void c3_search_stats(c3_search_report *r)
{
    *r = c3_report;
    memset(&c3_report, 0, sizeof(c3_report));
}

static const char *c3_name(const layer *l) { return c3_state(*l)->transposed ? "deconv3d" : "conv3d"; }

static void c3_algo_key(const layer *l, int *key)
{
    conv3d_state *st = c3_state(*l);
    const geom3d *g = &st->g;
    int k[C3_KEYLEN] = {l->batch, g->c, g->d, g->h, g->w, st->transposed ? l->c : l->out_c, g->od, g->oh, g->ow,
                        g->kd, g->kh, g->kw, g->pd, g->ph, g->pw, g->sd, g->sh, g->sw, darknet3d_precision, darknet3d_deterministic,
                        /* a [conv3d] and a [deconv3d] of one convolution shape (V-Net's down- and up-sampling) share
                         * cuDNN's choice only in training, and only where no direct kernel is timed: inference searches
                         * one operation, which differs by kind, and the direct kernels' choice is in the layer's terms */
                        layer3d_inference ? 1 + st->transposed : c3_thin_gpu_mode && c3_thin_applies(l) ? 3 + st->transposed : 0,
                        c3_cl(l), c3_thin_gpu_mode, st->first};
    memcpy(key, k, sizeof(k));
}

/* the cuDNN operations (C3_FW, C3_BD, C3_BF) the network runs for l: inference only the forward pass ([conv3d]:
 * forward, [deconv3d]: backward-data), the network's first layer never its input's gradient; the others keep the
 * default algorithms, unsearched and without a workspace */
static void c3_needed(const layer *l, int need[3])
{
    const conv3d_state *st = c3_state(*l);
    int grad_in = !layer3d_inference && !st->first;
    need[C3_FW] = st->transposed ? grad_in : 1;
    need[C3_BD] = st->transposed ? 1 : grad_in;
    need[C3_BF] = !layer3d_inference;
}

/* entries one search may return: cuDNN's own count (one per algorithm and math type), at least the algorithms' */
#define C3_MAX_PERF 64
static int c3_perf_count(cudnnStatus_t st, int n, int least)
{
    if(st != CUDNN_STATUS_SUCCESS || n < least) n = least;
    return n > C3_MAX_PERF ? C3_MAX_PERF : n;
}

/* Device scratch of one measured search: the convolution's two tensors and its weights in the layer's data type, and
 * a workspace as large as the largest entry of cuDNN's heuristic ranking that could be picked needs (at most the
 * bound). cudnnFindConvolution*Algorithm without Ex allocates each algorithm's workspace itself, however large, so the
 * device's peak during a search could exceed what training uses; here it is these four buffers. */
typedef struct { void *x, *y, *w, *ws; size_t ws_bytes, bytes; } c3_trial;

static void c3_trial_free(c3_trial *t)
{
    cudaFree(t->x); cudaFree(t->y); cudaFree(t->w); cudaFree(t->ws);
    (void)cudaGetLastError();
    memset(t, 0, sizeof(*t));
}

/* 0, or -1 with nothing allocated (no device memory for the tensors); a workspace that does not fit is halved until it
 * does, which only leaves the entries that need more unmeasured */
static int c3_trial_alloc(const layer *l, size_t ws_bytes, c3_trial *t)
{
    conv3d_state *st = c3_state(*l);
    const geom3d *g = &st->g;
    size_t e = c3_dtype() == CUDNN_DATA_FLOAT ? sizeof(float) : 2;
    int yc = st->transposed ? l->c : l->out_c;
    size_t nx = (size_t)l->batch * g->c * g->d * g->h * g->w * e, ny = (size_t)l->batch * yc * g->od * g->oh * g->ow * e;
    size_t nw = (size_t)l->nweights * e;
    memset(t, 0, sizeof(*t));
    if(cudaMalloc(&t->x, nx) != cudaSuccess || cudaMalloc(&t->y, ny) != cudaSuccess || cudaMalloc(&t->w, nw) != cudaSuccess ||
       cudaMemset(t->x, 0, nx) != cudaSuccess || cudaMemset(t->y, 0, ny) != cudaSuccess || cudaMemset(t->w, 0, nw) != cudaSuccess){
        c3_trial_free(t);
        return -1;
    }
    while(ws_bytes && cudaMalloc(&t->ws, ws_bytes) != cudaSuccess){ (void)cudaGetLastError(); t->ws = 0; ws_bytes /= 2; }
    t->ws_bytes = t->ws ? ws_bytes : 0;
    t->bytes = nx + ny + nw + t->ws_bytes;
    return 0;
}

/* the largest workspace among the first found entries of a ranking that PICK could choose, at least cur */
#define C3_WS_NEED(perf, found, cur) do { int i_; for(i_ = 0; i_ < (found); ++i_) \
    if((perf)[i_].status == CUDNN_STATUS_SUCCESS && (perf)[i_].memory <= C3_WORKSPACE_LIMIT && c3_math_ok((perf)[i_].mathType) && \
       (perf)[i_].memory > (cur)) (cur) = (perf)[i_].memory; } while(0)

/* keeps found entries of a measured ranking, marking those that need more workspace than the search had (not timed,
 * whatever cuDNN reports for them) as failed, so that PICK passes them over */
#define C3_TAKE_MEASURED(dst, src, found, ws_bytes, nf) do { int i_; for(i_ = 0; i_ < (found); ++i_){ (dst)[i_] = (src)[i_]; \
    if((dst)[i_].memory > (ws_bytes)) (dst)[i_].status = CUDNN_STATUS_ALLOC_FAILED; } (nf) = (found); } while(0)

/* Which passes of a layer of the thin-layer rule run the direct kernels (c3_thin_gpu_mode): each direction where they
 * are faster than cudnn_fw and cudnn_bwd, the measured times of cuDNN's chosen algorithms for the layer's forward pass
 * and for the backward operations the network needs (fwd, bwd_data, bwd_weights: in the layer's terms), or both when
 * there are no such times (negative: deterministic mode, or a search that did not time them all). A measured layer
 * says what it took. */
static void c3_choose_thin(layer *l, int fwd, int bwd_data, int bwd_weights, double cudnn_fw, double cudnn_bwd)
{
    conv3d_state *st = c3_state(*l);
    st->thin = 0;
    if(!c3_thin_gpu_mode || !c3_thin_applies(l)) return;
    double ofw, obwd;
    int bwd = bwd_data || bwd_weights;
    if(c3_thin_gpu_mode == 2 || cudnn_fw < 0 || cudnn_bwd < 0) st->thin = (fwd ? C3_THIN_FW : 0) | (bwd ? C3_THIN_BWD : 0);
    else if(c3_thin_time(l, fwd, bwd_data, bwd_weights, &ofw, &obwd) == 0){
        st->thin = (fwd && ofw < cudnn_fw ? C3_THIN_FW : 0) | (bwd && obwd < cudnn_bwd ? C3_THIN_BWD : 0);
        ++c3_report.thin_measured;
        c3_report.best_ms += (ofw < cudnn_fw ? ofw : cudnn_fw) + (obwd < cudnn_bwd ? obwd : cudnn_bwd);
        c3_report.cudnn_ms += cudnn_fw + cudnn_bwd;
        const geom3d *g = &st->g;
        int im[3] = {g->d, g->h, g->w}, po[3] = {g->od, g->oh, g->ow}, *in = st->transposed ? po : im, *out = st->transposed ? im : po;
        fprintf(stderr, "note: %s %dx%dx%d -> %dx%dx%d, %d -> %d channels, kernel %d: forward %.3f ms direct, %.3f cuDNN; backward %.3f ms "
                "direct, %.3f cuDNN: %s\n", c3_name(l), in[0], in[1], in[2], out[0], out[1], out[2], l->c, l->out_c, g->kd,
                ofw, cudnn_fw, obwd, cudnn_bwd,
                st->thin == (C3_THIN_FW | C3_THIN_BWD) ? "direct kernels" : st->thin == C3_THIN_FW ? "direct forward, cuDNN backward" :
                st->thin == C3_THIN_BWD ? "cuDNN forward, direct backward" : "cuDNN");
    }
    c3_report.thin_fw += !!(st->thin & C3_THIN_FW);
    c3_report.thin_bwd += !!(st->thin & C3_THIN_BWD);
}

/* By measurement: cudnnFind*Ex times every algorithm of cuDNN's ranking on scratch buffers of ours (c3_trial); the
 * fastest that passes PICK wins. In deterministic mode the heuristic ranking of cudnnGet*_v7 is used instead, so that
 * two runs (whose timings differ) choose the same algorithms; it is also what a layer gets when the device has no
 * memory for the scratch or a search fails. Without either, the default algorithm (IMPLICIT_GEMM forward, ALGO_1
 * backward: deterministic, small workspace) stays with the search's math type. Returns how many of the operations
 * the network needs were left at the default that way. */
static int c3_choose_algos(layer *l)
{
    int key[C3_KEYLEN], i, n[3] = {0, 0, 0}, nf[3] = {0, 0, 0}, found = 0, missed = 0, measured[3] = {0, 0, 0};
    float ms[3] = {0, 0, 0};
    conv3d_state *st = c3_state(*l);
    c3_algo_key(l, key);
    for(i = 0; i < c3_cached; ++i) if(!memcmp(c3_cache[i].key, key, sizeof(key))){
        l->fw_algo = (cudnnConvolutionFwdAlgo_t)c3_cache[i].fw;
        l->bd_algo = (cudnnConvolutionBwdDataAlgo_t)c3_cache[i].bd;
        l->bf_algo = (cudnnConvolutionBwdFilterAlgo_t)c3_cache[i].bf;
        memcpy(st->math, c3_cache[i].math, sizeof(st->math));
        st->thin = c3_cache[i].thin;
        return c3_cache[i].missed;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cudnnConvolutionFwdAlgoPerf_t fw[C3_MAX_PERF], fwm[C3_MAX_PERF];
    cudnnConvolutionBwdDataAlgoPerf_t bd[C3_MAX_PERF], bdm[C3_MAX_PERF];
    cudnnConvolutionBwdFilterAlgoPerf_t bf[C3_MAX_PERF], bfm[C3_MAX_PERF];
    l->fw_algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    l->bd_algo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
    l->bf_algo = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;
    st->math[C3_FW] = st->math[C3_BD] = st->math[C3_BF] = c3_search_math();
    cudnnHandle_t h = cudnn_handle();
    int need[3];
    c3_needed(l, need);
    int need_fw = need[C3_FW], need_bd = need[C3_BD], need_bf = need[C3_BF];
    cudnnStatus_t cs = cudnnGetConvolutionForwardAlgorithmMaxCount(h, &n[C3_FW]);
    n[C3_FW] = c3_perf_count(cs, n[C3_FW], CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
    cs = cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &n[C3_BD]);
    n[C3_BD] = c3_perf_count(cs, n[C3_BD], CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
    cs = cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &n[C3_BF]);
    n[C3_BF] = c3_perf_count(cs, n[C3_BF], CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
    if(need_fw && cudnnGetConvolutionForwardAlgorithm_v7(h, l->srcTensorDesc, l->weightDesc, l->convDesc, l->dstTensorDesc,
                                                         n[C3_FW], &nf[C3_FW], fw) != CUDNN_STATUS_SUCCESS) nf[C3_FW] = 0;
    if(need_bd && cudnnGetConvolutionBackwardDataAlgorithm_v7(h, l->weightDesc, l->dstTensorDesc, l->convDesc, l->srcTensorDesc,
                                                              n[C3_BD], &nf[C3_BD], bd) != CUDNN_STATUS_SUCCESS) nf[C3_BD] = 0;
    if(need_bf && cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, l->srcTensorDesc, l->dstTensorDesc, l->convDesc, l->weightDesc,
                                                                n[C3_BF], &nf[C3_BF], bf) != CUDNN_STATUS_SUCCESS) nf[C3_BF] = 0;
    c3_trial t;
    size_t ws = 0;
    C3_WS_NEED(fw, nf[C3_FW], ws);
    C3_WS_NEED(bd, nf[C3_BD], ws);
    C3_WS_NEED(bf, nf[C3_BF], ws);
    if(!darknet3d_deterministic && c3_trial_alloc(l, ws, &t) == 0){
        if(t.bytes > c3_report.scratch_bytes) c3_report.scratch_bytes = t.bytes;
        if(need_fw && cudnnFindConvolutionForwardAlgorithmEx(h, l->srcTensorDesc, t.x, l->weightDesc, t.w, l->convDesc, l->dstTensorDesc, t.y,
                                                             n[C3_FW], &found, fwm, t.ws, t.ws_bytes) == CUDNN_STATUS_SUCCESS && found){
            C3_TAKE_MEASURED(fw, fwm, found, t.ws_bytes, nf[C3_FW]); measured[C3_FW] = 1; }
        if(need_bd && cudnnFindConvolutionBackwardDataAlgorithmEx(h, l->weightDesc, t.w, l->dstTensorDesc, t.y, l->convDesc, l->srcTensorDesc, t.x,
                                                                  n[C3_BD], &found, bdm, t.ws, t.ws_bytes) == CUDNN_STATUS_SUCCESS && found){
            C3_TAKE_MEASURED(bd, bdm, found, t.ws_bytes, nf[C3_BD]); measured[C3_BD] = 1; }
        if(need_bf && cudnnFindConvolutionBackwardFilterAlgorithmEx(h, l->srcTensorDesc, t.x, l->dstTensorDesc, t.y, l->convDesc, l->weightDesc, t.w,
                                                                    n[C3_BF], &found, bfm, t.ws, t.ws_bytes) == CUDNN_STATUS_SUCCESS && found){
            C3_TAKE_MEASURED(bf, bfm, found, t.ws_bytes, nf[C3_BF]); measured[C3_BF] = 1; }
        c3_trial_free(&t);
    } else if(!darknet3d_deterministic) ++c3_report.short_of_memory;
    (void)cudaGetLastError();   /* a failed trial inside cudnnFind*Ex is not the run's error */
    if(need_fw){ if(nf[C3_FW]) PICK(fw, nf[C3_FW], l->fw_algo, st->math[C3_FW], "forward", missed, ms[C3_FW]); else ++missed; }
    if(need_bd){ if(nf[C3_BD]) PICK(bd, nf[C3_BD], l->bd_algo, st->math[C3_BD], "backward-data", missed, ms[C3_BD]); else ++missed; }
    if(need_bf){ if(nf[C3_BF]) PICK(bf, nf[C3_BF], l->bf_algo, st->math[C3_BF], "backward-filter", missed, ms[C3_BF]); else ++missed; }
    /* the layer's passes in cuDNN's operations: [conv3d] forward = FW, input gradient = BD; [deconv3d] the other way */
    int timed = (!need_fw || measured[C3_FW]) && (!need_bd || measured[C3_BD]) && (!need_bf || measured[C3_BF]) && !missed;
    int pf = st->transposed ? C3_BD : C3_FW, pd = st->transposed ? C3_FW : C3_BD, npf = st->transposed ? need_bd : need_fw;
    int npd = st->transposed ? need_fw : need_bd;
    c3_choose_thin(l, npf, npd, need_bf, timed ? (npf ? ms[pf] : 0) : -1, timed ? (double)(npd ? ms[pd] : 0) + (need_bf ? ms[C3_BF] : 0) : -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ++c3_report.searches;
    c3_report.seconds += (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if(c3_cached < C3_CACHE){
        memcpy(c3_cache[c3_cached].key, key, sizeof(key));
        c3_cache[c3_cached].fw = l->fw_algo; c3_cache[c3_cached].bd = l->bd_algo; c3_cache[c3_cached].bf = l->bf_algo;
        memcpy(c3_cache[c3_cached].math, st->math, sizeof(st->math));
        c3_cache[c3_cached].missed = missed;
        c3_cache[c3_cached].thin = st->thin;
        ++c3_cached;
    }
    return missed;
}

/* The descriptors, the algorithms and the workspace they need in the layer's current layout; -1 (recorded) when
 * cuDNN refuses; 1 when a channels-last layer found no algorithm for an operation it needs. */
static int c3_setup_layout(layer *l)
{
    if(c3_descriptors(l)) return -1;
    if(c3_choose_algos(l) && c3_cl(l)) return 1;
    size_t most = 0, s = 0;
    int need[3], inf = layer3d_inference;
    c3_needed(l, need);
    /* a chosen algorithm the descriptors cannot run is an error of the layer's make, not an abort in the first pass */
    if(need[C3_FW] && CUDNN3D_TRY(cudnnGetConvolutionForwardWorkspaceSize(cudnn_handle(), l->srcTensorDesc, l->weightDesc, c3_conv_desc(*l, C3_FW),
                                                           l->dstTensorDesc, l->fw_algo, &s))) return -1;
    if(s > most) most = s;
    s = 0;
    if(need[C3_BD] && CUDNN3D_TRY(cudnnGetConvolutionBackwardDataWorkspaceSize(cudnn_handle(), l->weightDesc, l->dstTensorDesc, c3_conv_desc(*l, C3_BD),
                                                                l->srcTensorDesc, l->bd_algo, &s))) return -1;
    if(s > most) most = s;
    s = 0;
    if(need[C3_BF] && CUDNN3D_TRY(cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnn_handle(), l->srcTensorDesc, l->dstTensorDesc, c3_conv_desc(*l, C3_BF),
                                                                  l->weightDesc, l->bf_algo, &s))) return -1;
    if(s > most) most = s;
    c3_state(*l)->cudnn_ws = most;
    l->workspace_size = amp_half() ? c3_half_parts(*l).total : most;   /* fp16|bf16: the 16-bit copies follow */
    if(c3_state(*l)->thin == (C3_THIN_FW | C3_THIN_BWD) || (inf && c3_state(*l)->thin))
        l->workspace_size = c3_thin_workspace_bytes(l);   /* the direct kernels' block sums only */
    else if(c3_state(*l)->thin && c3_thin_workspace_bytes(l) > l->workspace_size) l->workspace_size = c3_thin_workspace_bytes(l);
    return 0;
}

/* At fp16|bf16 with [net] channels_last=1 the layer's copies are channels-last unless cuDNN has no algorithm for
 * one of its operations in that layout (searched or queried); then this layer alone keeps NCDHW copies and says so. */
extern "C" int c3_cudnn_setup(layer *l)
{
    conv3d_state *st = c3_state(*l);
    int was = st->nhwc_fallback;   /* a resize of a layer that fell back says so once */
    st->nhwc = amp_half() && darknet3d_channels_last;
    st->nhwc_fallback = 0;
    c3_search_report before = c3_report;
    int r = c3_setup_layout(l);
    if(r == 0 || !st->nhwc) return r ? -1 : 0;
    /* the layer's thin-kernel choice is counted once, for the layout it keeps (the searches themselves both count) */
    c3_report.thin_fw = before.thin_fw; c3_report.thin_bwd = before.thin_bwd; c3_report.thin_measured = before.thin_measured;
    c3_report.best_ms = before.best_ms; c3_report.cudnn_ms = before.cudnn_ms;
    char why[600] = "";
    if(r < 0) cuda3d_take_error(why, sizeof(why));
    if(!was) fprintf(stderr, "note: %s %dx%dx%d -> %d channels: no %scuDNN algorithm for channels-last 16-bit copies%s%s; this layer keeps NCDHW copies\n",
                     c3_name(l), st->g.d, st->g.h, st->g.w, st->transposed ? st->g.c : l->out_c, darknet3d_deterministic ? "deterministic " : "",
                     r < 0 ? ": " : "", why);
    st->nhwc = 0;
    st->nhwc_fallback = 1;
    return c3_setup_layout(l) ? -1 : 0;
}

extern "C" half_scratch c3_half_scratch(layer l, network net)
{
    half_parts hp = c3_half_parts(l);
    char *base = (char *)net.workspace;
    half_scratch h;
    h.cudnn_bytes = hp.cudnn;
    h.x = base + hp.x; h.y = base + hp.y; h.w = base + hp.w; h.dw = base + hp.dw;
    return h;
}

/* An operand as blocks of channels x voxels: x the image (batch x g->c channels), y the positions (batch x yc), w the
 * weights (yc blocks of g->c channels x kernel voxels: KCDHW in the FP32 buffers, KDHWC channels-last) */
typedef struct { int blocks, c; size_t sp; } c3_side;
static c3_side c3_x(layer l)
{
    const geom3d *g = &c3_state(l)->g;
    c3_side s = {l.batch, g->c, (size_t)g->d * g->h * g->w};
    return s;
}
static int c3_yc(layer l) { return c3_state(l)->transposed ? l.c : l.out_c; }
static c3_side c3_y(layer l)
{
    const geom3d *g = &c3_state(l)->g;
    c3_side s = {l.batch, c3_yc(l), (size_t)g->od * g->oh * g->ow};
    return s;
}
static c3_side c3_w(layer l)
{
    const geom3d *g = &c3_state(l)->g;
    c3_side s = {c3_yc(l), g->c, (size_t)g->kd * g->kh * g->kw};
    return s;
}

/* FP32 NCDHW -> the 16-bit copy in the layer's copies' layout, and back (dst = beta * dst + src) */
static void c3_to_half(const layer *l, const float *src, void *dst, c3_side s)
{
    if(c3_cl(l)) amp_to_half_t_gpu(src, dst, s.blocks, s.c, s.sp);
    else amp_to_half_gpu(src, dst, (size_t)s.blocks * s.c * s.sp);
}
static void c3_from_half(const layer *l, const void *src, float *dst, c3_side s, float beta)
{
    if(c3_cl(l)) amp_from_half_t_gpu(src, dst, s.blocks, s.sp, s.c, beta);
    else amp_from_half_gpu(src, dst, (size_t)s.blocks * s.c * s.sp, beta);
}

/* precision fp16|bf16, both kinds: the operands converted into the scratch, cuDNN on the 16-bit copies, the result
 * converted back (forward overwrites the output; backward adds into the update and delta buffers, as the FP32
 * path). In the convolution's terms (x the image, y the positions): [conv3d] maps x = input to y = output,
 * [deconv3d] y = input to x = output, with the adjoint operation. */
extern "C" void c3_forward_half_gpu(layer l, network net)
{
    float one = 1, zero = 0;
    int t = c3_state(l)->transposed;
    half_scratch h = c3_half_scratch(l, net);
    void *in = t ? h.y : h.x, *out = t ? h.x : h.y;
    c3_side si = t ? c3_y(l) : c3_x(l), so = t ? c3_x(l) : c3_y(l);
    c3_to_half(&l, net.input_gpu, in, si);
    c3_to_half(&l, l.weights_gpu, h.w, c3_w(l));
    if(!t) CUDNN3D_CHECK(cudnnConvolutionForward(cudnn_handle(), &one, l.srcTensorDesc, in, l.weightDesc, h.w, c3_conv_desc(l, C3_FW),
                                                 l.fw_algo, net.workspace, h.cudnn_bytes, &zero, l.dstTensorDesc, out));
    else CUDNN3D_CHECK(cudnnConvolutionBackwardData(cudnn_handle(), &one, l.weightDesc, h.w, l.dstTensorDesc, in, c3_conv_desc(l, C3_BD),
                                                    l.bd_algo, net.workspace, h.cudnn_bytes, &zero, l.srcTensorDesc, out));
    c3_from_half(&l, out, l.output_gpu, so, 0);
}

extern "C" void c3_backward_half_gpu(layer l, network net)
{
    float one = 1, zero = 0;
    int t = c3_state(l)->transposed;
    half_scratch h = c3_half_scratch(l, net);
    void *in = t ? h.y : h.x, *dout = t ? h.x : h.y;   /* the input's copy, the output gradient's copy */
    c3_side si = t ? c3_y(l) : c3_x(l), so = t ? c3_x(l) : c3_y(l);
    c3_to_half(&l, net.input_gpu, in, si);
    c3_to_half(&l, l.delta_gpu, dout, so);
    c3_to_half(&l, l.weights_gpu, h.w, c3_w(l));
    CUDNN3D_CHECK(cudnnConvolutionBackwardFilter(cudnn_handle(), &one, l.srcTensorDesc, h.x, l.dstTensorDesc, h.y, c3_conv_desc(l, C3_BF),
                                                 l.bf_algo, net.workspace, h.cudnn_bytes, &zero, l.weightDesc, h.dw));
    c3_from_half(&l, h.dw, l.weight_updates_gpu, c3_w(l), 1);
    if(!net.delta_gpu) return;
    /* the input's copy is no longer needed: its gradient goes into its place */
    if(!t) CUDNN3D_CHECK(cudnnConvolutionBackwardData(cudnn_handle(), &one, l.weightDesc, h.w, l.dstTensorDesc, dout, c3_conv_desc(l, C3_BD),
                                                      l.bd_algo, net.workspace, h.cudnn_bytes, &zero, l.srcTensorDesc, in));
    else CUDNN3D_CHECK(cudnnConvolutionForward(cudnn_handle(), &one, l.srcTensorDesc, dout, l.weightDesc, h.w, c3_conv_desc(l, C3_FW),
                                               l.fw_algo, net.workspace, h.cudnn_bytes, &zero, l.dstTensorDesc, in));
    c3_from_half(&l, in, net.delta_gpu, si, 1);
}

extern "C" void forward_conv3d_layer_gpu(layer l, network net)
{
    if(c3_state(l)->thin & C3_THIN_FW){ c3_thin_forward_gpu(l, net); c3_post_forward_gpu(l, net); return; }
    if(amp_half()){ c3_forward_half_gpu(l, net); c3_post_forward_gpu(l, net); return; }
    float one = 1, zero = 0;
    CUDNN3D_CHECK(cudnnConvolutionForward(cudnn_handle(), &one, l.srcTensorDesc, net.input_gpu, l.weightDesc, l.weights_gpu, c3_conv_desc(l, C3_FW),
                                          l.fw_algo, net.workspace, l.workspace_size, &zero, l.dstTensorDesc, l.output_gpu));
    c3_post_forward_gpu(l, net);
}

extern "C" void backward_conv3d_layer_gpu(layer l, network net)
{
    float one = 1;
    c3_post_backward_gpu(l, net);
    if(c3_state(l)->thin & C3_THIN_BWD){ c3_thin_backward_gpu(l, net); return; }
    if(amp_half()){ c3_backward_half_gpu(l, net); return; }
    CUDNN3D_CHECK(cudnnConvolutionBackwardFilter(cudnn_handle(), &one, l.srcTensorDesc, net.input_gpu, l.dstTensorDesc, l.delta_gpu, c3_conv_desc(l, C3_BF),
                                                 l.bf_algo, net.workspace, l.workspace_size, &one, l.weightDesc, l.weight_updates_gpu));
    if(net.delta_gpu)
        CUDNN3D_CHECK(cudnnConvolutionBackwardData(cudnn_handle(), &one, l.weightDesc, l.weights_gpu, l.dstTensorDesc, l.delta_gpu, c3_conv_desc(l, C3_BD),
                                                   l.bd_algo, net.workspace, l.workspace_size, &one, l.srcTensorDesc, net.delta_gpu));
}
#else
/* GPU build without cuDNN: parse refuses GPU runs (c3_check_run), so these are never reached with gpu_index >= 0. */
extern "C" int c3_cudnn_setup(layer *l) { (void)l; return 0; }
extern "C" void forward_conv3d_layer_gpu(layer l, network net) { (void)l; (void)net; fprintf(stderr, "darknet3d: conv3d needs cuDNN on the GPU\n"); }
extern "C" void backward_conv3d_layer_gpu(layer l, network net) { (void)l; (void)net; }
#endif

extern "C" void update_conv3d_layer_gpu(layer l, update_args a) { c3_update_gpu(l, a); }
