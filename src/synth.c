/* Synthetic phantom generator and the `seg3d synth` command: small CPU-trainable data sets in the LA layout with a ready .data file. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cfg_keys.h"
#include "file_publish.h"
#include "synth.h"

static uint64_t sm64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double unif(uint64_t *s, double a, double b) { return a + (b - a) * ((sm64(s) >> 11) * (1.0 / 9007199254740992.0)); }
static double gauss(uint64_t *s)
{
    double u1 = unif(s, 1e-12, 1), u2 = unif(s, 0, 1);
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

typedef struct { double c[3], r[3]; int tube; } blob;   /* tube: infinite along k (ignores c[2], r[2]) */

/* normalised squared radius: < 1 inside */
static double blob_q(const blob *b, const double p[3])
{
    double a = (p[0] - b->c[0]) / b->r[0], c = (p[1] - b->c[1]) / b->r[1];
    double q = a * a + c * c;
    if(!b->tube){ double e = (p[2] - b->c[2]) / b->r[2]; q += e * e; }
    return q;
}

static double target_q(const blob *t, int nt, const double p[3])
{
    double q = 1e30;
    int i;
    for(i = 0; i < nt; ++i){ double v = blob_q(&t[i], p); if(v < q) q = v; }
    return q;
}

/* soft edge: ~1 inside, ~0 outside, width about 1/12 of the object's radius */
static double soft(double q) { return 1 / (1 + exp(-12 * (1 - sqrt(q)))); }

void synth_case(volume *img, volume *lab, uint64_t seed)
{
    uint64_t s = seed * 0xD1B54A32D192ED03ull + 0x2545F4914F6CDD1Dull;
    int nx = img->nx, ny = img->ny, nz = img->nz;
    blob tg[3], ds[5];
    int nt = 3, nd = 0, i, k;
    double cc[3] = {unif(&s, -0.15, 0.15), unif(&s, -0.15, 0.15), unif(&s, -0.1, 0.1)};
    for(i = 0; i < nt; ++i){
        for(k = 0; k < 3; ++k){
            tg[i].c[k] = cc[k] + unif(&s, -0.15, 0.15);
            tg[i].r[k] = unif(&s, 0.2, 0.34);
        }
        tg[i].tube = 0;
    }
    int want = 2 + (int)unif(&s, 0, 3);   /* 2..4 distractors, the first a tube */
    int tries;
    for(tries = 0; nd < want && tries < 400; ++tries){
        blob b;
        b.tube = nd == 0;
        double rr = b.tube ? unif(&s, 0.08, 0.12) : unif(&s, 0.12, 0.2);
        for(k = 0; k < 3; ++k){ b.c[k] = unif(&s, -0.8, 0.8); b.r[k] = rr; }
        /* keep distractors clear of the target (and of each other) so the label is the target alone */
        int ok = 1, z;
        for(z = -4; z <= 4 && ok; ++z){
            double p[3] = {b.c[0], b.c[1], b.tube ? z / 4.0 : b.c[2]};
            double far = 1 + rr / 0.2 + 0.6;
            if(target_q(tg, nt, p) < far * far) ok = 0;
            if(!b.tube && z) break;
        }
        for(i = 0; i < nd && ok; ++i){
            double dx = b.c[0] - ds[i].c[0], dy = b.c[1] - ds[i].c[1], dz = (b.tube || ds[i].tube) ? 0 : b.c[2] - ds[i].c[2];
            if(sqrt(dx * dx + dy * dy + dz * dz) < rr + ds[i].r[0] + 0.1) ok = 0;
        }
        if(ok) ds[nd++] = b;
    }
    double inten_t = unif(&s, 0.9, 1.1), inten_d[5];
    for(i = 0; i < nd; ++i) inten_d[i] = inten_t * unif(&s, 0.93, 1.07);
    /* background texture: a few low-frequency waves */
    double w[3][4];
    for(i = 0; i < 3; ++i){ w[i][0] = unif(&s, 1, 3); w[i][1] = unif(&s, 1, 3); w[i][2] = unif(&s, 0.5, 2); w[i][3] = unif(&s, 0, 2 * M_PI); }
    double bias_a[3] = {unif(&s, -0.4, 0.4), unif(&s, -0.4, 0.4), unif(&s, -0.25, 0.25)}, bias_q = unif(&s, -0.25, 0.25);
    size_t n = (size_t)nx * ny * nz, idx = 0;
    double sum = 0, sum2 = 0;
    int x, y, z;
    for(z = 0; z < nz; ++z) for(y = 0; y < ny; ++y) for(x = 0; x < nx; ++x, ++idx){
        double p[3] = {(x + 0.5) / nx * 2 - 1, (y + 0.5) / ny * 2 - 1, (z + 0.5) / nz * 2 - 1};
        double qt = target_q(tg, nt, p);
        double m = soft(qt), v = inten_t * m;
        for(i = 0; i < nd; ++i){
            double md = soft(blob_q(&ds[i], p));
            if(md > m){ v = v * (1 - md) + inten_d[i] * md; m = md; }  /* objects do not overlap: the stronger one wins */
        }
        double bg = 0.25;
        for(i = 0; i < 3; ++i) bg += 0.06 * sin(M_PI * (w[i][0] * p[0] + w[i][1] * p[1] + w[i][2] * p[2]) + w[i][3]);
        double val = bg * (1 - m) + v;
        val *= exp(bias_a[0] * p[0] + bias_a[1] * p[1] + bias_a[2] * p[2] + bias_q * (p[0] * p[0] - p[1] * p[1]));
        val += 0.08 * gauss(&s);
        img->data[idx] = (float)val;
        lab->data[idx] = qt < 1 ? 1.f : 0.f;
        sum += val; sum2 += val * val;
    }
    double mean = sum / n, sd = sqrt(fmax(sum2 / n - mean * mean, 1e-12));
    for(idx = 0; idx < n; ++idx) img->data[idx] = (float)((img->data[idx] - mean) / sd);
}

static int mkdirs(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    char *p;
    for(p = tmp + 1; *p; ++p) if(*p == '/'){
        *p = 0;
        if(mkdir(tmp, 0755) && errno != EEXIST) return -1;
        *p = '/';
    }
    if(mkdir(tmp, 0755) && errno != EEXIST) return -1;
    return 0;
}

static int write_text(const char *path, const char *text, char *err, size_t errlen)
{
    publishing pub;
    FILE *f = publish_fopen(&pub, path, err, errlen);
    if(!f) return -1;
    fputs(text, f);
    return publish_fclose(&pub, f, err, errlen);
}

int synth_write_dataset(const char *outdir, int n, int d, int h, int w, uint64_t seed, char *err, size_t errlen)
{
    if(n < 1 || d < 1 || h < 1 || w < 1){ snprintf(err, errlen, "synth: need n >= 1 and a positive size"); return -1; }
    if(mkdirs(outdir)){ snprintf(err, errlen, "%s: cannot create: %s", outdir, strerror(errno)); return -1; }
    int nlab = n / 5 > 0 ? n / 5 : 1;
    int nval = n >= 2 ? (n / 5 > 0 ? n / 5 : 1) : 0;
    int nunl = n - nlab - nval;
    size_t cap = (size_t)n * 16 + 64;
    char *lists[3] = {calloc(cap, 1), calloc(cap, 1), calloc(cap, 1)};
    int rc = -1, i;
    volume img = {0}, lab = {0};
    if(!lists[0] || !lists[1] || !lists[2] || volume_alloc(&img, w, h, d) || volume_alloc(&lab, w, h, d)){
        snprintf(err, errlen, "synth: out of memory"); goto done;
    }
    for(i = 0; i < n; ++i){
        char name[32], dir[4096], path[4200];
        snprintf(name, sizeof(name), "case_%03d", i);
        snprintf(dir, sizeof(dir), "%s/%s", outdir, name);
        if(mkdirs(dir)){ snprintf(err, errlen, "%s: cannot create: %s", dir, strerror(errno)); goto done; }
        memset(img.data, 0, sizeof(float) * (size_t)w * h * d);
        memset(lab.data, 0, sizeof(float) * (size_t)w * h * d);
        synth_case(&img, &lab, seed * 1000003ull + (uint64_t)i);
        snprintf(path, sizeof(path), "%s/image.nii.gz", dir);
        if(volume_write(path, &img, NULL, 0, err, errlen)) goto done;
        snprintf(path, sizeof(path), "%s/label.nii.gz", dir);
        if(volume_write(path, &lab, NULL, 1, err, errlen)) goto done;
        int which = i < nlab ? 0 : i < nlab + nval ? 2 : 1;   /* 0 labeled, 1 unlabeled, 2 valid */
        strcat(lists[which], name);
        strcat(lists[which], "\n");
    }
    const char *lname[3] = {"labeled.list", "unlabeled.list", "valid.list"};
    int l;
    for(l = 0; l < 3; ++l){
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", outdir, lname[l]);
        if(lists[l][0] || l == 0){ if(write_text(path, lists[l], err, errlen)) goto done; }
        else remove(path);
    }
    char data[2048], path[4200];
    snprintf(data, sizeof(data),
             "# Synthetic phantoms made by: ./darknet seg3d synth %s %d -size %d %d %d -seed %llu\n"
             "# %d labeled, %d unlabeled, %d validation cases of %d x %d x %d voxels (depth x height x width).\n"
             "# Paths are relative to this file's folder.\n"
             "labeled = labeled.list\n%s%s"
             "root = .\n"
             "image = %%s/image.nii.gz\n"
             "label = %%s/label.nii.gz\n"
             "backup = backup\n",
             outdir, n, d, h, w, (unsigned long long)seed, nlab, nunl, nval, d, h, w,
             nunl > 0 ? "unlabeled = unlabeled.list\n" : "", nval > 0 ? "valid = valid.list\n" : "");
    snprintf(path, sizeof(path), "%s/synth.data", outdir);
    if(write_text(path, data, err, errlen)) goto done;
    rc = 0;
done:
    for(i = 0; i < 3; ++i) free(lists[i]);
    volume_free(&img);
    volume_free(&lab);
    return rc;
}

int synth_write_msd(const char *outdir, int n, int d, int h, int w, uint64_t seed, char *err, size_t errlen)
{
    if(n < 2 || d < 1 || h < 1 || w < 1){ snprintf(err, errlen, "synth -msd: need n >= 2 (training and test cases) and a positive size"); return -1; }
    static const char *task = "Dataset900_Synth";
    static const char *sub[4] = {"imagesTr", "labelsTr", "imagesTs", "labelsTs"};
    char path[4200];
    int ntest = n / 5 > 0 ? n / 5 : 1, ntr = n - ntest, i, rc = -1;
    for(i = 0; i < 4; ++i){
        snprintf(path, sizeof(path), "%s/%s/%s", outdir, task, sub[i]);
        if(mkdirs(path)){ snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno)); return -1; }
    }
    volume img = {0}, lab = {0};
    if(volume_alloc(&img, w, h, d) || volume_alloc(&lab, w, h, d)){ snprintf(err, errlen, "synth: out of memory"); goto done; }
    for(i = 0; i < n; ++i){
        int ts = i >= ntr;
        memset(img.data, 0, sizeof(float) * (size_t)w * h * d);
        memset(lab.data, 0, sizeof(float) * (size_t)w * h * d);
        synth_case(&img, &lab, seed * 1000003ull + (uint64_t)i);
        snprintf(path, sizeof(path), "%s/%s/%s/synth_%03d_0000.nii.gz", outdir, task, sub[2 * ts], i);
        if(volume_write(path, &img, NULL, 0, err, errlen)) goto done;
        snprintf(path, sizeof(path), "%s/%s/%s/synth_%03d.nii.gz", outdir, task, sub[2 * ts + 1], i);
        if(volume_write(path, &lab, NULL, 1, err, errlen)) goto done;
    }
    char text[1024];
    snprintf(text, sizeof(text),
             "{\n  \"name\": \"Synth\",\n  \"description\": \"synthetic phantoms: ./darknet seg3d synth <outdir> %d -size %d %d %d -seed %llu -msd\",\n"
             "  \"channel_names\": {\"0\": \"MRI\"},\n  \"labels\": {\"background\": 0, \"phantom\": 1},\n"
             "  \"numTraining\": %d,\n  \"file_ending\": \".nii.gz\"\n}\n",
             n, d, h, w, (unsigned long long)seed, ntr);
    snprintf(path, sizeof(path), "%s/%s/dataset.json", outdir, task);
    if(write_text(path, text, err, errlen)) goto done;
    snprintf(text, sizeof(text), "msd = %s\ntest = imagesTs\n", task);
    snprintf(path, sizeof(path), "%s/msd.data", outdir);
    if(write_text(path, text, err, errlen)) goto done;
    rc = 0;
done:
    volume_free(&img);
    volume_free(&lab);
    return rc;
}

int synth_main(int argc, char **argv)
{
    const char *use = "usage: ./darknet seg3d synth <outdir> <n> [-size D H W] [-seed S] [-msd]\n"
                      "  writes n phantom cases (default 32 x 48 x 48, depth x height x width), lists and <outdir>/synth.data;\n"
                      "  -msd: in the nnU-Net raw / Decathlon layout instead (<outdir>/Dataset900_Synth, n >= 2) with <outdir>/msd.data\n";
    if(argc < 5){ fputs(use, stderr); return 2; }
    const char *outdir = argv[3];
    long long n, seed = 1;
    int size[3] = {32, 48, 48}, i, msd = 0;
    char err[1024];
    if(arg_long("seg3d synth", "<n>", argv[4], &n, err, sizeof(err))){ fprintf(stderr, "error: %s\n%s", err, use); return 2; }
    for(i = 5; i < argc; ++i){
        if(!strcmp(argv[i], "-msd")){ msd = 1; continue; }
        if(!strcmp(argv[i], "-size")){
            if(arg_int3("seg3d synth", "-size", argc, argv, i, size, err, sizeof(err))){ fprintf(stderr, "error: %s\n%s", err, use); return 2; }
            i += 3;
        } else if(!strcmp(argv[i], "-seed")){
            if(i + 1 >= argc || arg_long("seg3d synth", "-seed", argv[i + 1], &seed, err, sizeof(err))){
                fprintf(stderr, "error: %s\n%s", i + 1 >= argc ? "seg3d synth -seed: needs a value" : err, use); return 2;
            }
            i += 1;
        } else { fprintf(stderr, "error: seg3d synth: unknown option '%s'\n%s", argv[i], use); return 2; }
    }
    if(msd){
        if(n < 2){ fprintf(stderr, "error: seg3d synth: -msd needs n >= 2 (training and test cases)\n%s", use); return 2; }
        if(synth_write_msd(outdir, (int)n, size[0], size[1], size[2], (uint64_t)seed, err, sizeof(err))){ fprintf(stderr, "error: %s\n", err); return 1; }
        printf("wrote %lld cases of %d x %d x %d to %s/Dataset900_Synth; data file %s/msd.data\n", n, size[0], size[1], size[2], outdir, outdir);
        return 0;
    }
    if(synth_write_dataset(outdir, (int)n, size[0], size[1], size[2], (uint64_t)seed, err, sizeof(err))){
        fprintf(stderr, "error: %s\n", err); return 1;
    }
    printf("wrote %lld cases of %d x %d x %d to %s; data file %s/synth.data\n", n, size[0], size[1], size[2], outdir, outdir);
    return 0;
}
