/* CUDA twin of [deconv3d]: the transposed convolution as cuDNN backward-data (forward) and forward (backward-data), at the precision of [conv3d]'s twin, or as the direct kernels for thin layers where they measured faster (layers/conv3d_thin_kernels.cu). */
#include "cuda3d.h"
extern "C" {
#include "deconv3d_layer.h"
#include "amp.h"
}

#ifdef CUDNN
/* Descriptors (c3_cudnn_setup): x = this layer's OUTPUT (the image of the adjoint convolution), y = its input.
 * precision fp16|bf16: c3_forward_half_gpu / c3_backward_half_gpu, shared with [conv3d]. */
extern "C" void forward_deconv3d_layer_gpu(layer l, network net)
{
    if(c3_state(l)->thin & C3_THIN_FW){ c3_thin_forward_gpu(l, net); c3_post_forward_gpu(l, net); return; }
    if(amp_half()){ c3_forward_half_gpu(l, net); c3_post_forward_gpu(l, net); return; }
    float one = 1, zero = 0;
    CUDNN3D_CHECK(cudnnConvolutionBackwardData(cudnn_handle(), &one, l.weightDesc, l.weights_gpu, l.dstTensorDesc, net.input_gpu, c3_conv_desc(l, C3_BD),
                                               l.bd_algo, net.workspace, l.workspace_size, &zero, l.srcTensorDesc, l.output_gpu));
    c3_post_forward_gpu(l, net);
}

extern "C" void backward_deconv3d_layer_gpu(layer l, network net)
{
    float one = 1;
    c3_post_backward_gpu(l, net);
    if(c3_state(l)->thin & C3_THIN_BWD){ c3_thin_backward_gpu(l, net); return; }
    if(amp_half()){ c3_backward_half_gpu(l, net); return; }
    CUDNN3D_CHECK(cudnnConvolutionBackwardFilter(cudnn_handle(), &one, l.srcTensorDesc, l.delta_gpu, l.dstTensorDesc, net.input_gpu, c3_conv_desc(l, C3_BF),
                                                 l.bf_algo, net.workspace, l.workspace_size, &one, l.weightDesc, l.weight_updates_gpu));
    if(net.delta_gpu)
        CUDNN3D_CHECK(cudnnConvolutionForward(cudnn_handle(), &one, l.srcTensorDesc, l.delta_gpu, l.weightDesc, l.weights_gpu, c3_conv_desc(l, C3_FW),
                                              l.fw_algo, net.workspace, l.workspace_size, &one, l.dstTensorDesc, net.delta_gpu));
}
#else
extern "C" void forward_deconv3d_layer_gpu(layer l, network net) { (void)l; (void)net; fprintf(stderr, "darknet3d: deconv3d needs cuDNN on the GPU\n"); }
extern "C" void backward_deconv3d_layer_gpu(layer l, network net) { (void)l; (void)net; }
#endif

extern "C" void update_deconv3d_layer_gpu(layer l, update_args a) { c3_update_gpu(l, a); }
