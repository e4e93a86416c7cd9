/* Sliding-window inference (DTC/UA-MT test_single_case placement, overlap averaging) and the seg3d predict, test and metrics commands. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cfg_keys.h"
#include "darknet3d.h"
#include "predict.h"
#include "numerics3d.h"
#include "metrics.h"
#include "volume_io.h"
#include "dataset.h"
#include "intensity.h"
#include "cfg_options.h"
#include "overlay.h"
#include "progress.h"

int sw_starts(int size, int patch, int stride, int *starts)
{
    if(size < 1 || patch < 1 || stride < 1 || size < patch) return 0;
    int n = (size - patch + stride - 1) / stride + 1, i;   /* ceil((size - patch)/stride) + 1 */
    if(starts) for(i = 0; i < n; ++i) starts[i] = stride*i < size - patch ? stride*i : size - patch;
    return n;
}

int sliding_window(const float *vol, int D, int H, int W, const int patch[3], const int stride[3], int slots,
                   sw_fn fn, void *ctx, float *prob, float *count, char *err, size_t errlen)
{
    int dim[3] = { D, H, W }, pdim[3], off[3], nst[3], *st[3] = { 0, 0, 0 }, a, rc = -1;
    if(!vol || !prob || !fn || slots < 1 || D < 1 || H < 1 || W < 1){
        snprintf(err, errlen, "sliding window: bad arguments");
        return -1;
    }
    for(a = 0; a < 3; ++a){
        if(patch[a] < 1 || stride[a] < 1){
            snprintf(err, errlen, "sliding window: window %dx%dx%d and stride %dx%dx%d must be >= 1",
                     patch[0], patch[1], patch[2], stride[0], stride[1], stride[2]);
            return -1;
        }
        /* DTC pads a short axis to the window, pad//2 before, the rest after */
        pdim[a] = dim[a] > patch[a] ? dim[a] : patch[a];
        off[a] = (pdim[a] - dim[a]) / 2;
        nst[a] = sw_starts(pdim[a], patch[a], stride[a], 0);
        st[a] = malloc(sizeof(int) * nst[a]);
        if(!st[a]) goto oom;
        sw_starts(pdim[a], patch[a], stride[a], st[a]);
    }
    long PD = pdim[0], PH = pdim[1], PW = pdim[2];
    long pvox = (long)patch[0]*patch[1]*patch[2], nvox = PD*PH*PW;
    float *score = calloc(nvox, sizeof(float)), *cnt = calloc(nvox, sizeof(float));
    float *in = malloc(sizeof(float) * pvox * slots), *out = malloc(sizeof(float) * pvox * slots);
    int *pos = malloc(sizeof(int) * 3 * slots);
    if(!score || !cnt || !in || !out || !pos){
        free(score); free(cnt); free(in); free(out); free(pos);
        goto oom;
    }
    long nwin = (long)nst[0]*nst[1]*nst[2], wi;
    int filled = 0;
    for(wi = 0; wi <= nwin; ++wi){
        if(wi < nwin){
            /* window order as DTC: x (w) outermost, z (d) innermost */
            int iz = (int)(wi % nst[0]), iy = (int)((wi / nst[0]) % nst[1]), ix = (int)(wi / ((long)nst[0]*nst[1]));
            int z0 = st[0][iz], y0 = st[1][iy], x0 = st[2][ix], d, h;
            float *dst = in + filled*pvox;
            for(d = 0; d < patch[0]; ++d) for(h = 0; h < patch[1]; ++h){
                float *row = dst + (long)patch[2]*(h + (long)patch[1]*d);
                int vd = z0 + d - off[0], vh = y0 + h - off[1], w;
                if(vd < 0 || vd >= D || vh < 0 || vh >= H){ memset(row, 0, sizeof(float)*patch[2]); continue; }
                const float *src = vol + (long)W*(vh + (long)H*vd);
                for(w = 0; w < patch[2]; ++w){
                    int vw = x0 + w - off[2];
                    row[w] = (vw < 0 || vw >= W) ? 0.f : src[vw];
                }
            }
            pos[3*filled] = z0; pos[3*filled+1] = y0; pos[3*filled+2] = x0;
            ++filled;
            if(filled < slots) continue;
        }
        if(filled == 0) break;
        if(filled < slots) memset(in + filled*pvox, 0, sizeof(float)*pvox*(slots - filled));
        if(fn(ctx, in, filled, slots, out, err, errlen) != 0) goto fail;
        int b;
        for(b = 0; b < filled; ++b){
            int z0 = pos[3*b], y0 = pos[3*b+1], x0 = pos[3*b+2], d, h, w;
            const float *p = out + b*pvox;
            for(d = 0; d < patch[0]; ++d) for(h = 0; h < patch[1]; ++h){
                long base = x0 + PW*((long)(y0 + h) + PH*(z0 + d));
                const float *pr = p + (long)patch[2]*(h + (long)patch[1]*d);
                for(w = 0; w < patch[2]; ++w){ score[base + w] += pr[w]; cnt[base + w] += 1; }
            }
        }
        filled = 0;
    }
    {
        int d, h, w;
        for(d = 0; d < D; ++d) for(h = 0; h < H; ++h) for(w = 0; w < W; ++w){
            long pi = (w + off[2]) + PW*((long)(h + off[1]) + PH*(d + off[0]));
            long oi = w + (long)W*(h + (long)H*d);
            prob[oi] = score[pi] / cnt[pi];   /* every voxel is covered: the last start is size - patch */
            if(count) count[oi] = cnt[pi];
        }
    }
    rc = 0;
fail:
    free(score); free(cnt); free(in); free(out); free(pos);
    for(a = 0; a < 3; ++a) free(st[a]);
    return rc;
oom:
    for(a = 0; a < 3; ++a) free(st[a]);
    snprintf(err, errlen, "sliding window: out of memory (volume %dx%dx%d, window %dx%dx%d, %d per pass)",
             D, H, W, patch[0], patch[1], patch[2], slots);
    return -1;
}

/* host copy of a layer's output (pulled from the GPU when in use) */
static float *layer_host_output(network *net, int i)
{
    layer *l = &net->layers[i];
#ifdef GPU
    if(gpu_index >= 0 && l->output_gpu) cuda_pull_array(l->output_gpu, l->output, (size_t)l->outputs*l->batch);
#else
    (void)net;
#endif
    return l->output;
}

/* layer types whose activation field is meaningful (others leave it 0, which is LOGISTIC) */
static int has_activation(LAYER_TYPE t)
{
    return t == CONVOLUTIONAL || t == DECONVOLUTIONAL || t == CONNECTED || t == ACTIVE || t == SHORTCUT ||
           (CONV3D != BLANK && t == CONV3D) || (DECONV3D != BLANK && t == DECONV3D);
}

int network_foreground_prob(network *net, int decoder, float *prob, char *err, size_t errlen)
{
    long vox = (long)net->d*net->h*net->w, b, i;
    int batch = net->batch, li;
    for(li = 0; li < net->n; ++li) if(DBISL != BLANK && net->layers[li].type == DBISL) break;
    if(li < net->n){
        layer dl = net->layers[li];
        int ndec = dl.n >= 4 ? 2 : 1, k;   /* inputs [seg_a, sdf_a(, seg_b, sdf_b)] */
        if(decoder >= ndec){
            snprintf(err, errlen, "decoder b asked, but the [dbisl] layer (layer %d) has one decoder", li);
            return -1;
        }
        int lo = decoder < 0 ? 0 : decoder, hi = decoder < 0 ? ndec - 1 : decoder;
        for(k = lo; k <= hi; ++k){
            int si = dl.input_layers[2*k];
            layer s = net->layers[si];
            if((long)s.outputs != vox){
                snprintf(err, errlen, "seg head of decoder %c (layer %d) gives %d values per sample, the input has %ld voxels",
                         'a' + k, si, s.outputs, vox);
                return -1;
            }
            const float *o = layer_host_output(net, si);
            for(i = 0; i < vox*batch; ++i){
                float p = sigmoid3d(o[i]);
                prob[i] = k == lo ? p : prob[i] + p;
            }
        }
        if(hi > lo) for(i = 0; i < vox*batch; ++i) prob[i] *= 1.f / (hi - lo + 1);
        return 0;
    }
    if(decoder > 0){
        snprintf(err, errlen, "decoder b asked, but the network has no [dbisl] layer");
        return -1;
    }
    /* the output layer: last one that is not a cost layer */
    for(li = net->n - 1; li > 0 && net->layers[li].type == COST; --li);
    layer l = net->layers[li];
    long ch = vox ? l.outputs / vox : 0;
    if(ch * vox != l.outputs || (ch != 1 && ch != 2)){
        snprintf(err, errlen, "output layer %d (%s) gives %d values per sample: expected 1 or 2 channels of %ld voxels",
                 li, get_layer_string(l.type), l.outputs, vox);
        return -1;
    }
    const float *o = layer_host_output(net, li);
    for(b = 0; b < batch; ++b){
        const float *ob = o + b*l.outputs;
        float *pb = prob + b*vox;
        if(ch == 2){
            for(i = 0; i < vox; ++i) pb[i] = sigmoid3d(ob[vox + i] - ob[i]);   /* softmax, channel 1 */
        } else {
            int is_prob = (R2S != BLANK && l.type == R2S) || l.type == LOGXENT ||
                          (has_activation(l.type) && l.activation == LOGISTIC);
            for(i = 0; i < vox; ++i) pb[i] = is_prob ? ob[i] : sigmoid3d(ob[i]);
        }
    }
    return 0;
}

typedef struct { network *net; int decoder; progress *pg; long done, total; } net_ctx;

static int net_window_fn(void *ctx, float *in, int n, int slots, float *prob, char *err, size_t errlen)
{
    net_ctx *c = ctx;
    (void)slots;
    network_predict(c->net, in);   /* train = 0 inside: dropout off, batch norm on rolling statistics */
    int r = network_foreground_prob(c->net, c->decoder, prob, err, errlen);
    c->done += n;
    progress_update(c->pg, c->done, c->total);
    return r;
}

int network_predict_volume(network *net, const float *vol, int nx, int ny, int nz, const int stride[3],
                           int decoder, float *prob, char *err, size_t errlen)
{
    return network_predict_volume_progress(net, vol, nx, ny, nz, stride, decoder, NULL, prob, err, errlen);
}

int network_predict_volume_progress(network *net, const float *vol, int nx, int ny, int nz, const int stride[3],
                                    int decoder, progress *pg, float *prob, char *err, size_t errlen)
{
    if(net->c != 1 || net->inputs != net->d*net->h*net->w){
        snprintf(err, errlen, "network input is %d x %d x %d x %d (c x d x h x w): one channel expected",
                 net->c, net->d, net->h, net->w);
        return -1;
    }
    int patch[3] = { net->d, net->h, net->w }, dim[3] = { nz, ny, nx }, a;
    net_ctx c = { net, decoder, pg, 0, 1 };
    for(a = 0; a < 3; ++a) c.total *= sw_starts(dim[a] > patch[a] ? dim[a] : patch[a], patch[a], stride[a], 0);
    return sliding_window(vol, nz, ny, nx, patch, stride, net->batch, net_window_fn, &c, prob, 0, err, errlen);
}

long largest_component(unsigned char *mask, int D, int H, int W)
{
    long HW = (long)H*W, n = (long)D*HW, i;
    int *lab = calloc(n, sizeof(int));
    long *queue = malloc(sizeof(long) * (n ? n : 1));
    if(!lab || !queue){ free(lab); free(queue); return -1; }
    int cur = 0, best = 0;
    long bestsize = 0;
    for(i = 0; i < n; ++i){
        if(!mask[i] || lab[i]) continue;
        ++cur;
        long qh = 0, qt = 0;
        queue[qt++] = i; lab[i] = cur;
        while(qh < qt){
            long v = queue[qh++];
            int d = (int)(v / HW), h = (int)((v / W) % H), w = (int)(v % W), dd, dh, dw;
            for(dd = -1; dd <= 1; ++dd) for(dh = -1; dh <= 1; ++dh) for(dw = -1; dw <= 1; ++dw){
                int a = d + dd, b = h + dh, c = w + dw;
                if(a < 0 || a >= D || b < 0 || b >= H || c < 0 || c >= W) continue;
                long u = c + W*((long)b + (long)H*a);
                if(mask[u] && !lab[u]){ lab[u] = cur; queue[qt++] = u; }
            }
        }
        if(qt > bestsize){ bestsize = qt; best = cur; }
    }
    for(i = 0; i < n; ++i) mask[i] = mask[i] && lab[i] == best;
    free(lab); free(queue);
    return bestsize;
}

int cfg_infer_stride(const char *cfg, int stride[3], char *err, size_t errlen)
{
    char v[256], extra;
    int line = 0, a, b, c;
    int r = cfg_net_value(cfg, "infer_stride", v, sizeof(v), &line, err, errlen);
    if(r <= 0) return r;
    const cfg_key *k = cfg_key_find("[net]", "infer_stride");
    if(sscanf(v, " %d , %d , %d %c", &a, &b, &c, &extra) != 3 || a < k->lo || b < k->lo || c < k->lo || a > k->hi || b > k->hi || c > k->hi){
        snprintf(err, errlen, "%s:%d: [net]: key 'infer_stride': expected three integers 'D,H,W' (z,y,x), each in [%.0f, %.0f]", cfg, line, k->lo, k->hi);
        return -1;
    }
    stride[0] = a; stride[1] = b; stride[2] = c;
    return 1;
}

/* ---------------------------------------------------------------- command line */

static int parse_stride_flag(const char *cmd, int argc, char **argv, int i, int stride[3])
{
    char err[256];
    if(arg_int3(cmd, "-stride", argc, argv, i, stride, err, sizeof(err)) == 0) return 0;
    fprintf(stderr, "error: %s\n", err);
    return -1;
}

/* -stride flag, else [net] infer_stride, else half the window (printed) */
static int resolve_stride(const char *cfg, network *net, int have_flag, int stride[3])
{
    char err[512];
    if(have_flag) return 0;
    int r = cfg_infer_stride(cfg, stride, err, sizeof(err));
    if(r < 0){ fprintf(stderr, "error: %s\n", err); return -1; }
    if(r == 0){
        stride[0] = net->d > 1 ? net->d / 2 : 1; stride[1] = net->h > 1 ? net->h / 2 : 1; stride[2] = net->w > 1 ? net->w / 2 : 1;
        fprintf(stderr, "note: no -stride and no [net] infer_stride in %s: using half the window, %d %d %d (D H W)\n",
                cfg, stride[0], stride[1], stride[2]);
    }
    return 0;
}

static int parse_decoder(const char *s)
{
    if(strcmp(s, "a") == 0) return 0;
    if(strcmp(s, "b") == 0) return 1;
    if(strcmp(s, "mean") == 0) return -1;
    return -2;
}

/* probability -> uint8 label (p > 0.5 as DTC/UA-MT), optional largest component */
static long threshold_label(const float *prob, int nx, int ny, int nz, int lcc, volume *lab, char *err, size_t errlen)
{
    if(volume_alloc(lab, nx, ny, nz) != 0){ snprintf(err, errlen, "out of memory for the label volume"); return -1; }
    long n = (long)nx*ny*nz, i;
    unsigned char *m = malloc(n ? n : 1);
    if(!m){ volume_free(lab); snprintf(err, errlen, "out of memory"); return -1; }
    for(i = 0; i < n; ++i) m[i] = prob[i] > 0.5f;
    if(lcc && largest_component(m, nz, ny, nx) < 0){ free(m); volume_free(lab); snprintf(err, errlen, "out of memory"); return -1; }
    long cnt = 0;
    for(i = 0; i < n; ++i){ lab->data[i] = m[i]; cnt += m[i]; }
    free(m);
    return cnt;
}

static int is_h5(const char *p){ size_t n = strlen(p); return n > 3 && strcmp(p + n - 3, ".h5") == 0; }

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

static int is_dir(const char *p){ struct stat st; return stat(p, &st) == 0 && S_ISDIR(st.st_mode); }

/* masks of two volumes and the metrics */
static int volume_metrics(const volume *pred, const volume *ref, seg_metrics *m, char *err, size_t errlen);

int seg3d_predict(int argc, char **argv)
{
    const char *use = "usage: ./darknet seg3d predict <cfg> <weights> <in.nii[.gz]|in.h5> <out.nii[.gz]> "
                      "[-stride D H W] [-prob out_prob.nii[.gz]] [-png out.png] [-ref label.nii[.gz]|label.h5] [-lcc] [-decoder a|b|mean] [-precision fp32|tf32]\n"
                      "       ./darknet seg3d predict <cfg> <weights> <in1> [<in2> ...] <outdir> [...]   several inputs: "
                      "<outdir>/<id>_pred.nii.gz; -prob DIR and -png DIR then name folders\n";
    if(argc < 7){ fputs(use, stderr); return 2; }
    char *cfg = argv[3], *weights = argv[4], *probpath = 0, *pngpath = 0, *refpath = 0, *precision_flag = 0;
    int stride[3], have_stride = 0, lcc = 0, decoder = -1, i, npos = 0;
    char **pos = malloc(sizeof(char *) * argc);
    if(!pos){ fprintf(stderr, "error: out of memory\n"); return 1; }
    for(i = 5; i < argc; ++i){
        if(strcmp(argv[i], "-stride") == 0){
            if(parse_stride_flag("seg3d predict", argc, argv, i, stride)){ free(pos); return 2; }
            have_stride = 1; i += 3;
        } else if(strcmp(argv[i], "-prob") == 0 && i + 1 < argc) probpath = argv[++i];
        else if(strcmp(argv[i], "-png") == 0 && i + 1 < argc) pngpath = argv[++i];
        else if(strcmp(argv[i], "-ref") == 0 && i + 1 < argc) refpath = argv[++i];
        else if(strcmp(argv[i], "-lcc") == 0) lcc = 1;
        else if(strcmp(argv[i], "-precision") == 0 && i + 1 < argc) precision_flag = argv[++i];
        else if(strcmp(argv[i], "-decoder") == 0 && i + 1 < argc){
            decoder = parse_decoder(argv[++i]);
            if(decoder == -2){ fprintf(stderr, "-decoder takes a, b or mean\n"); free(pos); return 2; }
        } else if(argv[i][0] == '-' && argv[i][1]){ fprintf(stderr, "unknown or incomplete option '%s'\n%s", argv[i], use); free(pos); return 2; }
        else pos[npos++] = argv[i];
    }
    if(npos < 2){ fprintf(stderr, "need an input and an output\n%s", use); free(pos); return 2; }
    int nin = npos - 1;
    char *out = pos[npos - 1];
    /* several inputs, or an existing folder as output: one file per case in that folder */
    int folder = nin > 1 || is_dir(out);
    if(folder && refpath){ fprintf(stderr, "-ref names the reference of a single input; give one input and an output file\n"); free(pos); return 2; }
    char err[1024];
    intensity_norm norm;
    if(intensity_read(cfg, &norm, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); free(pos); return 1; }
    char (*ids)[256] = calloc(nin, sizeof(*ids));
    if(!ids){ fprintf(stderr, "error: out of memory\n"); free(pos); return 1; }
    if(folder){
        int full, j, clash = 0;
        for(full = 0; full <= 1; ++full){
            for(i = 0; i < nin; ++i) input_id(pos[i], full, ids[i], sizeof(ids[i]));
            for(clash = 0, i = 0; i < nin && !clash; ++i) for(j = i + 1; j < nin && !clash; ++j) if(!strcmp(ids[i], ids[j])) clash = 1;
            if(!clash) break;
        }
        for(i = 0; i < nin && clash; ++i) for(j = i + 1; j < nin; ++j) if(!strcmp(ids[i], ids[j])){
            fprintf(stderr, "error: inputs %s and %s would both be written as %s/%s_pred.nii.gz\n", pos[i], pos[j], out, ids[i]);
            free(ids); free(pos); return 1;
        }
        const char *dirs[3] = { out, probpath, pngpath };
        for(i = 0; i < 3; ++i) if(dirs[i] && !is_dir(dirs[i]) && mkdir(dirs[i], 0777) != 0){
            fprintf(stderr, "error: %s: cannot create the folder\n", dirs[i]); free(ids); free(pos); return 1;
        }
    } else input_id(pos[0], 1, ids[0], sizeof(ids[0]));   /* the picture's title: folder and file name */
    char precision[96], perr[1024];
    if(darknet3d_set_precision(cfg, precision_flag, precision, sizeof(precision), perr, sizeof(perr))){ fprintf(stderr, "error: %s\n", perr); free(ids); free(pos); return 1; }
    fprintf(stderr, "precision %s\n", precision);
    network *net = load_network_checked(cfg, weights, 0);
    if(!net){ free(ids); free(pos); return 1; }
    int rc = 1;
    if(resolve_stride(cfg, net, have_stride, stride) != 0) goto done;
    progress pg;
    progress_init(&pg, nin, fileno(stderr));
    for(i = 0; i < nin; ++i){
        const char *in = pos[i];
        char opath[4096], ppath[4096], gpath[4096];
        volume v = {0}, lab = {0}, pv = {0}, ref = {0};
        int ok = 0, have_ref = 0;
        seg_metrics m;
        if(folder){
            snprintf(opath, sizeof(opath), "%s/%s_pred.nii.gz", out, ids[i]);
            if(probpath) snprintf(ppath, sizeof(ppath), "%s/%s_prob.nii.gz", probpath, ids[i]);
            if(pngpath) snprintf(gpath, sizeof(gpath), "%s/%s.png", pngpath, ids[i]);
        } else {
            snprintf(opath, sizeof(opath), "%s", out);
            if(probpath) snprintf(ppath, sizeof(ppath), "%s", probpath);
            if(pngpath) snprintf(gpath, sizeof(gpath), "%s", pngpath);
        }
        progress_case(&pg, i, ids[i]);
        if(volume_read(in, is_h5(in) ? "image" : NULL, &v, err, sizeof(err)) != 0) goto case_done;
        if(refpath){
            if(volume_read(refpath, is_h5(refpath) ? "label" : NULL, &ref, err, sizeof(err)) != 0) goto case_done;
            have_ref = 1;
        }
        intensity_apply(&norm, &v);
        if(volume_alloc(&pv, v.nx, v.ny, v.nz) != 0){ snprintf(err, sizeof(err), "out of memory"); goto case_done; }
        pv.dx = v.dx; pv.dy = v.dy; pv.dz = v.dz;
        double w0 = what_time_is_it_now();
        if(network_predict_volume_progress(net, v.data, v.nx, v.ny, v.nz, stride, decoder, &pg, pv.data, err, sizeof(err)) != 0) goto case_done;
        double secs = what_time_is_it_now() - w0;
        long fg = threshold_label(pv.data, v.nx, v.ny, v.nz, lcc, &lab, err, sizeof(err));
        if(fg < 0) goto case_done;
        lab.dx = v.dx; lab.dy = v.dy; lab.dz = v.dz;
        if(have_ref && volume_metrics(&lab, &ref, &m, err, sizeof(err)) != 0) goto case_done;
        if(volume_write(opath, &lab, &v, 1, err, sizeof(err)) != 0) goto case_done;
        if(probpath && volume_write(ppath, &pv, &v, 0, err, sizeof(err)) != 0) goto case_done;
        if(pngpath && overlay_png(gpath, &v, have_ref ? &ref : NULL, &lab, ids[i], have_ref ? m.dice : NAN, err, sizeof(err)) != 0) goto case_done;
        progress_clear(&pg);
        printf("%s: %d x %d x %d voxels, window %d x %d x %d, stride %d %d %d (D H W), %.2f s; foreground %ld voxels -> %s",
               in, v.nx, v.ny, v.nz, net->w, net->h, net->d, stride[0], stride[1], stride[2], secs, fg, opath);
        if(pngpath) printf(", %s", gpath);
        if(have_ref) printf("; dice=%.6f", m.dice);
        printf("\n");
        fflush(stdout);
        ok = 1;
case_done:
        progress_clear(&pg);
        volume_free(&v); volume_free(&lab); volume_free(&pv); volume_free(&ref);
        if(!ok){ fprintf(stderr, "error: %s: %s\n", in, err); goto done; }
    }
    rc = 0;
done:
    free_network(net);
    free(ids); free(pos);
    return rc;
}

/* masks of two volumes and the metrics; spacing of ref along (d, h, w) = (dz, dy, dx) */
static int volume_metrics(const volume *pred, const volume *ref, seg_metrics *m, char *err, size_t errlen)
{
    if(pred->nx != ref->nx || pred->ny != ref->ny || pred->nz != ref->nz){
        snprintf(err, errlen, "prediction is %d x %d x %d, reference %d x %d x %d", pred->nx, pred->ny, pred->nz, ref->nx, ref->ny, ref->nz);
        return -1;
    }
    long n = (long)ref->nx*ref->ny*ref->nz, i;
    unsigned char *a = malloc(n), *b = malloc(n);
    if(!a || !b){ free(a); free(b); snprintf(err, errlen, "out of memory"); return -1; }
    for(i = 0; i < n; ++i){ a[i] = pred->data[i] != 0; b[i] = ref->data[i] != 0; }
    float sp[3] = { ref->dz, ref->dy, ref->dx };
    int r = seg_metrics_compute(a, b, ref->nz, ref->ny, ref->nx, sp, m);
    free(a); free(b);
    if(r != 0) snprintf(err, errlen, "metrics failed (spacing %g %g %g, or out of memory)", sp[2], sp[1], sp[0]);
    return r;
}

int seg3d_metrics(int argc, char **argv)
{
    if(argc != 5){ fprintf(stderr, "usage: ./darknet seg3d metrics <pred.nii[.gz]|.h5> <ref.nii[.gz]|.h5>\n"
                                   "  masks are value != 0; spacing from the reference\n"); return 2; }
    char err[1024];
    volume p = {0}, r = {0};
    if(volume_read(argv[3], is_h5(argv[3]) ? "label" : NULL, &p, err, sizeof(err)) != 0 ||
       volume_read(argv[4], is_h5(argv[4]) ? "label" : NULL, &r, err, sizeof(err)) != 0){
        fprintf(stderr, "error: %s\n", err); volume_free(&p); return 1;
    }
    seg_metrics m;
    int rc = 1;
    if(fabsf(p.dx - r.dx) > 1e-4f*r.dx || fabsf(p.dy - r.dy) > 1e-4f*r.dy || fabsf(p.dz - r.dz) > 1e-4f*r.dz)
        fprintf(stderr, "note: spacing differs (%g %g %g vs %g %g %g): using the reference's\n", p.dx, p.dy, p.dz, r.dx, r.dy, r.dz);
    if(volume_metrics(&p, &r, &m, err, sizeof(err)) != 0){ fprintf(stderr, "error: %s vs %s: %s\n", argv[3], argv[4], err); goto done; }
    printf("pred %ld voxels, ref %ld, overlap %ld; spacing %g %g %g mm\n", m.npred, m.nref, m.ninter, r.dx, r.dy, r.dz);
    printf("dice=%.6f jaccard=%.6f hd95=%.6f asd=%.6f hd95_mm=%.6f asd_mm=%.6f\n", m.dice, m.jaccard, m.hd95, m.asd, m.hd95_mm, m.asd_mm);
    rc = 0;
done:
    volume_free(&p); volume_free(&r);
    return rc;
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

int seg3d_test(int argc, char **argv)
{
    const char *use = "usage: ./darknet seg3d test <data> <cfg> <weights> [-split valid|test|labeled|unlabeled] "
                      "[-csv out.csv] [-save_dir DIR] [-stride D H W] [-lcc] [-decoder a|b|mean] [-precision fp32|tf32]\n";
    if(argc < 6){ fputs(use, stderr); return 2; }
    char *datafile = argv[3], *cfg = argv[4], *weights = argv[5], *csvpath = 0, *save_dir = 0, *precision_flag = 0;
    int stride[3], have_stride = 0, lcc = 0, decoder = -1, split = -1, i;
    for(i = 6; i < argc; ++i){
        if(strcmp(argv[i], "-stride") == 0){
            if(parse_stride_flag("seg3d test", argc, argv, i, stride)) return 2;
            have_stride = 1; i += 3;
        } else if(strcmp(argv[i], "-csv") == 0 && i + 1 < argc) csvpath = argv[++i];
        else if(strcmp(argv[i], "-save_dir") == 0 && i + 1 < argc) save_dir = argv[++i];
        else if(strcmp(argv[i], "-lcc") == 0) lcc = 1;
        else if(strcmp(argv[i], "-precision") == 0 && i + 1 < argc) precision_flag = argv[++i];
        else if(strcmp(argv[i], "-decoder") == 0 && i + 1 < argc){
            decoder = parse_decoder(argv[++i]);
            if(decoder == -2){ fprintf(stderr, "-decoder takes a, b or mean\n"); return 2; }
        } else if(strcmp(argv[i], "-split") == 0 && i + 1 < argc){
            ++i;
            for(split = 0; split < SPLIT_N && strcmp(argv[i], dataset_split_names[split]); ++split);
            if(split == SPLIT_N){ fprintf(stderr, "-split takes valid, test, labeled or unlabeled\n"); return 2; }
        } else { fprintf(stderr, "unknown or incomplete option '%s'\n%s", argv[i], use); return 2; }
    }
    char err[1024];
    dataset *ds = dataset_load(datafile, err, sizeof(err));
    if(!ds){ fprintf(stderr, "error: %s\n", err); return 1; }
    if(split < 0) split = ds->split[SPLIT_VALID].list_path ? SPLIT_VALID : SPLIT_TEST;
    case_list *cl = &ds->split[split];
    if(!cl->list_path || cl->n == 0){
        fprintf(stderr, "error: %s: no '%s' list (or it is empty)\n", datafile, dataset_split_names[split]);
        dataset_free(ds); return 1;
    }
    intensity_norm norm;
    if(intensity_read(cfg, &norm, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); dataset_free(ds); return 1; }
    char precision[96];
    if(darknet3d_set_precision(cfg, precision_flag, precision, sizeof(precision), err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); dataset_free(ds); return 1; }
    fprintf(stderr, "precision %s\n", precision);
    network *net = load_network_checked(cfg, weights, 0);
    if(!net){ dataset_free(ds); return 1; }
    int rc = 1, nc = cl->n;
    FILE *csv = 0;
    double *res = calloc((size_t)nc * 7, sizeof(double));
    if(!res){ fprintf(stderr, "error: out of memory\n"); goto done; }
    if(resolve_stride(cfg, net, have_stride, stride) != 0) goto done;
    if(save_dir) mkdir(save_dir, 0777);
    if(csvpath){
        csv = fopen(csvpath, "w");
        if(!csv){ fprintf(stderr, "error: %s: cannot write\n", csvpath); goto done; }
        fprintf(csv, "case,dice,jaccard,hd95,asd,hd95_mm,asd_mm,seconds\n");
    }
    printf("%d cases (%s list %s), window %d x %d x %d, stride %d %d %d (D H W)%s\n", nc, dataset_split_names[split],
           cl->list_path, net->w, net->h, net->d, stride[0], stride[1], stride[2], lcc ? ", largest component" : "");
    printf("%-24s %8s %8s %8s %8s %8s %8s %8s\n", "case", "dice", "jaccard", "hd95", "asd", "hd95_mm", "asd_mm", "seconds");
    fflush(stdout);
    progress pg;
    progress_init(&pg, nc, fileno(stderr));
    for(i = 0; i < nc; ++i){
        dataset_case *c = &cl->cases[i];
        progress_case(&pg, i, c->name);
        volume img = {0}, ref = {0}, pv = {0}, lab = {0};
        seg_metrics m;
        double t0 = what_time_is_it_now();
        int ok = 0;
        if(volume_read(c->image_path, ds->h5_image, &img, err, sizeof(err)) != 0 ||
           volume_read(c->label_path, ds->h5_label, &ref, err, sizeof(err)) != 0) goto case_done;
        intensity_apply(&norm, &img);
        if(volume_alloc(&pv, img.nx, img.ny, img.nz) != 0){ snprintf(err, sizeof(err), "out of memory"); goto case_done; }
        if(network_predict_volume_progress(net, img.data, img.nx, img.ny, img.nz, stride, decoder, &pg, pv.data, err, sizeof(err)) != 0) goto case_done;
        if(threshold_label(pv.data, img.nx, img.ny, img.nz, lcc, &lab, err, sizeof(err)) < 0) goto case_done;
        lab.dx = img.dx; lab.dy = img.dy; lab.dz = img.dz;
        if(volume_metrics(&lab, &ref, &m, err, sizeof(err)) != 0) goto case_done;
        if(save_dir){
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s_pred.nii.gz", save_dir, c->name);
            if(volume_write(path, &lab, &img, 1, err, sizeof(err)) != 0) goto case_done;
            snprintf(path, sizeof(path), "%s/%s.png", save_dir, c->name);
            if(overlay_png(path, &img, &ref, &lab, c->name, m.dice, err, sizeof(err)) != 0) goto case_done;
        }
        ok = 1;
case_done:
        {
            double secs = what_time_is_it_now() - t0;
            volume_free(&img); volume_free(&ref); volume_free(&pv); volume_free(&lab);
            progress_clear(&pg);
            if(!ok){ fprintf(stderr, "error: case %s: %s\n", c->name, err); goto done; }
            double *r = res + 7*i;
            r[0] = m.dice; r[1] = m.jaccard; r[2] = m.hd95; r[3] = m.asd; r[4] = m.hd95_mm; r[5] = m.asd_mm; r[6] = secs;
            printf("%-24s %8.4f %8.4f %8.3f %8.3f %8.3f %8.3f %8.2f\n", c->name, r[0], r[1], r[2], r[3], r[4], r[5], r[6]);
            fflush(stdout);
            if(csv) fprintf(csv, "%s,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.3f\n", c->name, r[0], r[1], r[2], r[3], r[4], r[5], r[6]);
        }
    }
    {
        double mean[7], sd[7];
        int used[7], k;
        double *tmp = malloc(sizeof(double) * nc);
        if(!tmp){ fprintf(stderr, "error: out of memory\n"); goto done; }
        for(k = 0; k < 7; ++k){
            for(i = 0; i < nc; ++i) tmp[i] = res[7*i + k];
            mean_std(tmp, nc, &mean[k], &sd[k], &used[k]);
        }
        free(tmp);
        printf("%-24s", "mean +- std");
        for(k = 0; k < 7; ++k) printf(" %.4f+-%.4f", mean[k], sd[k]);
        printf("\n");
        if(used[2] < nc) printf("note: hd95/asd averaged over %d of %d cases (empty prediction or reference gives nan)\n", used[2], nc);
        printf("mean_dice=%.6f mean_jaccard=%.6f mean_hd95=%.6f mean_asd=%.6f\n", mean[0], mean[1], mean[2], mean[3]);
    }
    rc = 0;
done:
    if(csv) fclose(csv);
    free(res);
    free_network(net);
    dataset_free(ds);
    return rc;
}
