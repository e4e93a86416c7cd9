/* `./darknet seg3d predict`: sliding-window segmentation of one volume or several, with optional probability map, picture and reference Dice. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "darknet3d.h"
#include "intensity.h"
#include "overlay.h"
#include "progress.h"
#include "infer.h"
#include "cmd_common.h"
#include "cfg_keys.h"
#include "commands.h"

static const char *predict_use =
    "usage: ./darknet seg3d predict <cfg> <weights> <in.nii[.gz]|in.h5> <out.nii[.gz]> "
    "[-stride D H W] [-prob out_prob.nii[.gz]] [-png out.png] [-ref label.nii[.gz]|label.h5] [-lcc] [-decoder a|b|mean] [-precision fp32|tf32|fp16|bf16] [-batch N]\n"
    "       ./darknet seg3d predict <cfg> <weights> <in1> [<in2> ...] <outdir> [...]   several inputs: "
    "<outdir>/<id>_pred.nii.gz; -prob DIR and -png DIR then name folders\n";

/* A predict run: its arguments, the inputs' case ids and the network. */
typedef struct {
    char *cfg, *weights, *probpath, *pngpath, *refpath, *precision_flag, *out;
    int stride[3], have_stride, lcc, decoder, batch;   /* batch: -batch, windows per forward pass (0: none given) */
    char **pos;             /* the inputs */
    int nin, folder;        /* folder: one file per case in the output folder */
    char (*ids)[256];       /* each input's case id */
    intensity_norm norm;
    network *net;
} predict_run;

static void predict_free(predict_run *r)
{
    if(r->net) free_network(r->net);
    free(r->ids); free(r->pos);
}

/* the flags and positional arguments; -1 when they are good, else the exit code (the error printed) */
static int predict_parse(predict_run *r, int argc, char **argv)
{
    int i, npos = 0;
    r->cfg = argv[3]; r->weights = argv[4]; r->decoder = -1;
    r->pos = malloc(sizeof(char *) * argc);
    if(!r->pos){ fprintf(stderr, "error: out of memory\n"); return 1; }
    for(i = 5; i < argc; ++i){
        if(strcmp(argv[i], "-stride") == 0){
            if(cmd_stride_flag("seg3d predict", argc, argv, i, r->stride)) return 2;
            r->have_stride = 1; i += 3;
        } else if(strcmp(argv[i], "-prob") == 0 && i + 1 < argc) r->probpath = argv[++i];
        else if(strcmp(argv[i], "-png") == 0 && i + 1 < argc) r->pngpath = argv[++i];
        else if(strcmp(argv[i], "-ref") == 0 && i + 1 < argc) r->refpath = argv[++i];
        else if(strcmp(argv[i], "-lcc") == 0) r->lcc = 1;
        else if(strcmp(argv[i], "-precision") == 0 && i + 1 < argc) r->precision_flag = argv[++i];
        else if(strcmp(argv[i], "-batch") == 0 && i + 1 < argc){
            if(cmd_batch_flag("seg3d predict", argv[++i], &r->batch)) return 2;
        } else if(strcmp(argv[i], "-decoder") == 0 && i + 1 < argc){
            r->decoder = cmd_decoder(argv[++i]);
            if(r->decoder == -2){ fprintf(stderr, "error: seg3d predict -decoder: takes a, b or mean, got '%s'\n", argv[i]); return 2; }
        } else if(argv[i][0] == '-' && argv[i][1]){ fprintf(stderr, "error: seg3d predict: unknown or incomplete option '%s'\n%s", argv[i], predict_use); return 2; }
        else if(i > 5 + npos){   /* an option came before it */
            fprintf(stderr, "error: seg3d predict: '%s' follows the options (it comes after '%s'); the inputs and the output come before them\n%s",
                    argv[i], argv[i - 1], predict_use);
            return 2;
        } else r->pos[npos++] = argv[i];
    }
    if(npos < 2){ fprintf(stderr, "error: seg3d predict: needs an input and an output\n%s", predict_use); return 2; }
    for(i = 0; i < npos; ++i) if(!strcmp(r->pos[i], "-")){
        fprintf(stderr, "error: seg3d predict: '-' is not a file name here: inputs and outputs are files (no standard input or output)\n%s", predict_use);
        return 2;
    }
    r->nin = npos - 1;
    r->out = r->pos[npos - 1];
    /* several inputs, or an existing folder as output: one file per case in that folder */
    r->folder = r->nin > 1 || cmd_is_dir(r->out);
    if(r->folder && r->refpath){ fprintf(stderr, "-ref names the reference of a single input; give one input and an output file\n"); return 2; }
    return -1;
}

/* case id of an input file: its name without .nii.gz/.nii/.h5; "<folder>_<name>" when `full` */
static void input_id(const char *path, int full, char *id, size_t n)
{
    const char *base = strrchr(path, '/'), *dir = base;
    base = base ? base + 1 : path;
    char stem[512];
    snprintf(stem, sizeof(stem), "%s", base);
    size_t l = strlen(stem);
    const char *ext[] = { ".nii.gz", ".nii", ".h5" };
    int k;
    for(k = 0; k < 3; ++k){
        size_t e = strlen(ext[k]);
        if(l > e && strcmp(stem + l - e, ext[k]) == 0){ stem[l - e] = 0; break; }
    }
    if(full && dir){
        const char *d0 = dir;
        while(d0 > path && d0[-1] != '/') --d0;
        snprintf(id, n, "%.*s_%s", (int)(dir - d0), d0, stem);
    } else snprintf(id, n, "%s", stem);
}

/* the inputs' case ids (file names, or folder_file names when file names clash) and the output folders;
 * 0, or 1 with the error printed */
static int predict_name_cases(predict_run *r)
{
    int i, j, full, clash = 0;
    r->ids = calloc(r->nin, sizeof(*r->ids));
    if(!r->ids){ fprintf(stderr, "error: out of memory\n"); return 1; }
    if(!r->folder){ input_id(r->pos[0], 1, r->ids[0], sizeof(r->ids[0])); return 0; }   /* the picture's title */
    for(full = 0; full <= 1; ++full){
        for(i = 0; i < r->nin; ++i) input_id(r->pos[i], full, r->ids[i], sizeof(r->ids[i]));
        for(clash = 0, i = 0; i < r->nin && !clash; ++i) for(j = i + 1; j < r->nin && !clash; ++j) if(!strcmp(r->ids[i], r->ids[j])) clash = 1;
        if(!clash) break;
    }
    for(i = 0; i < r->nin && clash; ++i) for(j = i + 1; j < r->nin; ++j) if(!strcmp(r->ids[i], r->ids[j])){
        fprintf(stderr, "error: inputs %s and %s would both be written as %s/%s_pred.nii.gz\n", r->pos[i], r->pos[j], r->out, r->ids[i]);
        return 1;
    }
    /* the inputs are there before any output folder is made */
    for(i = 0; i < r->nin; ++i){
        struct stat st;
        if(stat(r->pos[i], &st) != 0 || access(r->pos[i], R_OK) != 0){ fprintf(stderr, "error: %s: cannot open: %s\n", r->pos[i], strerror(errno)); return 1; }
        if(S_ISDIR(st.st_mode)){ fprintf(stderr, "error: %s: is a folder; the inputs are volume files\n", r->pos[i]); return 1; }
    }
    const char *dirs[3] = { r->out, r->probpath, r->pngpath };
    for(i = 0; i < 3; ++i) if(dirs[i] && !cmd_is_dir(dirs[i]) && mkdir(dirs[i], 0777) != 0){
        fprintf(stderr, "error: %s: cannot create the folder: %s\n", dirs[i], strerror(errno)); return 1;
    }
    return 0;
}

/* precision, network and stride; 0, or 1 with the error printed */
static int predict_build(predict_run *r)
{
    char precision[96], perr[1024];
    if(darknet3d_set_precision(r->cfg, r->precision_flag, precision, sizeof(precision), perr, sizeof(perr))){ fprintf(stderr, "error: %s\n", perr); return 1; }
    fprintf(stderr, "precision %s\n", precision);
    r->net = load_network_infer(r->cfg, r->weights, r->batch ? r->batch : infer_default_batch());
    if(!r->net) return 1;
    if(network_decoder_check(r->net, r->decoder, perr, sizeof(perr))){ fprintf(stderr, "error: %s: %s\n", r->cfg, perr); return 1; }
    return cmd_resolve_stride(r->cfg, r->net, r->have_stride, r->stride) != 0;
}

/* Where one case's outputs go: the label, the probability map and the picture. */
typedef struct { char label[4096], prob[4096], png[4096]; } case_paths;

static void predict_paths(const predict_run *r, int i, case_paths *p)
{
    memset(p, 0, sizeof(*p));
    if(r->folder){
        snprintf(p->label, sizeof(p->label), "%s/%s_pred.nii.gz", r->out, r->ids[i]);
        if(r->probpath) snprintf(p->prob, sizeof(p->prob), "%s/%s_prob.nii.gz", r->probpath, r->ids[i]);
        if(r->pngpath) snprintf(p->png, sizeof(p->png), "%s/%s.png", r->pngpath, r->ids[i]);
    } else {
        snprintf(p->label, sizeof(p->label), "%s", r->out);
        if(r->probpath) snprintf(p->prob, sizeof(p->prob), "%s", r->probpath);
        if(r->pngpath) snprintf(p->png, sizeof(p->png), "%s", r->pngpath);
    }
}

/* 0 when the folder of path exists, else -1 with errno set */
static int parent_exists(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if(!slash) return 0;
    if(slash == dir) slash[1] = 0; else *slash = 0;
    struct stat st;
    if(stat(dir, &st) != 0) return -1;
    if(!S_ISDIR(st.st_mode)){ errno = ENOTDIR; return -1; }
    return 0;
}

/* before anything is written: every output's folder exists, the label and -prob outputs are .nii or .nii.gz names
 * of no device or folder, and no output is an input, the reference or another output of its case; 0, or 1 with the
 * error printed */
static int predict_check_outputs(const predict_run *r)
{
    char err[4200];
    int i, j, k;
    for(i = 0; i < r->nin; ++i){
        case_paths p;
        predict_paths(r, i, &p);
        const char *out[3] = { p.label, p.prob, p.png }, *what[3] = { "output", "-prob output", "-png output" };
        for(k = 0; k < 3; ++k){
            if(!out[k][0]) continue;
            if(parent_exists(out[k])){ fprintf(stderr, "error: %s: cannot write it: %s\n", out[k], strerror(errno)); return 1; }
            if(k < 2 && volume_write_name_check(out[k], err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return 1; }
            for(j = 0; j <= r->nin; ++j){
                const char *in = j < r->nin ? r->pos[j] : r->refpath;
                if(in && cmd_same_file(out[k], in)){
                    fprintf(stderr, "error: %s: the %s would overwrite the %s %s; name another file\n", out[k], what[k], j < r->nin ? "input" : "reference", in);
                    return 1;
                }
            }
            for(j = 0; j < k; ++j) if(out[j][0] && cmd_same_file(out[k], out[j])){
                fprintf(stderr, "error: %s: the %s and the %s would both be written there\n", out[k], what[j], what[k]);
                return 1;
            }
        }
    }
    return 0;
}

/* The volumes of one case. */
typedef struct { volume v, lab, pv, ref; } case_volumes;

/* whether err starts with path and a colon: the volume reader's and writer's messages name their file */
static int names_file(const char *err, const char *path)
{
    size_t n = strlen(path);
    return n > 0 && strncmp(err, path, n) == 0 && err[n] == ':';
}

/* reads, segments, scores and writes input i, then prints its line; 0, or -1 with err */
static int predict_one(predict_run *r, int i, const case_paths *p, progress *pg, case_volumes *cv, char *err, size_t errlen)
{
    const char *in = r->pos[i];
    seg_metrics m;
    if(volume_read(in, cmd_is_h5(in) ? "image" : NULL, &cv->v, err, errlen) != 0) return -1;
    if(r->refpath && volume_read(r->refpath, cmd_is_h5(r->refpath) ? "label" : NULL, &cv->ref, err, errlen) != 0) return -1;
    intensity_apply(&r->norm, &cv->v);
    volume *v = &cv->v;
    if(r->refpath && (cv->ref.nx != v->nx || cv->ref.ny != v->ny || cv->ref.nz != v->nz)){
        snprintf(err, errlen, "%s: the reference is %d x %d x %d voxels (D H W), the image %s %d x %d x %d",
                 r->refpath, cv->ref.nz, cv->ref.ny, cv->ref.nx, in, v->nz, v->ny, v->nx);
        return -1;
    }
    if(r->refpath && volume_label_check(&cv->ref, r->refpath, v->nx, v->ny, v->nz, in, err, errlen) != 0) return -1;
    if(volume_alloc(&cv->pv, v->nx, v->ny, v->nz) != 0){ snprintf(err, errlen, "out of memory"); return -1; }
    cv->pv.dx = v->dx; cv->pv.dy = v->dy; cv->pv.dz = v->dz;
    double w0 = what_time_is_it_now();
    if(network_predict_volume_progress(r->net, v->data, v->nx, v->ny, v->nz, r->stride, r->decoder, pg, cv->pv.data, err, errlen) != 0) return -1;
    double secs = what_time_is_it_now() - w0;
    long fg = threshold_label(cv->pv.data, v->nx, v->ny, v->nz, r->lcc, &cv->lab, err, errlen);
    if(fg < 0) return -1;
    cv->lab.dx = v->dx; cv->lab.dy = v->dy; cv->lab.dz = v->dz;
    if(r->refpath && volume_metrics(&cv->lab, &cv->ref, &m, err, errlen) != 0) return -1;
    if(volume_write(p->label, &cv->lab, v, 1, err, errlen) != 0) return -1;
    if(r->probpath && volume_write(p->prob, &cv->pv, v, 0, err, errlen) != 0) return -1;
    if(r->pngpath && overlay_png(p->png, v, r->refpath ? &cv->ref : NULL, &cv->lab, r->ids[i], r->refpath ? m.dice : NAN, err, errlen) != 0) return -1;
    progress_clear(pg);
    printf("%s: %d x %d x %d voxels (D H W), window %d x %d x %d, stride %d %d %d, %.2f s; foreground %ld voxels -> %s",
           in, v->nz, v->ny, v->nx, r->net->d, r->net->h, r->net->w, r->stride[0], r->stride[1], r->stride[2], secs, fg, p->label);
    if(r->pngpath) printf(", %s", p->png);
    if(r->refpath) printf("; dice=%.6f", m.dice);
    printf("\n");
    fflush(stdout);
    return 0;
}

/* every input in turn; stops at the first that fails. 0, or 1 with the error printed */
static int predict_loop(predict_run *r)
{
    progress pg;
    int i;
    progress_init(&pg, r->nin, fileno(stderr));
    for(i = 0; i < r->nin; ++i){
        char err[1024];
        case_volumes cv;
        memset(&cv, 0, sizeof(cv));
        progress_case(&pg, i, r->ids[i]);
        case_paths p;
        predict_paths(r, i, &p);
        int bad = predict_one(r, i, &p, &pg, &cv, err, sizeof(err));
        progress_clear(&pg);
        volume_free(&cv.v); volume_free(&cv.lab); volume_free(&cv.pv); volume_free(&cv.ref);
        if(bad){
            int named = names_file(err, r->pos[i]) || (r->refpath && names_file(err, r->refpath))
                     || names_file(err, p.label) || names_file(err, p.prob) || names_file(err, p.png);
            fprintf(stderr, "error: %s%s%s\n", named ? "" : r->pos[i], named ? "" : ": ", err);
            return 1;
        }
    }
    return 0;
}

int seg3d_predict(int argc, char **argv)
{
    if(argc < 7){ fputs(predict_use, stderr); return 2; }
    predict_run r = {0};
    char err[1024];
    int rc = predict_parse(&r, argc, argv);
    if(rc < 0 && intensity_read(r.cfg, &r.norm, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); rc = 1; }
    if(rc < 0 && (predict_name_cases(&r) || predict_check_outputs(&r))) rc = 1;
    if(rc < 0 && predict_build(&r)) rc = 1;
    if(rc < 0) rc = predict_loop(&r);
    predict_free(&r);
    return rc;
}
