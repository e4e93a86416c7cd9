/* The table of darknet3d layer types and its registration with Darknet's cfg parser. */
#include <stdio.h>
#include "layers3d.h"
#include "r2s_layer.h"
#include "dtransform_layer.h"
#include "conv3d_layer.h"
#include "deconv3d_layer.h"
#include "upsample3d_layer.h"
#include "maxpool3d_layer.h"
#include "dualsplit_layer.h"
#include "dbisl_layer.h"

LAYER_TYPE CONV3D = BLANK, DECONV3D = BLANK, UPSAMPLE3D = BLANK, MAXPOOL3D = BLANK, R2S = BLANK,
           DTRANSFORM = BLANK, DUALSPLIT = BLANK, DBISL = BLANK;
int darknet3d_deterministic = 0;

const layer3d_type layers3d_types[] = {
    {"r2s",        &R2S,        parse_r2s_section,        0,                     0,                     0},
    {"dtransform", &DTRANSFORM, parse_dtransform_section, 0,                     0,                     free_dtransform_layer},
    {"conv3d",     &CONV3D,     parse_conv3d_section,     save_conv3d_weights,   load_conv3d_weights,   free_conv3d_layer},
    {"deconv3d",   &DECONV3D,   parse_deconv3d_section,   save_deconv3d_weights, load_deconv3d_weights, free_conv3d_layer},
    {"upsample3d", &UPSAMPLE3D, parse_upsample3d_section, 0,                     0,                     0},
    {"maxpool3d",  &MAXPOOL3D,  parse_maxpool3d_section,  0,                     0,                     0},
    {"dualsplit",  &DUALSPLIT,  parse_dualsplit_section,  0,                     0,                     0},
    {"dbisl",      &DBISL,      parse_dbisl_section,      0,                     0,                     free_dbisl_layer},
};
const int layers3d_ntypes = (int)(sizeof(layers3d_types) / sizeof(layers3d_types[0]));

int layers3d_register(void)
{
    static int done = 0;
    if(done) return 0;
    done = 1;
    int i, bad = 0;
    for(i = 0; i < layers3d_ntypes; ++i){
        const layer3d_type *t = &layers3d_types[i];
        *t->id = register_layer_type(t->name, t->parse, t->save, t->load);
        if(*t->id == BLANK){
            fprintf(stderr, "darknet3d: the layer registry refused [%s]\n", t->name);
            bad = 1;
            continue;
        }
        if(t->free) set_layer_type_free(*t->id, t->free);
    }
    return bad ? -1 : 0;
}
