/* The darknet3d layer types as one table: each type's section name and parse/save/load/free functions, registered with Darknet's cfg parser in one loop, and the LAYER_TYPE ids it hands out. */
#ifndef LAYERS3D_H
#define LAYERS3D_H
#include "darknet.h"
#include "amp.h"

/* One layer type: its section name ("conv3d" for [conv3d]), the id the registry hands out, and its functions
 * (save/load NULL when weightless, free NULL when free_layer's stock fields are all it owns). */
typedef struct {
    const char *name;
    LAYER_TYPE *id;
    layer_parse_fn parse;
    layer_save_fn save;
    layer_load_fn load;
    layer_free_fn free;
} layer3d_type;

extern const layer3d_type layers3d_types[];
extern const int layers3d_ntypes;

/* Registers every entry of layers3d_types with Darknet's parser (once; later calls do nothing).
 * Returns 0, or -1 when the registry refused one (its id stays BLANK). */
int layers3d_register(void);

/* LAYER_TYPE values given by the registry (BLANK until layers3d_register) */
extern LAYER_TYPE CONV3D, DECONV3D, UPSAMPLE3D, MAXPOOL3D, R2S, DTRANSFORM, DUALSPLIT, DBISL;

/* 1: GPU runs choose deterministic cuDNN algorithms and fixed-order reductions (seg3d train -deterministic or
 * [net] deterministic=1). 0 by default. */
extern int darknet3d_deterministic;

/* Numerics of the GPU's convolutions (darknet3d_precision, DARKNET3D_FP32 ... DARKNET3D_BF16): core/amp.h. */
#endif
