/* Tests of src/dataset.c: .data parsing (every key, relative paths, strict errors), lists, the volume cache, and the synthetic data set writer. */
#include <sys/stat.h>
#include <unistd.h>
#include "testlib.h"
#include "dataset.h"
#include "synth.h"
#include "volume_io.h"

#define OUT "tests/out/dataset"

static void mkout(void) { mkdir("tests/out", 0755); mkdir(OUT, 0755); mkdir(OUT "/sub", 0755); mkdir(OUT "/sub/cases", 0755); }

static void put(const char *path, const char *text) { CHECK(write_text(path, text) == 0); }

static void test_pattern(void)
{
    char out[64];
    CHECK(dataset_expand_pattern("%s/image.nii.gz", "A1", out, sizeof(out)) == 0 && !strcmp(out, "A1/image.nii.gz"));
    CHECK(dataset_expand_pattern("x%%_%s.h5", "B", out, sizeof(out)) == 0 && !strcmp(out, "x%_B.h5"));
    CHECK(dataset_expand_pattern("image.nii.gz", "A", out, sizeof(out)) == -1);      /* no %s */
    CHECK(dataset_expand_pattern("%s/%s.nii", "A", out, sizeof(out)) == -1);         /* two */
    CHECK(dataset_expand_pattern("%d/x.nii", "A", out, sizeof(out)) == -1);          /* other conversion */
    CHECK(dataset_expand_pattern("%s/a_very_long_name.nii.gz", "A", out, 8) == -1);  /* too long */
}

static void test_parse_all_keys(void)
{
    mkout();
    put(OUT "/sub/lab.list", "# labeled cases\nc1\n  c2  \n\nc3\n");
    put(OUT "/sub/unl.list", "u1\nu2\n");
    put(OUT "/sub/val.list", "v1\n");
    put(OUT "/sub/test.list", "t1\nt2\n");
    put(OUT "/sub/all.data",
        "# comment\n; also a comment\n"
        "labeled = lab.list\n"
        "unlabeled=unl.list\n"
        "  valid   =   val.list  \n"
        "test = test.list\n"
        "root = cases\n"
        "image = %s/image.nii.gz\n"
        "label = %s/label.nii.gz\n"
        "backup = /tmp/somewhere/backup\n"
        "h5_image = img\n"
        "h5_label = seg\n"
        "labeled_per_batch = 3\n");
    char err[1024];
    dataset *ds = dataset_load(OUT "/sub/all.data", err, sizeof(err));
    CHECK_MSG(ds != NULL, "%s", err);
    if(!ds) return;
    CHECK(ds->split[SPLIT_LABELED].n == 3 && ds->split[SPLIT_UNLABELED].n == 2);
    CHECK(ds->split[SPLIT_VALID].n == 1 && ds->split[SPLIT_TEST].n == 2);
    CHECK(!strcmp(ds->split[SPLIT_LABELED].cases[1].name, "c2"));
    CHECK_MSG(!strcmp(ds->root, OUT "/sub/cases"), "root %s", ds->root);
    CHECK_MSG(!strcmp(ds->split[SPLIT_LABELED].cases[2].image_path, OUT "/sub/cases/c3/image.nii.gz"), "%s",
              ds->split[SPLIT_LABELED].cases[2].image_path);
    CHECK(!strcmp(ds->split[SPLIT_TEST].cases[1].label_path, OUT "/sub/cases/t2/label.nii.gz"));
    CHECK(!strcmp(ds->split[SPLIT_VALID].list_path, OUT "/sub/val.list"));
    CHECK(!strcmp(ds->backup, "/tmp/somewhere/backup"));
    CHECK(!strcmp(ds->h5_image, "img") && !strcmp(ds->h5_label, "seg"));
    CHECK(ds->labeled_per_batch == 3);
    dataset_free(ds);

    /* minimal file: defaults; absolute root; supervised (no unlabeled) */
    char text[1024], cwd[512];
    CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
    snprintf(text, sizeof(text), "labeled = lab.list\nimage = %%s.h5\nlabel = %%s.h5\nroot = %s/" OUT "/sub\n", cwd);
    put(OUT "/sub/min.data", text);
    ds = dataset_load(OUT "/sub/min.data", err, sizeof(err));
    CHECK_MSG(ds != NULL, "%s", err);
    if(!ds) return;
    CHECK(ds->split[SPLIT_UNLABELED].n == 0 && ds->split[SPLIT_UNLABELED].list_path == NULL);
    char expect[1024];
    snprintf(expect, sizeof(expect), "%s/" OUT "/sub/c1.h5", cwd);
    CHECK_MSG(!strcmp(ds->split[SPLIT_LABELED].cases[0].image_path, expect), "%s", ds->split[SPLIT_LABELED].cases[0].image_path);
    CHECK(!strcmp(ds->backup, OUT "/sub/backup"));
    CHECK(!strcmp(ds->h5_image, "image") && !strcmp(ds->h5_label, "label"));
    CHECK(ds->labeled_per_batch == 0);
    dataset_free(ds);
}

/* each bad file must fail with an error naming the file (and the line where there is one) */
static void test_parse_errors(void)
{
    mkout();
    put(OUT "/sub/lab.list", "c1\nc2\n");
    put(OUT "/sub/empty.list", "# nothing\n\n");
    put(OUT "/sub/spaces.list", "c1 c2\n");
    struct { const char *text; const char *expect; } cases[] = {
        {"labeled = lab.list\nimage = %s/i.nii\nlabel = %s/l.nii\nlabels = x\n", "bad.data:4: unknown key 'labels'"},
        {"labeled = lab.list\nimage = %s/i.nii\nlabel = %s/l.nii\nlabeled = lab.list\n", "bad.data:4: key 'labeled' given twice (first on line 1)"},
        {"labeled = lab.list\nimage = %s/i.nii\nlabel %s/l.nii\n", "bad.data:3: expected 'key = value'"},
        {"labeled = \nimage = %s/i.nii\nlabel = %s/l.nii\n", "bad.data:1: key 'labeled': empty value"},
        {"image = %s/i.nii\nlabel = %s/l.nii\n", "bad.data: missing required key 'labeled'"},
        {"labeled = lab.list\nlabel = %s/l.nii\n", "bad.data: missing required key 'image'"},
        {"labeled = lab.list\nimage = i.nii\nlabel = %s/l.nii\n", "bad.data:2: key 'image': pattern 'i.nii' must contain exactly one %s"},
        {"labeled = lab.list\nimage = %s/i.nii\nlabel = %s/%s.nii\n", "bad.data:3: key 'label'"},
        {"labeled = lab.list\nimage = %s/i.nii\nlabel = %s/l.nii\nlabeled_per_batch = two\n", "bad.data:4: key 'labeled_per_batch': 'two' is not a positive integer"},
        {"labeled = lab.list\nimage = %s/i.nii\nlabel = %s/l.nii\nlabeled_per_batch = 0\n", "bad.data:4: key 'labeled_per_batch'"},
        {"labeled = lab.list\nunlabeled = nope.list\nimage = %s/i.nii\nlabel = %s/l.nii\n", "bad.data:2: key 'unlabeled': list 'tests/out/dataset/sub/nope.list': cannot open"},
        {"labeled = empty.list\nimage = %s/i.nii\nlabel = %s/l.nii\n", "bad.data:1: key 'labeled': list 'tests/out/dataset/sub/empty.list' holds no cases"},
        {"labeled = spaces.list\nimage = %s/i.nii\nlabel = %s/l.nii\n", "spaces.list:1: 'c1 c2': one case id per line"},
    };
    int i;
    char err[1024];
    for(i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); ++i){
        put(OUT "/sub/bad.data", cases[i].text);
        dataset *ds = dataset_load(OUT "/sub/bad.data", err, sizeof(err));
        CHECK_MSG(ds == NULL, "case %d accepted", i);
        if(ds){ dataset_free(ds); continue; }
        CHECK_MSG(strstr(err, cases[i].expect) != NULL, "case %d: got '%s', want '%s'", i, err, cases[i].expect);
    }
    CHECK(dataset_load(OUT "/sub/none.data", err, sizeof(err)) == NULL && strstr(err, "none.data: cannot open"));
}

/* the cache reads a case once, checks label shape and values, and counts its bytes */
static void test_cache(void)
{
    mkout();
    char err[1024];
    mkdir(OUT "/sub/cases/c1", 0755); mkdir(OUT "/sub/cases/c2", 0755); mkdir(OUT "/sub/cases/c3", 0755);
    volume a, l, bad;
    CHECK(volume_alloc(&a, 5, 4, 3) == 0 && volume_alloc(&l, 5, 4, 3) == 0 && volume_alloc(&bad, 5, 4, 2) == 0);
    int i;
    for(i = 0; i < 60; ++i){ a.data[i] = i * 0.5f; l.data[i] = (float)(i % 2); }
    CHECK(volume_write(OUT "/sub/cases/c1/image.nii.gz", &a, NULL, 0, err, sizeof(err)) == 0);
    CHECK(volume_write(OUT "/sub/cases/c1/label.nii.gz", &l, NULL, 1, err, sizeof(err)) == 0);
    CHECK(volume_write(OUT "/sub/cases/c2/image.nii.gz", &a, NULL, 0, err, sizeof(err)) == 0);
    CHECK(volume_write(OUT "/sub/cases/c2/label.nii.gz", &bad, NULL, 1, err, sizeof(err)) == 0);   /* wrong shape */
    CHECK(volume_write(OUT "/sub/cases/c3/image.nii.gz", &a, NULL, 0, err, sizeof(err)) == 0);
    l.data[7] = 0.5f;
    CHECK(volume_write(OUT "/sub/cases/c3/label.nii.gz", &l, NULL, 0, err, sizeof(err)) == 0);     /* float, non-integer */
    put(OUT "/sub/cache.list", "c1\nc2\nc3\nc4\n");
    put(OUT "/sub/cache.data", "labeled = cache.list\nroot = cases\nimage = %s/image.nii.gz\nlabel = %s/label.nii.gz\n");
    dataset *ds = dataset_load(OUT "/sub/cache.data", err, sizeof(err));
    CHECK_MSG(ds != NULL, "%s", err);
    if(!ds) return;
    dataset_case *c = ds->split[SPLIT_LABELED].cases;
    CHECK_MSG(dataset_case_load(ds, &c[0], 0, err, sizeof(err)) == 0, "%s", err);
    CHECK(c[0].image && !c[0].label && c[0].loaded && ds->cache_bytes == 60 * 4);
    float *first = c[0].image;
    CHECK_MSG(dataset_case_load(ds, &c[0], 1, err, sizeof(err)) == 0, "%s", err);
    CHECK(c[0].image == first && c[0].label && ds->cache_bytes == 60 * 5);   /* image not read again */
    CHECK(c[0].nx == 5 && c[0].ny == 4 && c[0].nz == 3 && c[0].image[59] == 29.5f && c[0].label[59] == 1 && c[0].label[58] == 0);
    CHECK(dataset_case_load(ds, &c[1], 1, err, sizeof(err)) == -1 && strstr(err, "c2/label.nii.gz") && strstr(err, "5 x 4 x 2"));
    CHECK(dataset_case_load(ds, &c[2], 1, err, sizeof(err)) == -1 && strstr(err, "c3/label.nii.gz") && strstr(err, "not an integer"));
    CHECK(dataset_case_load(ds, &c[3], 1, err, sizeof(err)) == -1 && strstr(err, "c4/image.nii.gz"));
    CHECK(dataset_preload(ds, SPLIT_LABELED, err, sizeof(err)) == -1);
    dataset_case_unload(ds, &c[0]);
    CHECK(!c[0].image && !c[0].loaded);
    size_t left = ds->cache_bytes;
    CHECK_MSG(left == 0, "cache bytes %zu", left);   /* a case whose label fails is not cached at all */
    dataset_free(ds);
    volume_free(&a); volume_free(&l); volume_free(&bad);
}

/* the synth writer produces a .data usable as is, with labels on the target only */
static void test_synth_dataset(void)
{
    mkout();
    char err[1024];
    CHECK_MSG(synth_write_dataset(OUT "/synth", 6, 12, 20, 16, 7, err, sizeof(err)) == 0, "%s", err);
    dataset *ds = dataset_load(OUT "/synth/synth.data", err, sizeof(err));
    CHECK_MSG(ds != NULL, "%s", err);
    if(!ds) return;
    CHECK(ds->split[SPLIT_LABELED].n == 1 && ds->split[SPLIT_VALID].n == 1 && ds->split[SPLIT_UNLABELED].n == 4);
    int s;
    for(s = 0; s < SPLIT_N; ++s) if(ds->split[s].n)
        CHECK_MSG(dataset_preload(ds, s == SPLIT_UNLABELED ? SPLIT_VALID : s, err, sizeof(err)) == 0, "%s", err);
    dataset_case *c = &ds->split[SPLIT_LABELED].cases[0];
    CHECK(c->nx == 16 && c->ny == 20 && c->nz == 12);
    size_t n = (size_t)c->nx * c->ny * c->nz, i, fg = 0;
    double mean = 0, m_in = 0, m_out = 0;
    for(i = 0; i < n; ++i){ mean += c->image[i]; fg += c->label[i]; if(c->label[i]) m_in += c->image[i]; else m_out += c->image[i]; }
    mean /= n;
    CHECK_NEAR(mean, 0, 1e-3);   /* z-scored */
    CHECK_MSG(fg > n / 50 && fg < n / 2, "foreground %zu of %zu", fg, n);
    CHECK(m_in / fg > m_out / (n - fg) + 0.5);   /* the target is brighter than the average background */
    /* same seed -> same data */
    volume a, b, la, lb;
    volume_alloc(&a, 16, 20, 12); volume_alloc(&la, 16, 20, 12); volume_alloc(&b, 16, 20, 12); volume_alloc(&lb, 16, 20, 12);
    synth_case(&a, &la, 99); synth_case(&b, &lb, 99);
    CHECK(!memcmp(a.data, b.data, n * 4) && !memcmp(la.data, lb.data, n * 4));
    synth_case(&b, &lb, 100);
    CHECK(memcmp(a.data, b.data, n * 4) != 0);
    volume_free(&a); volume_free(&b); volume_free(&la); volume_free(&lb);
    dataset_free(ds);
}

int main(void)
{
    RUN(test_pattern);
    RUN(test_parse_all_keys);
    RUN(test_parse_errors);
    RUN(test_cache);
    RUN(test_synth_dataset);
    TEST_MAIN_END();
}
