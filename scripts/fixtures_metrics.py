#!/usr/bin/python3
"""Writes the fixtures of tests/test_edt.c and tests/test_metrics.c: scipy's exact EDT and medpy's metric definitions (re-implemented with scipy.ndimage) on small 3D masks.

Run with Debian's interpreter: /usr/bin/python3 scripts/fixtures_metrics.py  (needs python3-scipy, python3-numpy).
Arrays are C-order (D, H, W) = the darknet3d layout idx = w + W*(h + H*d); spacing is given along (d, h, w).
Files: *.f32 little-endian float32, *.u8 masks one byte per voxel, each with the header of scripts/fixtures_io.py.
"""
import os
import numpy as np
from scipy import ndimage
import fixtures_io

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "metrics")


def f32(name, a):
    fixtures_io.write(os.path.join(OUT, name), a, "float32")


def u8(name, a):
    fixtures_io.write(os.path.join(OUT, name), a, "uint8")


def edt_fixtures(rng):
    cases = [
        ((9, 11, 13), (1.0, 1.0, 1.0), 0.05),
        ((6, 15, 10), (2.5, 0.625, 0.625), 0.02),
        ((12, 7, 9), (0.4, 1.3, 2.2), 0.3),
        ((1, 20, 17), (1.0, 0.5, 0.75), 0.01),
        ((16, 16, 16), (1.0, 1.0, 3.0), 0.002),
    ]
    for k, (shape, sp, dens) in enumerate(cases):
        m = rng.random(shape) < dens
        if not m.any():
            m[tuple(s // 2 for s in shape)] = True
        dist = ndimage.distance_transform_edt(~m, sampling=sp)
        f32("edt_%d_shape.f32" % k, list(shape) + list(sp))
        u8("edt_%d_mask.u8" % k, m)
        f32("edt_%d_dist.f32" % k, dist)


# medpy.metric.binary (0.4) re-implemented with scipy.ndimage, line for line in its definitions
def surface_distances(result, reference, sampling):
    fp = ndimage.generate_binary_structure(result.ndim, 1)
    rb = result ^ ndimage.binary_erosion(result, structure=fp, iterations=1)
    fb = reference ^ ndimage.binary_erosion(reference, structure=fp, iterations=1)
    dt = ndimage.distance_transform_edt(~fb, sampling=sampling)
    return dt[rb]


def medpy_metrics(pred, ref, sampling):
    a, b = pred.astype(bool), ref.astype(bool)
    inter = np.count_nonzero(a & b)
    dc = 2.0 * inter / float(np.count_nonzero(a) + np.count_nonzero(b))
    jc = inter / float(np.count_nonzero(a | b))
    out = [dc, jc]
    for sp in ((1.0, 1.0, 1.0), sampling):
        d1 = surface_distances(a, b, sp)
        d2 = surface_distances(b, a, sp)
        out += [np.percentile(np.hstack((d1, d2)), 95), d1.mean()]
    # order: dice, jaccard, hd95, asd, hd95_mm, asd_mm
    return [out[0], out[1], out[2], out[3], out[4], out[5]]


def blob(rng, shape, level, sigma):
    return ndimage.gaussian_filter(rng.random(shape), sigma) > level


def metric_cases(rng):
    cases = []
    shape = (14, 23, 19)
    sp = (2.5, 0.625, 0.7)
    a = blob(rng, shape, 0.5, 2.0)
    cases.append(("random blobs", a, blob(rng, shape, 0.5, 2.0), sp))
    b = np.roll(a, (1, 3, -2), axis=(0, 1, 2))
    cases.append(("shifted copy", a, b, sp))
    zz, yy, xx = np.mgrid[0:20, 0:24, 0:22]
    ball = ((zz - 9) * 1.5) ** 2 + (yy - 11) ** 2 + (xx - 10) ** 2 < 60
    ball2 = ((zz - 10) * 1.5) ** 2 + (yy - 12) ** 2 + (xx - 9) ** 2 < 45
    cases.append(("ellipsoids", ball, ball2, (1.5, 1.0, 1.0)))
    one = np.zeros_like(ball); one[3, 4, 5] = True
    cases.append(("single voxel vs ellipsoid", one, ball, (1.0, 0.8, 1.2)))
    one2 = np.zeros_like(ball); one2[15, 20, 1] = True
    cases.append(("single voxel vs single voxel", one, one2, (2.0, 1.0, 0.5)))
    edge = np.zeros((9, 10, 11), bool); edge[0:4, :, 3:11] = True
    edge2 = np.zeros((9, 10, 11), bool); edge2[0:9, 2:10, 5:9] = True
    cases.append(("touching the array border", edge, edge2, (1.0, 1.0, 2.0)))
    full = np.ones((5, 6, 7), bool)
    part = np.zeros((5, 6, 7), bool); part[1:4, 1:5, 2:6] = True
    cases.append(("full array vs inner box", full, part, (0.9, 1.1, 1.3)))
    flat = np.zeros((1, 12, 13), bool); flat[0, 2:9, 3:10] = True
    flat2 = np.zeros((1, 12, 13), bool); flat2[0, 4:12, 1:8] = True
    cases.append(("one slice", flat, flat2, (3.0, 0.5, 0.5)))
    c = blob(rng, (16, 18, 20), 0.52, 1.2)
    cases.append(("fragmented vs blob", c, blob(rng, (16, 18, 20), 0.5, 2.5), (0.625, 0.625, 0.625)))
    return cases


def metric_fixtures(rng):
    for k, (name, p, r, sp) in enumerate(metric_cases(rng)):
        assert p.any() and r.any(), name
        f32("metric_%d_shape.f32" % k, list(p.shape) + list(sp))
        u8("metric_%d_pred.u8" % k, p)
        u8("metric_%d_ref.u8" % k, r)
        f32("metric_%d_expect.f32" % k, medpy_metrics(p, r, sp))
        print("metric_%d %-30s" % (k, name), np.round(medpy_metrics(p, r, sp), 4))


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240611)
    edt_fixtures(rng)
    metric_fixtures(rng)


if __name__ == "__main__":
    main()
