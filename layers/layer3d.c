/* Shared helpers of the darknet3d layers: the NCDHW shape convention, buffer allocation on CPU/GPU and parse-time checks. */
#include <stdlib.h>
#include <string.h>
#include "layer3d.h"
#include "cuda3d.h"

int params_dims(size_params params, dims3d *in, char *err, size_t errlen)
{
    int d = params.d > 0 ? params.d : 1;
    if(params.h % d != 0){
        snprintf(err, errlen, "input height %d is not a multiple of its depth %d: the previous layer is not a 3D layer", params.h, d);
        return -1;
    }
    in->c = params.c; in->d = d; in->h = params.h / d; in->w = params.w;
    if(in->c < 1 || in->h < 1 || in->w < 1){
        /* name the layer that produced nothing: Darknet's [route] gives an empty output when its inputs differ in size */
        int p = params.index - 1;
        if(p >= 0 && params.net && params.net->layers[p].type == ROUTE)
            snprintf(err, errlen, "empty input (%d x %d x %d x %d): the [route] at layer %d concatenates inputs of different depth/height/width",
                     in->c, in->d, in->h, in->w, p);
        else snprintf(err, errlen, "empty input (%d x %d x %d x %d)", in->c, in->d, in->h, in->w);
        return -1;
    }
    return 0;
}

int layer3d_inference = 0;
int layer3d_defer_device = 0;

float *layer3d_alloc(size_t n)
{
    return calloc(n ? n : 1, sizeof(float));
}

int layer3d_set_shapes(layer *l, int batch, dims3d in, dims3d out)
{
    l->batch = batch;
    l->c = in.c; l->d = in.d; l->h = in.d * in.h; l->w = in.w;
    l->out_c = out.c; l->out_d = out.d; l->out_h = out.d * out.h; l->out_w = out.w;
    l->inputs = (int)(in.c * dims_volume(in));
    l->outputs = (int)(out.c * dims_volume(out));
    size_t n = (size_t)batch * l->outputs;
    if(l->output) free(l->output);
    if(l->delta) free(l->delta);
    l->output = layer3d_alloc(n);
    l->delta = layer3d_inference ? 0 : layer3d_alloc(n);
    if(!l->output || (!layer3d_inference && !l->delta)) return -1;
#ifdef GPU
    if(gpu_index >= 0){
        cuda3d_free((void **)&l->output_gpu);
        cuda3d_free((void **)&l->delta_gpu);
        if(layer3d_defer_device) return 0;
        if(cuda3d_make_array(&l->output_gpu, l->output, n)) return -1;
        if(!layer3d_inference && cuda3d_make_array(&l->delta_gpu, l->delta, n)) return -1;
    }
#endif
    return 0;
}

int layer3d_buffers_ok(const layer *l)
{
    int need_delta = !layer3d_inference;
    if(!l->output || (need_delta && !l->delta)) return 0;
#ifdef GPU
    if(gpu_index >= 0 && !layer3d_defer_device && (!l->output_gpu || (need_delta && !l->delta_gpu))) return 0;
#endif
    return 1;
}

int layer3d_alloc_error(char *err, size_t errlen)
{
#ifdef GPU
    char g[512];
    if(cuda3d_take_error(g, sizeof(g))){
        /* a failed allocation, or another refusal (a cuDNN descriptor or algorithm the device does not support) */
        int mem = strstr(g, "cudaMalloc") || strstr(g, "memory") || strstr(g, "ALLOC_FAILED");
        snprintf(err, errlen, "%s: %s", mem ? "out of GPU memory" : "the GPU refused the layer", g);
        return -1;
    }
#endif
    snprintf(err, errlen, "out of memory");
    return -1;
}

int read_floats(float *x, size_t n, FILE *fp)
{
    return fread(x, sizeof(float), n, fp) == n ? 0 : -1;
}

int write_floats(const float *x, size_t n, FILE *fp)
{
    return fwrite(x, sizeof(float), n, fp) == n ? 0 : -1;
}

#ifdef GPU
/* copies while the network runs or saves: a failure is fatal (core/cuda3d.h) */
void layer3d_push(float *x_gpu, float *x, size_t n)
{
    if(x_gpu && x && n) CUDA3D_CHECK(cudaMemcpy(x_gpu, x, n * sizeof(float), cudaMemcpyHostToDevice));
}
void layer3d_pull(float *x_gpu, float *x, size_t n)
{
    if(x_gpu && x && n) CUDA3D_CHECK(cudaMemcpy(x, x_gpu, n * sizeof(float), cudaMemcpyDeviceToHost));
}
#endif
