/* The `./darknet seg3d <command>` front end: a table of the commands, each with its usage lines, and the dispatch to them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "darknet3d.h"
#include "synth.h"
#include "resample.h"
#include "commands.h"
#include "cfg_keys.h"
#include "layers3d.h"

/* the bytes batch norm's x_norm takes off the GPU at precision fp16|bf16, where it is kept in 16 bits (docs/design.md §8) */
static size_t x_norm_16bit_saving(network *net)
{
    size_t s = 0;
    int i;
    for(i = 0; i < net->n; ++i){
        layer l = net->layers[i];
        if((l.type == CONV3D || l.type == DECONV3D) && l.batch_normalize && l.x_norm) s += (size_t)l.outputs * l.batch * 2;
    }
    return s;
}

static int cmd_params(int argc, char **argv)
{
    if(argc < 4){ fprintf(stderr, "usage: ./darknet seg3d params <cfg> [-precision fp32|tf32|fp16|bf16]\n"); return 2; }
    char *prec = find_char_arg(argc, argv, "-precision", 0);   /* removes the flag and its value from argv */
    if(argc > 4 && argv[4]){
        fprintf(stderr, "error: seg3d params: unknown or incomplete option '%s' (params <cfg> [-precision fp32|tf32|fp16|bf16])\n", argv[4]);
        return 2;
    }
    if(prec && strcmp(prec, "fp32") && strcmp(prec, "tf32") && strcmp(prec, "fp16") && strcmp(prec, "bf16")){
        fprintf(stderr, "error: -precision: expected fp32, tf32, fp16 or bf16, got '%s'\n", prec);
        return 1;
    }
    network *net = load_network_checked(argv[3], 0, 0);
    if(!net) return 1;
    int i;
    printf("%5s %-14s %28s %28s %12s %12s\n", "layer", "type", "input (c x d x h x w)", "output (c x d x h x w)", "params",
           "buffers MiB");
    for(i = 0; i < net->n; ++i){
        layer l = net->layers[i];
        int d = l.d > 0 ? l.d : 1, od = l.out_d > 0 ? l.out_d : 1;
        char in[64], out[64];
        if(l.c > 0 && l.h > 0) snprintf(in, sizeof(in), "%d x %d x %d x %d", l.c, d, l.h / d, l.w);
        else snprintf(in, sizeof(in), "-");   /* [route], [dropout]: their inputs are other layers' outputs */
        snprintf(out, sizeof(out), "%d x %d x %d x %d", l.out_c, od, l.out_h / od, l.out_w);
        size_t b[5] = { 0 };
        layer_buffer_bytes(net, i, b);
        printf("%5d %-14s %28s %28s %12zu %12.1f\n", i, get_layer_string(l.type), in, out, layer_param_count(l),
               (b[0] + b[1] + b[2] + b[3]) / (double)(1 << 20));
    }
    size_t b[5];
    network_buffer_bytes(net, b);
    double mib = 1.0 / (1 << 20);
    printf("buffers at batch %d, MiB: outputs %.0f, gradients %.0f, kept for backward %.0f, parameters and updates %.0f, "
           "workspace %.0f; total %.0f\n", net->batch, b[0] * mib, b[1] * mib, b[2] * mib, b[3] * mib, b[4] * mib,
           (b[0] + b[1] + b[2] + b[3] + b[4]) * mib);
    if(prec && (!strcmp(prec, "fp16") || !strcmp(prec, "bf16"))){
        size_t h = x_norm_16bit_saving(net);
        printf("on the GPU at precision %s: kept for backward %.0f MiB (batch norm's x_norm in 16 bits), total %.0f MiB "
               "with the CPU's workspace counted (the GPU's is cuDNN's plus the 16-bit operand copies)\n", prec, (b[2] - h) * mib,
               (b[0] + b[1] + b[2] + b[3] + b[4] - h) * mib);
    }
    printf("params=%zu\n", network_param_count(net));
    free_network(net);
    return 0;
}

static int cmd_keys(int argc, char **argv)
{
    if(argc > 3){ fprintf(stderr, "error: seg3d keys takes no arguments, got '%s'\n", argv[3]); return 2; }
    cfg_keys_print();
    return 0;
}

/* One seg3d command: its name, its entry point and its lines of the usage text. */
typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *usage;
} seg3d_command;

static const seg3d_command commands[] = {
    { "params", cmd_params,
      "  params <cfg> [-precision P]     layer table, trainable parameter count and buffer memory at the cfg's batch\n"
      "                                  (-precision fp16|bf16: also the GPU's count with its 16-bit x_norm)\n" },
    { "train", seg3d_train,
      "  train <data> <cfg> [weights] [-clear] [-nogpu] [-gpus 0] [-seed S] [-max_batches N] [-valid_every N]\n"
      "        [-precision fp32|tf32|fp16|bf16] [-benchmark_layers] [-deterministic] [-dont_show]\n"
      "                                  trains a cfg (e.g. with a [dbisl] loss) on a .data set\n" },
    { "resample", seg3d_resample,
      "  resample <in> <out.nii.gz> <factor> [-label] [-zscore] [-spacing DX DY DZ]  integer-factor block downsampling\n"
      "                                  (labels: majority); -spacing: the mm spacing of an .h5 input (factor 1 converts)\n" },
    { "synth", synth_main,
      "  synth <outdir> <n> [-size D H W] [-seed S] [-msd]  synthetic phantom data set with lists and synth.data\n"
      "                                  (-msd: an nnU-Net raw folder and msd.data)\n" },
    { "predict", seg3d_predict,
      "  predict <cfg> <weights> <in.nii[.gz]|in.h5> <out.nii[.gz]> [-stride D H W] [-prob p.nii.gz] [-png p.png] [-ref label] [-lcc] [-decoder a|b|mean]\n"
      "        [-batch N] [-precision P]  sliding-window segmentation of one volume; several: <in1> <in2> ... <outdir>\n" },
    { "test", seg3d_test,
      "  test <data> <cfg> <weights> [-split S] [-csv f] [-save_dir DIR] [-stride D H W] [-lcc] [-lcc_csv f] [-decoder a|b|mean]\n"
      "        [-batch N] [-precision P]\n"
      "                                  predicts and scores every case of the valid (or test) list (-save_dir: NIfTI + PNG per case)\n" },
    { "metrics", seg3d_metrics,
      "  metrics <pred.nii[.gz]> <ref.nii[.gz]>  dice, jaccard, hd95, asd (voxels and mm) as medpy\n" },
    { "sdf", seg3d_sdf,
      "  sdf <label.nii[.gz]> <out.nii[.gz]> [-scale S] [-exact] [-binarize ste|softmin] [-kernel K] [-h H]\n"
      "                                  signed distance map by the s2r transform; last line dice_inverse=\n" },
    { "heads", seg3d_heads,
      "  heads <cfg> <weights> <image> [<image> ...] [-stride D H W]  a [dbisl] network's heads: foreground and inside\n"
      "                                  shares, sign agreement, confidence-mask share per pse_mask (CPU)\n" },
    { "keys", cmd_keys,
      "  keys                            every cfg key and numeric flag value with its accepted range\n" },
};
#define NCOMMANDS ((int)(sizeof(commands) / sizeof(commands[0])))

static int usage(void)
{
    int i;
    fprintf(stderr, "usage: ./darknet seg3d <command> [args] [-nogpu]   (-nogpu: run on the CPU in a GPU build)\n");
    for(i = 0; i < NCOMMANDS; ++i) fputs(commands[i].usage, stderr);
    return 2;
}

int seg3d_main(int argc, char **argv)
{
    if(argc < 3) return usage();
    int i;
    for(i = 0; i < NCOMMANDS; ++i) if(strcmp(argv[2], commands[i].name) == 0) return commands[i].fn(argc, argv);
    fprintf(stderr, "error: seg3d: unknown command '%s'\n", argv[2]);
    return usage();
}
