#!/usr/bin/env python3
"""Collects the runs of scripts/la_ablation / scripts/la_curve into one CSV (a row per run) and draws Dice against
training iterations per variant (mean over seeds, seed spread as a band and one dot per seed) into a PNG with cairo.
Standard library only; cairo is reached through ctypes (libcairo2, which the darknet build links).
usage: la_curve_plot.py collect <out dir> <curve.csv>
       la_curve_plot.py plot <curve.csv> <curve.png> [--title TEXT]
       la_curve_plot.py paired <curve.csv>[+<more.csv> ...] <baseline variant> <variant> [column ...]
         (several CSVs joined by +, e.g. the curve's and a sweep's, are read as one) per schedule length both variants have: each side's values by seed with mean ± std, and the paired
         difference (variant - baseline) seed by seed with its mean ± std and, from 2 seeds on, the paired t test
         (t, two-sided p, 95% confidence interval of the mean difference); columns valid_dice unlabeled_dice
         valid_hd95 valid_asd valid_lcc_dice by default, those the CSV has (nan values are left out, and so are their seeds)"""
import csv
import ctypes
import ctypes.util
import math
import os
import re
import sys

SPLITS = ("valid", "unlabeled", "valid_lcc", "unlabeled_lcc")
METRICS = ("dice", "hd95", "asd")
COLUMNS = ["variant", "iterations", "seed", "status", "train_seconds"] + \
          ["%s_%s" % (s, m) for s in SPLITS for m in METRICS]


def fail(msg):
    sys.stderr.write("error: %s\n" % msg)
    sys.exit(1)


def collect(out_dir, csv_path):
    """One row per runs/<name>-seed<S>/ that has a result.txt: variant = name without a trailing _<digits>,
    iterations = the iterations trained (train.err's max_batches, else the run cfg's)."""
    runs = os.path.join(out_dir, "runs")
    if not os.path.isdir(runs):
        fail("%s: no runs/ folder (scripts/la_ablation writes one)" % out_dir)
    rows = []
    for d in sorted(os.listdir(runs)):
        m = re.match(r"^(.+)-seed(\d+)$", d)
        res = os.path.join(runs, d, "result.txt")
        if not m or not os.path.isfile(res):
            continue
        name, seed = m.group(1), int(m.group(2))
        variant = re.sub(r"_\d+$", "", name)
        iters = None
        err = os.path.join(runs, d, "train.err")
        if os.path.isfile(err):
            for line in open(err, errors="replace"):
                mm = re.search(r"max_batches (\d+)", line)
                if mm:
                    iters = int(mm.group(1))
                    break
        cfg = os.path.join(runs, d, name + ".cfg")
        if iters is None and os.path.isfile(cfg):
            for line in open(cfg):
                if line.startswith("max_batches="):
                    iters = int(line.split("=", 1)[1])
                    break
        if iters is None:
            fail("%s: neither train.err nor %s.cfg says how many iterations it trained" % (os.path.join(runs, d), name))
        f = open(res).read().split()
        row = {"variant": variant, "iterations": iters, "seed": seed,
               "status": f[7] if len(f) > 7 else "unknown", "train_seconds": f[6] if len(f) > 6 else "nan"}
        for c in COLUMNS[5:]:
            row[c] = "nan"
        met = os.path.join(runs, d, "metrics.txt")
        if os.path.isfile(met):
            for line in open(met):
                t = line.split()
                if len(t) < 8:
                    continue
                split = t[0] + ("_lcc" if t[1] == "lcc" else "")
                if split in SPLITS:
                    row[split + "_dice"], row[split + "_hd95"], row[split + "_asd"] = t[2], t[4], t[5]
        else:                              # runs from before metrics.txt: valid Dice/HD95/ASD and unlabeled Dice
            row["valid_dice"], row["valid_hd95"], row["valid_asd"] = f[2], f[3], f[4]
            row["unlabeled_dice"] = f[5]
        rows.append(row)
    if not rows:
        fail("%s: no finished runs (runs/<name>-seed<S>/result.txt)" % runs)
    rows.sort(key=lambda r: (r["variant"], r["iterations"], r["seed"]))
    with open(csv_path, "w", newline="") as fp:
        w = csv.DictWriter(fp, COLUMNS)
        w.writeheader()
        w.writerows(rows)
    print("wrote %s: %d runs, variants %s" % (csv_path, len(rows), " ".join(sorted({r["variant"] for r in rows}))))


def number(s):
    try:
        v = float(s)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


# colours of the variants, in order of first appearance (8-bit RGB; tests look for them)
PALETTE = [(0, 0, 0), (214, 39, 40), (31, 119, 180), (44, 160, 44), (148, 103, 189), (255, 127, 14),
           (140, 86, 75), (227, 119, 194)]


class Cairo:
    """The few cairo calls the plot needs, through ctypes."""

    def __init__(self, w, h):
        name = ctypes.util.find_library("cairo") or "libcairo.so.2"
        try:
            self.lib = lib = ctypes.CDLL(name)
        except OSError as e:
            fail("cannot load cairo (%s): install libcairo2 (%s)" % (name, e))
        lib.cairo_image_surface_create.restype = ctypes.c_void_p
        lib.cairo_create.restype = ctypes.c_void_p
        lib.cairo_create.argtypes = [ctypes.c_void_p]
        for fn in ("cairo_move_to", "cairo_line_to", "cairo_translate"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_double, ctypes.c_double]
        lib.cairo_set_source_rgba.argtypes = [ctypes.c_void_p] + [ctypes.c_double] * 4
        lib.cairo_rectangle.argtypes = [ctypes.c_void_p] + [ctypes.c_double] * 4
        lib.cairo_arc.argtypes = [ctypes.c_void_p] + [ctypes.c_double] * 5
        lib.cairo_set_line_width.argtypes = [ctypes.c_void_p, ctypes.c_double]
        lib.cairo_set_font_size.argtypes = [ctypes.c_void_p, ctypes.c_double]
        lib.cairo_rotate.argtypes = [ctypes.c_void_p, ctypes.c_double]
        lib.cairo_set_dash.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_double), ctypes.c_int, ctypes.c_double]
        lib.cairo_select_font_face.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
        lib.cairo_show_text.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.cairo_text_extents.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_double * 6)]
        lib.cairo_surface_write_to_png.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        for fn in ("cairo_fill", "cairo_stroke", "cairo_save", "cairo_restore", "cairo_new_path", "cairo_close_path",
                   "cairo_destroy"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p]
        lib.cairo_surface_destroy.argtypes = [ctypes.c_void_p]
        self.surface = lib.cairo_image_surface_create(1, w, h)    # CAIRO_FORMAT_RGB24
        self.cr = lib.cairo_create(self.surface)
        lib.cairo_select_font_face(self.cr, b"DejaVu Sans", 0, 0)

    def colour(self, rgb, alpha=1.0):
        self.lib.cairo_set_source_rgba(self.cr, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0, alpha)

    def rect(self, x, y, w, h, rgb, alpha=1.0):
        self.colour(rgb, alpha)
        self.lib.cairo_rectangle(self.cr, x, y, w, h)
        self.lib.cairo_fill(self.cr)

    def line(self, pts, rgb, width=1.0, dash=None):
        self.colour(rgb)
        self.lib.cairo_set_line_width(self.cr, width)
        if dash:
            arr = (ctypes.c_double * len(dash))(*dash)
            self.lib.cairo_set_dash(self.cr, arr, len(dash), 0)
        self.lib.cairo_move_to(self.cr, *pts[0])
        for p in pts[1:]:
            self.lib.cairo_line_to(self.cr, *p)
        self.lib.cairo_stroke(self.cr)
        if dash:
            self.lib.cairo_set_dash(self.cr, None, 0, 0)

    def polygon(self, pts, rgb, alpha):
        self.colour(rgb, alpha)
        self.lib.cairo_move_to(self.cr, *pts[0])
        for p in pts[1:]:
            self.lib.cairo_line_to(self.cr, *p)
        self.lib.cairo_close_path(self.cr)
        self.lib.cairo_fill(self.cr)

    def dot(self, x, y, r, rgb):
        self.colour(rgb)
        self.lib.cairo_new_path(self.cr)
        self.lib.cairo_arc(self.cr, x, y, r, 0, 2 * math.pi)
        self.lib.cairo_fill(self.cr)

    def text(self, x, y, s, size=13, rgb=(0, 0, 0), anchor="left", rotate=False, max_width=None):
        """Draws s at (x, y); a text wider than max_width is drawn smaller until it fits."""
        b = s.encode("utf-8")
        ext = (ctypes.c_double * 6)()
        while True:
            self.lib.cairo_set_font_size(self.cr, size)
            self.lib.cairo_text_extents(self.cr, b, ctypes.byref(ext))
            w = ext[4]
            if max_width is None or w <= max_width or size <= 6:
                break
            size *= 0.95
        dx = {"left": 0, "center": -w / 2, "right": -w}[anchor]
        self.colour(rgb)
        self.lib.cairo_save(self.cr)
        self.lib.cairo_translate(self.cr, x, y)
        if rotate:
            self.lib.cairo_rotate(self.cr, -math.pi / 2)
        self.lib.cairo_move_to(self.cr, dx, 0)
        self.lib.cairo_show_text(self.cr, b)
        self.lib.cairo_restore(self.cr)

    def save(self, path):
        rc = self.lib.cairo_surface_write_to_png(self.surface, path.encode())
        self.lib.cairo_destroy(self.cr)
        self.lib.cairo_surface_destroy(self.surface)
        if rc != 0:
            fail("%s: cannot write the PNG (cairo status %d)" % (path, rc))


def plot(csv_path, png_path, title=None):
    try:
        rows = list(csv.DictReader(open(csv_path, newline="")))
    except OSError as e:
        fail("%s: %s" % (csv_path, e.strerror))
    if not rows or "variant" not in rows[0] or "iterations" not in rows[0]:
        fail("%s: no runs (a CSV of la_curve_plot.py collect: variant,iterations,seed,...,valid_dice,...)" % csv_path)
    panels = [(s, lab) for s, lab in (("valid_dice", "valid_16"), ("unlabeled_dice", "unlabeled_48"))
              if s in rows[0] and any(number(r[s]) is not None for r in rows)]
    if not panels:
        fail("%s: no Dice values (valid_dice, unlabeled_dice) to draw" % csv_path)
    variants = []
    for r in rows:
        if r["variant"] not in variants:
            variants.append(r["variant"])
    iters = sorted({int(r["iterations"]) for r in rows})
    # data[col][variant][iterations] = [Dice per seed]
    data = {}
    for col, _ in panels:
        data[col] = {v: {} for v in variants}
        for r in rows:
            y = number(r[col])
            if y is not None:
                data[col][r["variant"]].setdefault(int(r["iterations"]), []).append(y)
    ys = [y for col, _ in panels for v in variants for lst in data[col][v].values() for y in lst]
    lo = max(0.0, math.floor(min(ys) * 20 - 0.5) / 20)
    hi = min(1.0, math.ceil(max(ys) * 20 + 0.5) / 20)
    if hi - lo < 0.1:
        lo, hi = max(0.0, hi - 0.1), max(hi, 0.1)
    PW, PH, ML, MR, MT, MB = 520, 380, 70, 20, 60, 60
    LEG = 150
    W, H = len(panels) * (ML + PW + MR) + LEG, MT + PH + MB
    c = Cairo(W, H)
    c.rect(0, 0, W, H, (255, 255, 255))
    lx = [math.log2(i) for i in iters]
    x0, x1 = (lx[0] - 0.3, lx[-1] + 0.3) if len(lx) > 1 else (lx[0] - 1, lx[0] + 1)
    seeds_of = {v: sorted({r["seed"] for r in rows if r["variant"] == v}) for v in variants}
    c.text(W / 2, 24, title or "Dice at the final checkpoint against training iterations (mean over seeds; band: min-max "
           "over seeds; dots: seeds)", 14, anchor="center", max_width=W - 20)
    for p, (col, lab) in enumerate(panels):
        ox = p * (ML + PW + MR) + ML

        def X(it):
            return ox + (math.log2(it) - x0) / (x1 - x0) * PW

        def Y(v):
            return MT + PH - (v - lo) / (hi - lo) * PH
        c.rect(ox, MT, PW, PH, (250, 250, 250))
        k = 0
        while lo + k * 0.05 <= hi + 1e-9:
            v = lo + k * 0.05
            c.line([(ox, Y(v)), (ox + PW, Y(v))], (225, 225, 225), 1)
            c.text(ox - 8, Y(v) + 4, "%.2f" % v, 11, anchor="right")
            k += 1
        for it in iters:
            c.line([(X(it), MT), (X(it), MT + PH)], (235, 235, 235), 1)
            c.text(X(it), MT + PH + 18, str(it), 11, anchor="center")
        c.line([(ox, MT), (ox, MT + PH), (ox + PW, MT + PH)], (80, 80, 80), 1.2)
        c.text(ox + PW / 2, MT + PH + 42, "training iterations (log scale)", 12, anchor="center")
        c.text(ox + PW / 2, MT - 10, "%s Dice" % lab, 13, anchor="center")
        c.text(ox - 50, MT + PH / 2, "Dice", 12, anchor="center", rotate=True)
        for vi, v in enumerate(variants):
            rgb = PALETTE[vi % len(PALETTE)]
            pts = sorted(data[col][v].items())
            if not pts:
                continue
            band = [(X(it), Y(max(s))) for it, s in pts] + [(X(it), Y(min(s))) for it, s in reversed(pts)]
            if len(pts) > 1:
                c.polygon(band, rgb, 0.15)
            else:
                it, s = pts[0]
                c.line([(X(it), Y(min(s))), (X(it), Y(max(s)))], rgb, 2)
            mean = [(X(it), Y(sum(s) / len(s))) for it, s in pts]
            if len(mean) > 1:
                c.line(mean, rgb, 2.2)
            for it, s in pts:
                for y in s:
                    c.dot(X(it), Y(y), 2.5, rgb)
            for x, y in mean:
                c.dot(x, y, 5, rgb)
    lx0 = len(panels) * (ML + PW + MR) + 5
    c.text(lx0, MT + 4, "variant (seeds)", 12)
    for vi, v in enumerate(variants):
        rgb = PALETTE[vi % len(PALETTE)]
        y = MT + 26 + vi * 24
        c.rect(lx0, y - 9, 22, 10, rgb)
        c.text(lx0 + 30, y, "%s (%d)" % (v, len(seeds_of[v])), 12)
    c.save(png_path)
    print("wrote %s: %d variants, iterations %s, panels %s" % (png_path, len(variants), " ".join(map(str, iters)),
                                                            " ".join(lab for _, lab in panels)))


def mean_sd(xs):
    """the mean and the sample standard deviation (None for one value)"""
    m = sum(xs) / len(xs)
    return m, (math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else None)


def mean_std(xs, signed=False):
    """mean ± sample std; signed: the mean of a difference, with its sign also when positive"""
    m, sd = mean_sd(xs)
    f = "%+.3f" if signed else "%.3f"
    return f % m if sd is None else (f + " ± %.3f") % (m, sd)


def t_cdf(t, df):
    """Student's t distribution function with df degrees of freedom: Simpson's rule over the density from 0 to |t|
    (4000 panels; the density is smooth and bounded, so the error is far below the printed digits)"""
    c = math.exp(math.lgamma((df + 1) / 2.0) - math.lgamma(df / 2.0)) / math.sqrt(df * math.pi)
    pdf = lambda x: c * (1 + x * x / df) ** (-(df + 1) / 2.0)
    a, n = abs(t), 4000
    h = a / n
    area = (pdf(0) + pdf(a) + sum((4 if k % 2 else 2) * pdf(k * h) for k in range(1, n))) * h / 3
    return 0.5 + area if t >= 0 else 0.5 - area


def t_quantile(q, df):
    """the t value with t_cdf(t, df) = q, for 0.5 <= q < 1: Newton's method on the distribution function (its
    derivative is the density, which is positive and falls monotonically for t >= 0, so the steps from t = 0 never
    overshoot), stopped when a step moves t by less than 1e-12"""
    c = math.exp(math.lgamma((df + 1) / 2.0) - math.lgamma(df / 2.0)) / math.sqrt(df * math.pi)
    t = 0.0
    for _ in range(100):
        step = (q - t_cdf(t, df)) / (c * (1 + t * t / df) ** (-(df + 1) / 2.0))
        t += step
        if abs(step) < 1e-12:
            break
    return t


def paired_test(diff):
    """the one-sample t test of the paired differences against 0: "t = ..., p = ... (two-sided), 95% CI lo … hi",
    or "" for fewer than 2 seeds or differences that are all equal"""
    n = len(diff)
    m, sd = mean_sd(diff)
    if not sd:
        return ""
    se = sd / math.sqrt(n)
    t = m / se
    p = 2 * (1 - t_cdf(abs(t), n - 1))
    h = t_quantile(0.975, n - 1) * se
    return "t = %.2f, p = %.3f (two-sided), 95%% CI %+.3f … %+.3f" % (t, p, m - h, m + h)


def paired(csv_path, base, other, columns=None):
    """Paired comparison of two variants of one curve CSV, seed by seed (the docs' paired tables). Columns named
    must exist; of the default ones, those the CSV lacks are left out."""
    rows = []
    for path in csv_path.split("+"):
        if not os.path.isfile(path):
            fail("%s: no such file" % path)
        with open(path, newline="") as f:
            part = list(csv.DictReader(f))
        if rows and part and set(part[0]) != set(rows[0]):
            fail("%s has other columns than %s" % (path, csv_path.split("+")[0]))
        rows += part
    if columns:
        for col in columns:
            if rows and col not in rows[0]:
                fail("%s has no column %s" % (csv_path, col))
    else:
        columns = [c for c in ("valid_dice", "unlabeled_dice", "valid_hd95", "valid_asd", "valid_lcc_dice")
                   if not rows or c in rows[0]]
    def values(variant, it, col):
        out = {}
        for r in rows:
            if r["variant"] == variant and r["iterations"] == it and r.get("status", "ok") == "ok":
                v = number(r[col])
                if v is not None and not math.isnan(v):
                    out[int(r["seed"])] = v
        return out
    iters = sorted({r["iterations"] for r in rows if r["variant"] == base} &
                   {r["iterations"] for r in rows if r["variant"] == other}, key=int)
    if not iters:
        fail("no schedule length has runs of both %s and %s in %s" % (base, other, csv_path))
    for it in iters:
        for col in columns:
            a, b = values(base, it, col), values(other, it, col)
            seeds = sorted(set(a) & set(b))
            if not seeds:
                continue
            fmt = lambda d: ", ".join("%.3f" % d[s] for s in seeds)
            diff = [b[s] - a[s] for s in seeds]
            test = paired_test(diff)
            print("%s %s seeds %s: %s %s (%s); %s %s (%s); %s - %s %s (%s)%s" % (
                it, col, " ".join(map(str, seeds)), base, fmt(a), mean_std([a[s] for s in seeds]),
                other, fmt(b), mean_std([b[s] for s in seeds]), other, base,
                ", ".join("%+.3f" % d for d in diff), mean_std(diff, signed=True), "; " + test if test else ""))
    return 0


def main(argv):
    if len(argv) >= 4 and argv[1] == "collect":
        collect(argv[2], argv[3])
    elif len(argv) in (4, 6) and argv[1] == "plot" and (len(argv) == 4 or argv[4] == "--title"):
        plot(argv[2], argv[3], argv[5] if len(argv) == 6 else None)
    elif len(argv) >= 5 and argv[1] == "paired":
        paired(argv[2], argv[3], argv[4], argv[5:])
    else:
        sys.stderr.write("usage:" + __doc__.split("usage:")[1] + "\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
