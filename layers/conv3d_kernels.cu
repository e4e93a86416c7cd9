/* CUDA twin of [conv3d]: cuDNN Nd convolution (FP32, TF32, or fp16/bf16 operands with FP32 accumulation), with the descriptor/algorithm set-up and the 16-bit scratch shared by [deconv3d]. */
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

static int set_tensor(cudnnTensorDescriptor_t t, int n, int c, int d, int h, int w)
{
    int dims[5] = {n, c, d, h, w};
    int strides[5] = {c * d * h * w, d * h * w, h * w, w, 1};
    return CUDNN3D_TRY(cudnnSetTensorNdDescriptor(t, c3_dtype(), 5, dims, strides));
}

/* TF32 tensor-core convolutions (Ampere and later) when darknet3d_precision says so ([net] precision / -precision).
 * They are several times faster than FP32 FMA but round the inputs to 10-bit mantissas, so GPU results then differ
 * from the CPU's beyond the tests' 1e-4 (PyTorch enables TF32 for cuDNN convolutions by default). */
static int c3_tensor_ops(void) { return darknet3d_precision != DARKNET3D_FP32; }

extern "C" int darknet3d_deterministic;

/* First algorithm that succeeded and fits the bound; at precision fp32 only plain FP32 FMA math (results match the CPU);
 * with darknet3d_deterministic only algorithms cuDNN reports as deterministic (bit-identical from run to run).
 * When no algorithm passes, the fastest one is used and, in deterministic mode, the layer says so. */
#define PICK(perf, found, out, what) do { int i_, got_ = 0; \
    for(i_ = 0; i_ < (found); ++i_) if((perf)[i_].status == CUDNN_STATUS_SUCCESS && (perf)[i_].memory <= C3_WORKSPACE_LIMIT && \
        (c3_tensor_ops() || ((perf)[i_].mathType != CUDNN_TENSOR_OP_MATH && (perf)[i_].mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)) && \
        (!darknet3d_deterministic || (perf)[i_].determinism == CUDNN_DETERMINISTIC)){ (out) = (perf)[i_].algo; got_ = 1; break; } \
    if(!got_){ (out) = (perf)[0].algo; \
        if(darknet3d_deterministic) fprintf(stderr, "note: conv3d: no deterministic cuDNN %s algorithm fits; results may vary from run to run\n", what); } \
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
    if(set_tensor(l->srcTensorDesc, l->batch, g->c, g->d, g->h, g->w)) return -1;
    if(set_tensor(l->dstTensorDesc, l->batch, yc, g->od, g->oh, g->ow)) return -1;
    int fd[5] = {yc, g->c, g->kd, g->kh, g->kw};
    if(CUDNN3D_TRY(cudnnSetFilterNdDescriptor(l->weightDesc, c3_dtype(), CUDNN_TENSOR_NCHW, 5, fd))) return -1;
    int pad[3] = {g->pd, g->ph, g->pw}, str[3] = {g->sd, g->sh, g->sw}, dil[3] = {1, 1, 1};
    if(CUDNN3D_TRY(cudnnSetConvolutionNdDescriptor(l->convDesc, 3, pad, str, dil, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT))) return -1;
    /* the accumulation is FP32 at every precision (fp16/bf16: cuDNN's "pseudo-half" configurations) */
    return CUDNN3D_TRY(cudnnSetConvolutionMathType(l->convDesc, c3_tensor_ops() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
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
#define C3_KEYLEN 20
#define C3_CACHE 512
static struct { int key[C3_KEYLEN]; int fw, bd, bf; } c3_cache[C3_CACHE];
static int c3_cached;

static void c3_algo_key(const layer *l, int *key)
{
    conv3d_state *st = c3_state(*l);
    const geom3d *g = &st->g;
    int k[C3_KEYLEN] = {l->batch, g->c, g->d, g->h, g->w, st->transposed ? l->c : l->out_c, g->od, g->oh, g->ow,
                        g->kd, g->kh, g->kw, g->pd, g->ph, g->pw, g->sd, g->sh, g->sw, darknet3d_precision, darknet3d_deterministic};
    memcpy(key, k, sizeof(k));
}

/* By measurement: cudnnFind* times every algorithm on buffers it allocates itself; the fastest that passes PICK
 * wins. In deterministic mode the heuristic ranking of cudnnGet*_v7 is used instead, so that two runs (whose timings
 * differ) choose the same algorithms. A failed query leaves the default algorithm, which needs no workspace. */
static void c3_choose_algos(layer *l)
{
    int found = 0, key[C3_KEYLEN], i;
    c3_algo_key(l, key);
    for(i = 0; i < c3_cached; ++i) if(!memcmp(c3_cache[i].key, key, sizeof(key))){
        l->fw_algo = (cudnnConvolutionFwdAlgo_t)c3_cache[i].fw;
        l->bd_algo = (cudnnConvolutionBwdDataAlgo_t)c3_cache[i].bd;
        l->bf_algo = (cudnnConvolutionBwdFilterAlgo_t)c3_cache[i].bf;
        return;
    }
    cudnnConvolutionFwdAlgoPerf_t fw[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    cudnnConvolutionBwdDataAlgoPerf_t bd[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    cudnnConvolutionBwdFilterAlgoPerf_t bf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    l->fw_algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    l->bd_algo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
    l->bf_algo = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0;
    cudnnHandle_t h = cudnn_handle();
    int measure = !darknet3d_deterministic;
    if((measure ? cudnnFindConvolutionForwardAlgorithm(h, l->srcTensorDesc, l->weightDesc, l->convDesc, l->dstTensorDesc,
                                                       CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found, fw)
                : cudnnGetConvolutionForwardAlgorithm_v7(h, l->srcTensorDesc, l->weightDesc, l->convDesc, l->dstTensorDesc,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found, fw)) == CUDNN_STATUS_SUCCESS && found)
        PICK(fw, found, l->fw_algo, "forward");
    if((measure ? cudnnFindConvolutionBackwardDataAlgorithm(h, l->weightDesc, l->dstTensorDesc, l->convDesc, l->srcTensorDesc,
                                                            CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &found, bd)
                : cudnnGetConvolutionBackwardDataAlgorithm_v7(h, l->weightDesc, l->dstTensorDesc, l->convDesc, l->srcTensorDesc,
                                                              CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &found, bd)) == CUDNN_STATUS_SUCCESS && found)
        PICK(bd, found, l->bd_algo, "backward-data");
    if((measure ? cudnnFindConvolutionBackwardFilterAlgorithm(h, l->srcTensorDesc, l->dstTensorDesc, l->convDesc, l->weightDesc,
                                                              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &found, bf)
                : cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, l->srcTensorDesc, l->dstTensorDesc, l->convDesc, l->weightDesc,
                                                                CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &found, bf)) == CUDNN_STATUS_SUCCESS && found)
        PICK(bf, found, l->bf_algo, "backward-filter");
    (void)cudaGetLastError();   /* a failed trial inside cudnnFind* (out of memory for one algorithm) is not the run's error */
    if(c3_cached < C3_CACHE){
        memcpy(c3_cache[c3_cached].key, key, sizeof(key));
        c3_cache[c3_cached].fw = l->fw_algo; c3_cache[c3_cached].bd = l->bd_algo; c3_cache[c3_cached].bf = l->bf_algo;
        ++c3_cached;
    }
}

extern "C" int c3_cudnn_setup(layer *l)
{
    if(c3_descriptors(l)) return -1;
    c3_choose_algos(l);
    size_t most = 0, s = 0;
    if(cudnnGetConvolutionForwardWorkspaceSize(cudnn_handle(), l->srcTensorDesc, l->weightDesc, l->convDesc, l->dstTensorDesc, l->fw_algo, &s) == CUDNN_STATUS_SUCCESS && s > most) most = s;
    if(cudnnGetConvolutionBackwardDataWorkspaceSize(cudnn_handle(), l->weightDesc, l->dstTensorDesc, l->convDesc, l->srcTensorDesc, l->bd_algo, &s) == CUDNN_STATUS_SUCCESS && s > most) most = s;
    if(cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnn_handle(), l->srcTensorDesc, l->dstTensorDesc, l->convDesc, l->weightDesc, l->bf_algo, &s) == CUDNN_STATUS_SUCCESS && s > most) most = s;
    c3_state(*l)->cudnn_ws = most;
    l->workspace_size = amp_half() ? c3_half_parts(*l).total : most;   /* fp16|bf16: the 16-bit copies follow */
    return 0;
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
    amp_to_half_gpu(net.input_gpu, in, (size_t)l.batch * l.inputs);
    amp_to_half_gpu(l.weights_gpu, h.w, l.nweights);
    if(!t) CUDNN3D_CHECK(cudnnConvolutionForward(cudnn_handle(), &one, l.srcTensorDesc, in, l.weightDesc, h.w, l.convDesc,
                                                 l.fw_algo, net.workspace, h.cudnn_bytes, &zero, l.dstTensorDesc, out));
    else CUDNN3D_CHECK(cudnnConvolutionBackwardData(cudnn_handle(), &one, l.weightDesc, h.w, l.dstTensorDesc, in, l.convDesc,
                                                    l.bd_algo, net.workspace, h.cudnn_bytes, &zero, l.srcTensorDesc, out));
    amp_from_half_gpu(out, l.output_gpu, (size_t)l.batch * l.outputs, 0);
}

extern "C" void c3_backward_half_gpu(layer l, network net)
{
    float one = 1, zero = 0;
    int t = c3_state(l)->transposed;
    half_scratch h = c3_half_scratch(l, net);
    void *in = t ? h.y : h.x, *dout = t ? h.x : h.y;   /* the input's copy, the output gradient's copy */
    amp_to_half_gpu(net.input_gpu, in, (size_t)l.batch * l.inputs);
    amp_to_half_gpu(l.delta_gpu, dout, (size_t)l.batch * l.outputs);
    amp_to_half_gpu(l.weights_gpu, h.w, l.nweights);
    CUDNN3D_CHECK(cudnnConvolutionBackwardFilter(cudnn_handle(), &one, l.srcTensorDesc, h.x, l.dstTensorDesc, h.y, l.convDesc,
                                                 l.bf_algo, net.workspace, h.cudnn_bytes, &zero, l.weightDesc, h.dw));
    amp_from_half_gpu(h.dw, l.weight_updates_gpu, l.nweights, 1);
    if(!net.delta_gpu) return;
    /* the input's copy is no longer needed: its gradient goes into its place */
    if(!t) CUDNN3D_CHECK(cudnnConvolutionBackwardData(cudnn_handle(), &one, l.weightDesc, h.w, l.dstTensorDesc, dout, l.convDesc,
                                                      l.bd_algo, net.workspace, h.cudnn_bytes, &zero, l.srcTensorDesc, in));
    else CUDNN3D_CHECK(cudnnConvolutionForward(cudnn_handle(), &one, l.srcTensorDesc, dout, l.weightDesc, h.w, l.convDesc,
                                               l.fw_algo, net.workspace, h.cudnn_bytes, &zero, l.dstTensorDesc, in));
    amp_from_half_gpu(in, net.delta_gpu, (size_t)l.batch * l.inputs, 1);
}

extern "C" void forward_conv3d_layer_gpu(layer l, network net)
{
    if(amp_half()){ c3_forward_half_gpu(l, net); c3_post_forward_gpu(l, net); return; }
    float one = 1, zero = 0;
    CUDNN3D_CHECK(cudnnConvolutionForward(cudnn_handle(), &one, l.srcTensorDesc, net.input_gpu, l.weightDesc, l.weights_gpu, l.convDesc,
                                          l.fw_algo, net.workspace, l.workspace_size, &zero, l.dstTensorDesc, l.output_gpu));
    c3_post_forward_gpu(l, net);
}

extern "C" void backward_conv3d_layer_gpu(layer l, network net)
{
    float one = 1;
    c3_post_backward_gpu(l, net);
    if(amp_half()){ c3_backward_half_gpu(l, net); return; }
    CUDNN3D_CHECK(cudnnConvolutionBackwardFilter(cudnn_handle(), &one, l.srcTensorDesc, net.input_gpu, l.dstTensorDesc, l.delta_gpu, l.convDesc,
                                                 l.bf_algo, net.workspace, l.workspace_size, &one, l.weightDesc, l.weight_updates_gpu));
    if(net.delta_gpu)
        CUDNN3D_CHECK(cudnnConvolutionBackwardData(cudnn_handle(), &one, l.weightDesc, l.weights_gpu, l.dstTensorDesc, l.delta_gpu, l.convDesc,
                                                   l.bd_algo, net.workspace, l.workspace_size, &one, l.srcTensorDesc, net.delta_gpu));
}
#else
/* GPU build without cuDNN: parse refuses GPU runs (c3_check_run), so these are never reached with gpu_index >= 0. */
extern "C" int c3_cudnn_setup(layer *l) { (void)l; return 0; }
extern "C" void forward_conv3d_layer_gpu(layer l, network net) { (void)l; (void)net; fprintf(stderr, "darknet3d: conv3d needs cuDNN on the GPU\n"); }
extern "C" void backward_conv3d_layer_gpu(layer l, network net) { (void)l; (void)net; }
#endif

extern "C" void update_conv3d_layer_gpu(layer l, update_args a) { c3_update_gpu(l, a); }
