/* CUDA twin of [deconv3d]: the transposed convolution as cuDNN backward-data (forward) and forward (backward-data), at the precision of [conv3d]'s twin. */
#include "cuda3d.h"
extern "C" {
#include "deconv3d_layer.h"
#include "amp.h"
}

#ifdef CUDNN
/* Descriptors (c3_cudnn_setup): x = this layer's OUTPUT (the image of the adjoint convolution), y = its input.
 * precision fp16|bf16: as [conv3d], on the 16-bit copies of c3_half_scratch. */
static void forward_half(layer l, network net)
{
    float one = 1, zero = 0;
    half_scratch h = c3_half_scratch(l, net);
    size_t nx = (size_t)l.batch * l.outputs, ny = (size_t)l.batch * l.inputs;
    amp_to_half_gpu(net.input_gpu, h.y, ny);
    amp_to_half_gpu(l.weights_gpu, h.w, l.nweights);
    CUDNN3D_CHECK(cudnnConvolutionBackwardData(cudnn_handle(), &one, l.weightDesc, h.w, l.dstTensorDesc, h.y, l.convDesc,
                                               l.bd_algo, net.workspace, h.cudnn_bytes, &zero, l.srcTensorDesc, h.x));
    amp_from_half_gpu(h.x, l.output_gpu, nx, 0);
}

static void backward_half(layer l, network net)
{
    float one = 1, zero = 0;
    half_scratch h = c3_half_scratch(l, net);
    size_t nx = (size_t)l.batch * l.outputs, ny = (size_t)l.batch * l.inputs;
    amp_to_half_gpu(l.delta_gpu, h.x, nx);
    amp_to_half_gpu(net.input_gpu, h.y, ny);
    amp_to_half_gpu(l.weights_gpu, h.w, l.nweights);
    CUDNN3D_CHECK(cudnnConvolutionBackwardFilter(cudnn_handle(), &one, l.srcTensorDesc, h.x, l.dstTensorDesc, h.y, l.convDesc,
                                                 l.bf_algo, net.workspace, h.cudnn_bytes, &zero, l.weightDesc, h.dw));
    amp_from_half_gpu(h.dw, l.weight_updates_gpu, l.nweights, 1);
    if(!net.delta_gpu) return;
    /* the input's copy is no longer needed: the data gradient goes into its place */
    CUDNN3D_CHECK(cudnnConvolutionForward(cudnn_handle(), &one, l.srcTensorDesc, h.x, l.weightDesc, h.w, l.convDesc,
                                          l.fw_algo, net.workspace, h.cudnn_bytes, &zero, l.dstTensorDesc, h.y));
    amp_from_half_gpu(h.y, net.delta_gpu, ny, 1);
}

extern "C" void forward_deconv3d_layer_gpu(layer l, network net)
{
    if(amp_half()){ forward_half(l, net); c3_post_forward_gpu(l, net); return; }
    float one = 1, zero = 0;
    CUDNN3D_CHECK(cudnnConvolutionBackwardData(cudnn_handle(), &one, l.weightDesc, l.weights_gpu, l.dstTensorDesc, net.input_gpu, l.convDesc,
                                               l.bd_algo, net.workspace, l.workspace_size, &zero, l.srcTensorDesc, l.output_gpu));
    c3_post_forward_gpu(l, net);
}

extern "C" void backward_deconv3d_layer_gpu(layer l, network net)
{
    float one = 1;
    c3_post_backward_gpu(l, net);
    if(amp_half()){ backward_half(l, net); return; }
    CUDNN3D_CHECK(cudnnConvolutionBackwardFilter(cudnn_handle(), &one, l.srcTensorDesc, l.delta_gpu, l.dstTensorDesc, net.input_gpu, l.convDesc,
                                                 l.bf_algo, net.workspace, l.workspace_size, &one, l.weightDesc, l.weight_updates_gpu));
    if(net.delta_gpu)
        CUDNN3D_CHECK(cudnnConvolutionForward(cudnn_handle(), &one, l.srcTensorDesc, l.delta_gpu, l.weightDesc, l.weights_gpu, l.convDesc,
                                              l.fw_algo, net.workspace, l.workspace_size, &one, l.dstTensorDesc, net.delta_gpu));
}
#else
extern "C" void forward_deconv3d_layer_gpu(layer l, network net) { (void)l; (void)net; fprintf(stderr, "darknet3d: deconv3d needs cuDNN on the GPU\n"); }
extern "C" void backward_deconv3d_layer_gpu(layer l, network net) { (void)l; (void)net; }
#endif

extern "C" void update_deconv3d_layer_gpu(layer l, update_args a) { c3_update_gpu(l, a); }
