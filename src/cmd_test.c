/* `./darknet seg3d test`: predicts every case of a list of a .data set and scores it (dice, jaccard, hd95, asd, predicted and reference volume), with a CSV and per-case outputs on request. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "darknet3d.h"
#include "dataset.h"
#include "intensity.h"
#include "overlay.h"
#include "progress.h"
#include "infer.h"
#include "cmd_common.h"
#include "cfg_keys.h"
#include "commands.h"
#include "file_publish.h"

#define NCOLS 9   /* dice, jaccard, hd95, asd, hd95_mm, asd_mm, seconds, pred_ml, ref_ml */

static const char *test_use =
    "usage: ./darknet seg3d test <data> <cfg> <weights> [-split valid|test|labeled|unlabeled] "
    "[-csv out.csv] [-lcc_csv out.csv] [-save_dir DIR] [-stride D H W] [-lcc] [-decoder a|b|mean] [-precision fp32|tf32|fp16|bf16] [-batch N]\n";

/* A test run: its arguments, the data set, the network, the per-case results and the CSV. */
typedef struct {
    char *datafile, *cfg, *weights, *csvpath, *lcc_csvpath, *save_dir, *precision_flag;
    int stride[3], have_stride, lcc, decoder, split, batch;   /* batch: -batch, windows per forward pass (0: none given) */
    dataset *ds;
    case_list *cl;
    intensity_norm norm;
    network *net;
    double *res, *res_lcc;  /* [cases][NCOLS]: as thresholded (-lcc: largest component), and largest component (-lcc_csv) */
    FILE *csv, *lcc_csv;        /* written under hidden names, published when the run completes (file_publish.h) */
    publishing csv_pub, lcc_pub;
} test_run;

/* closes a results CSV and, when publish is set, checks its writes and publishes it; else removes it (an older
 * file at its path stays). 0, or 1 with the error printed */
static int csv_close(FILE **f, publishing *pub, int publish)
{
    if(!*f) return 0;
    char err[1200];
    int rc = 0;
    if(!publish){ fclose(*f); publish_abort(pub); }
    else if(publish_fclose(pub, *f, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); rc = 1; }
    *f = NULL;
    return rc;
}

static void test_free(test_run *t)
{
    csv_close(&t->csv, &t->csv_pub, 0);
    csv_close(&t->lcc_csv, &t->lcc_pub, 0);
    free(t->res);
    free(t->res_lcc);
    if(t->net) free_network(t->net);
    dataset_free(t->ds);
}

/* the flags; -1 when they are good, else the exit code (the error printed) */
static int test_parse(test_run *t, int argc, char **argv)
{
    int i;
    t->datafile = argv[3]; t->cfg = argv[4]; t->weights = argv[5]; t->decoder = -1; t->split = -1;
    for(i = 6; i < argc; ++i){
        if(strcmp(argv[i], "-stride") == 0){
            if(cmd_stride_flag("seg3d test", argc, argv, i, t->stride)) return 2;
            t->have_stride = 1; i += 3;
        } else if(strcmp(argv[i], "-csv") == 0 && i + 1 < argc) t->csvpath = argv[++i];
        else if(strcmp(argv[i], "-lcc_csv") == 0 && i + 1 < argc) t->lcc_csvpath = argv[++i];
        else if(strcmp(argv[i], "-save_dir") == 0 && i + 1 < argc) t->save_dir = argv[++i];
        else if(strcmp(argv[i], "-lcc") == 0) t->lcc = 1;
        else if(strcmp(argv[i], "-precision") == 0 && i + 1 < argc) t->precision_flag = argv[++i];
        else if(strcmp(argv[i], "-batch") == 0 && i + 1 < argc){
            if(cmd_batch_flag("seg3d test", argv[++i], &t->batch)) return 2;
        }
        else if(strcmp(argv[i], "-decoder") == 0 && i + 1 < argc){
            t->decoder = cmd_decoder(argv[++i]);
            if(t->decoder == -2){ fprintf(stderr, "error: seg3d test -decoder: takes a, b or mean, got '%s'\n", argv[i]); return 2; }
        } else if(strcmp(argv[i], "-split") == 0 && i + 1 < argc){
            ++i;
            for(t->split = 0; t->split < SPLIT_N && strcmp(argv[i], dataset_split_names[t->split]); ++t->split);
            if(t->split == SPLIT_N){ fprintf(stderr, "error: seg3d test -split: takes valid, test, labeled or unlabeled, got '%s'\n", argv[i]); return 2; }
        } else { fprintf(stderr, "error: seg3d test: unknown or incomplete option '%s'\n%s", argv[i], test_use); return 2; }
    }
    if(t->csvpath && t->lcc_csvpath && cmd_same_file(t->csvpath, t->lcc_csvpath)){
        fprintf(stderr, "error: -csv and -lcc_csv name the same file '%s'", t->csvpath);
        if(strcmp(t->csvpath, t->lcc_csvpath)) fprintf(stderr, " (also named '%s')", t->lcc_csvpath);
        fprintf(stderr, "\n");
        return 2;
    }
    return -1;
}

/* data set and its list, normalisation, precision, network; 0, or 1 with the error printed */
static int test_build(test_run *t)
{
    char err[1024], precision[96];
    t->ds = dataset_load(t->datafile, err, sizeof(err));
    if(!t->ds){ fprintf(stderr, "error: %s\n", err); return 1; }
    if(t->split < 0) t->split = t->ds->split[SPLIT_VALID].list_path ? SPLIT_VALID : SPLIT_TEST;
    t->cl = &t->ds->split[t->split];
    if(!t->cl->list_path || t->cl->n == 0){
        fprintf(stderr, "error: %s: no '%s' list (or it is empty)\n", t->datafile, dataset_split_names[t->split]);
        return 1;
    }
    if(intensity_read(t->cfg, &t->norm, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return 1; }
    if(darknet3d_set_precision(t->cfg, t->precision_flag, precision, sizeof(precision), err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return 1; }
    fprintf(stderr, "precision %s\n", precision);
    t->net = load_network_infer(t->cfg, t->weights, t->batch ? t->batch : infer_default_batch());
    if(!t->net) return 1;
    if(network_decoder_check(t->net, t->decoder, err, sizeof(err))){ fprintf(stderr, "error: %s: %s\n", t->cfg, err); return 1; }
    return 0;
}

/* opens a results CSV under its hidden name and writes its head (no path: nothing); 0, or 1 with the error printed */
static int csv_open(const char *path, FILE **f, publishing *pub)
{
    char err[1200];
    if(!path) return 0;
    *f = publish_fopen(pub, path, err, sizeof(err));
    if(!*f){ fprintf(stderr, "error: %s\n", err); return 1; }
    fprintf(*f, "case,dice,jaccard,hd95,asd,hd95_mm,asd_mm,seconds,pred_ml,ref_ml\n");
    return 0;
}

/* -save_dir and its missing parents, and the folders of case ids with a '/' in them, made before the first case runs;
 * 0, or 1 with the error printed */
static int test_save_dirs(const test_run *t)
{
    char path[4096];
    int i;
    if(!t->save_dir) return 0;
    if(!t->save_dir[0]){ fprintf(stderr, "error: seg3d test -save_dir: expects a folder name, got ''\n"); return 1; }
    if(cmd_mkdir_p(t->save_dir) != 0){
        fprintf(stderr, "error: %s: cannot create the -save_dir folder: %s\n", t->save_dir, strerror(errno)); return 1;
    }
    for(i = 0; i < t->cl->n; ++i){
        const char *name = t->cl->cases[i].name, *slash = strrchr(name, '/');
        if(!slash) continue;
        int w = snprintf(path, sizeof(path), "%s/%.*s", t->save_dir, (int)(slash - name), name);
        if(w >= (int)sizeof(path)) errno = ENAMETOOLONG;
        if(w >= (int)sizeof(path) || cmd_mkdir_p(path) != 0){
            fprintf(stderr, "error: %s: cannot create the folder for case %s: %s\n", path, name, strerror(errno)); return 1;
        }
    }
    return 0;
}

/* results table, stride, output folder, CSVs and the table's head; 0, or 1 with the error printed */
static int test_prepare(test_run *t)
{
    t->res = calloc((size_t)t->cl->n * NCOLS, sizeof(double));
    if(t->lcc_csvpath) t->res_lcc = calloc((size_t)t->cl->n * NCOLS, sizeof(double));
    if(!t->res || (t->lcc_csvpath && !t->res_lcc)){ fprintf(stderr, "error: out of memory\n"); return 1; }
    if(cmd_resolve_stride(t->cfg, t->net, t->have_stride, t->stride) != 0) return 1;
    if(test_save_dirs(t)) return 1;
    if(csv_open(t->csvpath, &t->csv, &t->csv_pub) || csv_open(t->lcc_csvpath, &t->lcc_csv, &t->lcc_pub)) return 1;
    printf("%d cases (%s list %s), window %d x %d x %d, stride %d %d %d (D H W)%s\n", t->cl->n, dataset_split_names[t->split],
           t->cl->list_path, t->net->w, t->net->h, t->net->d, t->stride[0], t->stride[1], t->stride[2], t->lcc ? ", largest component" : "");
    printf("%-24s %8s %8s %8s %8s %8s %8s %8s %9s %9s\n", "case", "dice", "jaccard", "hd95", "asd", "hd95_mm", "asd_mm", "seconds",
           "pred_ml", "ref_ml");
    fflush(stdout);
    return 0;
}

/* The volumes of one case. */
typedef struct { volume img, ref, pv, lab, lab_lcc; } case_volumes;

/* thresholds the probabilities of img's grid (keeping the largest component when lcc) into lab and scores it
 * against ref; 0, or -1 with err */
static int score_labels(const volume *img, const volume *pv, int lcc, volume *lab, const volume *ref, seg_metrics *m,
                        char *err, size_t errlen)
{
    if(threshold_label(pv->data, img->nx, img->ny, img->nz, lcc, lab, err, errlen) < 0) return -1;
    lab->dx = img->dx; lab->dy = img->dy; lab->dz = img->dz;
    return volume_metrics(lab, ref, m, err, errlen) != 0 ? -1 : 0;
}

/* reads, segments and scores case c (and writes its outputs to -save_dir); with -lcc_csv also scores the largest
 * component of the same prediction into *ml; 0, or -1 with err */
static int test_one(test_run *t, dataset_case *c, progress *pg, case_volumes *cv, seg_metrics *m, seg_metrics *ml,
                    char *err, size_t errlen)
{
    volume *img = &cv->img;
    if(volume_read(c->image_path, t->ds->h5_image, img, err, errlen) != 0 ||
       volume_read(c->label_path, t->ds->h5_label, &cv->ref, err, errlen) != 0) return -1;
    if(volume_label_check(&cv->ref, c->label_path, img->nx, img->ny, img->nz, c->image_path, err, errlen) != 0) return -1;
    intensity_apply(&t->norm, img);
    if(volume_alloc(&cv->pv, img->nx, img->ny, img->nz) != 0){ snprintf(err, errlen, "out of memory"); return -1; }
    if(network_predict_volume_progress(t->net, img->data, img->nx, img->ny, img->nz, t->stride, t->decoder, pg, cv->pv.data, err, errlen) != 0) return -1;
    if(score_labels(img, &cv->pv, t->lcc, &cv->lab, &cv->ref, m, err, errlen) != 0) return -1;
    if(t->lcc_csvpath){
        if(t->lcc) *ml = *m;
        else if(score_labels(img, &cv->pv, 1, &cv->lab_lcc, &cv->ref, ml, err, errlen) != 0) return -1;
    }
    if(t->save_dir){
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s_pred.nii.gz", t->save_dir, c->name);
        if(volume_write(path, &cv->lab, img, 1, err, errlen) != 0) return -1;
        snprintf(path, sizeof(path), "%s/%s.png", t->save_dir, c->name);
        if(overlay_png(path, img, &cv->ref, &cv->lab, c->name, m->dice, err, errlen) != 0) return -1;
    }
    return 0;
}

/* one case's results row from its metrics, seconds and the volume of one voxel in mL (the reference's spacing) */
static double *result_row(double *r, const seg_metrics *m, double secs, double voxel_ml)
{
    r[0] = m->dice; r[1] = m->jaccard; r[2] = m->hd95; r[3] = m->asd; r[4] = m->hd95_mm; r[5] = m->asd_mm; r[6] = secs;
    r[7] = m->npred * voxel_ml; r[8] = m->nref * voxel_ml;
    return r;
}

static void csv_row(FILE *f, const char *name, const double *r)
{
    if(!f) return;
    if(strpbrk(name, ",\"\r\n")){   /* RFC 4180: a field holding a comma, quote or line break is quoted, its quotes doubled */
        const char *p;
        fputc('"', f);
        for(p = name; *p; ++p){ if(*p == '"') fputc('"', f); fputc(*p, f); }
        fputc('"', f);
    } else fputs(name, f);
    fprintf(f, ",%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.3f,%.6f,%.6f\n", r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]);
}

/* every case in turn, one table row (and CSV rows) each; stops at the first that fails. 0, or 1 */
static int test_loop(test_run *t)
{
    progress pg;
    int i;
    progress_init(&pg, t->cl->n, fileno(stderr));
    for(i = 0; i < t->cl->n; ++i){
        dataset_case *c = &t->cl->cases[i];
        progress_case(&pg, i, c->name);
        case_volumes cv;
        memset(&cv, 0, sizeof(cv));
        seg_metrics m, ml = {0};
        char err[1024];
        double t0 = what_time_is_it_now();
        int bad = test_one(t, c, &pg, &cv, &m, &ml, err, sizeof(err));
        double secs = what_time_is_it_now() - t0;
        const double voxel_ml = volume_voxel_ml(&cv.ref);
        volume_free(&cv.img); volume_free(&cv.ref); volume_free(&cv.pv); volume_free(&cv.lab); volume_free(&cv.lab_lcc);
        progress_clear(&pg);
        if(bad){ fprintf(stderr, "error: case %s: %s\n", c->name, err); return 1; }
        double *r = result_row(t->res + NCOLS*i, &m, secs, voxel_ml);
        printf("%-24s %8.4f %8.4f %8.3f %8.3f %8.3f %8.3f %8.2f %9.3f %9.3f\n", c->name, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]);
        fflush(stdout);
        csv_row(t->csv, c->name, r);
        if(t->res_lcc) csv_row(t->lcc_csv, c->name, result_row(t->res_lcc + NCOLS*i, &ml, secs, voxel_ml));
    }
    return 0;
}

/* mean and sample std over the finite values; count in *n */
static void mean_std(const double *x, int n, double *mean, double *sd, int *used)
{
    double s = 0, s2 = 0;
    int k = 0, i;
    for(i = 0; i < n; ++i) if(isfinite(x[i])){ s += x[i]; ++k; }
    *mean = k ? s / k : NAN;
    for(i = 0; i < n; ++i) if(isfinite(x[i])) s2 += (x[i] - *mean)*(x[i] - *mean);
    *sd = k > 1 ? sqrt(s2 / (k - 1)) : (k ? 0 : NAN);
    *used = k;
}

/* the mean +- std row of a results table, the note on undefined distances and the summary line, whose words start
 * with prefix; 0, or 1 out of memory */
static int report_table(const double *res, int nc, const char *title, const char *prefix)
{
    double mean[NCOLS], sd[NCOLS];
    int used[NCOLS], k, i;
    double *tmp = malloc(sizeof(double) * nc);
    if(!tmp){ fprintf(stderr, "error: out of memory\n"); return 1; }
    for(k = 0; k < NCOLS; ++k){
        for(i = 0; i < nc; ++i) tmp[i] = res[NCOLS*i + k];
        mean_std(tmp, nc, &mean[k], &sd[k], &used[k]);
    }
    free(tmp);
    printf("%-24s", title);
    for(k = 0; k < NCOLS; ++k) printf(" %.4f+-%.4f", mean[k], sd[k]);
    printf("\n");
    if(used[2] < nc) printf("note: hd95/asd averaged over %d of %d cases (empty prediction or reference gives nan)\n", used[2], nc);
    printf("%smean_dice=%.6f %smean_jaccard=%.6f %smean_hd95=%.6f %smean_asd=%.6f %smean_pred_ml=%.6f %smean_ref_ml=%.6f\n",
           prefix, mean[0], prefix, mean[1], prefix, mean[2], prefix, mean[3], prefix, mean[7], prefix, mean[8]);
    return 0;
}

/* the summary of the largest-component scores (-lcc_csv) first, then the table's: the last line stays mean_dice=... */
static int test_report(const test_run *t)
{
    if(t->res_lcc && report_table(t->res_lcc, t->cl->n, "largest component", "lcc_")) return 1;
    return report_table(t->res, t->cl->n, "mean +- std", "");
}

int seg3d_test(int argc, char **argv)
{
    if(argc < 6){ fputs(test_use, stderr); return 2; }
    test_run t = {0};
    int rc = test_parse(&t, argc, argv);
    if(rc < 0 && test_build(&t)) rc = 1;
    if(rc < 0 && test_prepare(&t)) rc = 1;
    if(rc < 0 && test_loop(&t)) rc = 1;
    /* the CSVs are published before the summary: a run whose CSV failed prints no mean_dice= line */
    if(rc < 0 && (csv_close(&t.csv, &t.csv_pub, 1) | csv_close(&t.lcc_csv, &t.lcc_pub, 1))) rc = 1;
    if(rc < 0) rc = test_report(&t);
    test_free(&t);
    return rc;
}
