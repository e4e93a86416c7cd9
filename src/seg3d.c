/* The `./darknet seg3d <command>` front end: dispatches to params, and to the training, inference and data commands as they exist. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "darknet3d.h"
#include "synth.h"
#include "predict.h"
#include "train.h"
#include "resample.h"
#include "cfg_keys.h"

int seg3d_sdf(int argc, char **argv); /* src/sdf_cmd.c */

static int usage(void)
{
    fprintf(stderr,
        "usage: ./darknet seg3d <command> [args] [-nogpu]   (-nogpu: run on the CPU in a GPU build)\n"
        "  params <cfg>                    layer table and trainable parameter count\n"
        "  train <data> <cfg> [weights] [-clear] [-nogpu] [-gpus 0] [-seed S] [-max_batches N] [-dont_show]\n"
        "                                  trains a cfg (e.g. with a [dbisl] loss) on a .data set\n"
        "  resample <in> <out.nii.gz> <factor> [-label]  integer-factor block downsampling (labels: majority)\n"
        "  synth <outdir> <n> [-size D H W] [-seed S]  synthetic phantom data set with lists and synth.data\n"
        "  predict <cfg> <weights> <in.nii[.gz]|in.h5> <out.nii[.gz]> [-stride D H W] [-prob p.nii.gz] [-png p.png] [-ref label] [-lcc] [-decoder a|b|mean]\n"
        "                                  sliding-window segmentation of one volume; several: <in1> <in2> ... <outdir>\n"
        "  test <data> <cfg> <weights> [-split S] [-csv f] [-save_dir DIR] [-stride D H W] [-lcc] [-decoder a|b|mean]\n"
        "                                  predicts and scores every case of the valid (or test) list (-save_dir: NIfTI + PNG per case)\n"
        "  metrics <pred.nii[.gz]> <ref.nii[.gz]>  dice, jaccard, hd95, asd (voxels and mm) as medpy\n"
        "  sdf <label.nii[.gz]> <out.nii[.gz]> [-scale S] [-exact]  signed distance map by the s2r transform; last line dice_inverse=\n"
        "  keys                            every cfg key and numeric flag value with its accepted range\n");
    return 2;
}

static int cmd_params(int argc, char **argv)
{
    if(argc < 4){ fprintf(stderr, "usage: ./darknet seg3d params <cfg>\n"); return 2; }
    network *net = load_network_checked(argv[3], 0, 0);
    if(!net) return 1;
    int i;
    printf("%5s %-14s %28s %28s %12s\n", "layer", "type", "input (c x d x h x w)", "output (c x d x h x w)", "params");
    for(i = 0; i < net->n; ++i){
        layer l = net->layers[i];
        int d = l.d > 0 ? l.d : 1, od = l.out_d > 0 ? l.out_d : 1;
        char in[64], out[64];
        snprintf(in, sizeof(in), "%d x %d x %d x %d", l.c, d, l.h / d, l.w);
        snprintf(out, sizeof(out), "%d x %d x %d x %d", l.out_c, od, l.out_h / od, l.out_w);
        printf("%5d %-14s %28s %28s %12zu\n", i, get_layer_string(l.type), in, out, layer_param_count(l));
    }
    printf("params=%zu\n", network_param_count(net));
    free_network(net);
    return 0;
}

int seg3d_main(int argc, char **argv)
{
    if(argc < 3) return usage();
    char *cmd = argv[2];
    if(strcmp(cmd, "params") == 0) return cmd_params(argc, argv);
    if(strcmp(cmd, "train") == 0) return seg3d_train(argc, argv);
    if(strcmp(cmd, "resample") == 0) return seg3d_resample(argc, argv);
    if(strcmp(cmd, "synth") == 0) return synth_main(argc, argv);
    if(strcmp(cmd, "predict") == 0) return seg3d_predict(argc, argv);
    if(strcmp(cmd, "test") == 0) return seg3d_test(argc, argv);
    if(strcmp(cmd, "metrics") == 0) return seg3d_metrics(argc, argv);
    if(strcmp(cmd, "sdf") == 0) return seg3d_sdf(argc, argv);
    if(strcmp(cmd, "keys") == 0){ cfg_keys_print(); return 0; }
    fprintf(stderr, "seg3d: unknown command '%s'\n", cmd);
    return usage();
}
