/* [dualsplit]: a named branch point for the second decoder, made as a single-input Darknet route layer with 3D shape fields. */
#include <stdlib.h>
#include "dualsplit_layer.h"
#include "route_layer.h"
#include "layer3d.h"
#include "cfg_options.h"
#include "layers3d.h"

layer make_dualsplit_layer(network *net, int batch, int source)
{
    layer src = net->layers[source];
    int *layers = malloc(sizeof(int)), *sizes = malloc(sizeof(int));
    if(!layers || !sizes){ free(layers); free(sizes); layer empty = {0}; return empty; }
    layers[0] = source;
    sizes[0] = src.outputs;
    dims3d s = out_dims(src);
    /* the layer table line: our part first, then route's own "route  N" */
    fprintf(stderr, "dualsplit  %4d x%4d x%4d x%4d  branch point: ", s.c, s.d, s.h, s.w);
    layer l = make_route_layer(batch, 1, layers, sizes); /* owns layers/sizes: free_layer frees them */
    l.type = DUALSPLIT;
    l.c = l.out_c = src.out_c;
    l.h = l.out_h = src.out_h;
    l.w = l.out_w = src.out_w;
    l.d = l.out_d = src.out_d;
    return l;
}

int parse_dualsplit_section(list *options, size_params params, layer *l, char *err, size_t errlen)
{
    int idx[8], n = 0;
    if(cfg_layers(options, "layers", params.index, idx, 8, &n, err, errlen)) return -1;
    if(n != 1){
        snprintf(err, errlen, "key 'layers': [dualsplit] takes exactly one layer, got %d (use [route] to concatenate)", n);
        return -1;
    }
    layer src = params.net->layers[idx[0]];
    if(src.out_d < 1 || src.out_h % src.out_d != 0 || src.out_c < 1 || src.out_w < 1 ||
       src.outputs != src.out_c * src.out_h * src.out_w){
        snprintf(err, errlen, "key 'layers': layer %d (%s) is not a 3D layer (c=%d, d=%d, d*h=%d, w=%d, outputs=%d)",
                 idx[0], get_layer_string(src.type), src.out_c, src.out_d, src.out_h, src.out_w, src.outputs);
        return -1;
    }
    *l = make_dualsplit_layer(params.net, params.batch, idx[0]);
    if(!l->output || (!layer3d_inference && !l->delta) || !l->input_layers){ snprintf(err, errlen, "out of memory"); return -1; }
    return 0;
}
