#!/usr/bin/python3
"""Writes the fixtures of tests/test_edt.c and tests/test_metrics.c: scipy's exact EDT and medpy's metric definitions (re-implemented with scipy.ndimage) on small 3D masks.

Run with Debian's interpreter: /usr/bin/python3 scripts/fixtures_metrics.py  (needs python3-scipy, python3-numpy).
Arrays are C-order (D, H, W) = the darknet3d layout idx = w + W*(h + H*d); spacing is given along (d, h, w).
All files are raw little-endian float32.
"""
import os
import numpy as np
from scipy import ndimage

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "metrics")


def f32(name, a):
    np.asarray(a, dtype=np.float32).tofile(os.path.join(OUT, name))


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
        f32("edt_%d_mask.f32" % k, m)
        f32("edt_%d_dist.f32" % k, dist)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240611)
    edt_fixtures(rng)


if __name__ == "__main__":
    main()
