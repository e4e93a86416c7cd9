#!/usr/bin/python3
# The paper's Table 7 on the LA labels: Dice between each label and (R < 0) and seconds per case, for our s2r transform (./darknet seg3d sdf, CPU) and scipy's exact EDT, at full resolution and at scale 0.5.
# Usage: /usr/bin/python3 bench/table7_la.py [darknet binary] [LA dir] [max cases]
import gzip, math, os, re, statistics, struct, subprocess, sys, time
import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import distance_transform_edt

darknet = sys.argv[1] if len(sys.argv) > 1 else "./darknet"
la = sys.argv[2] if len(sys.argv) > 2 else "../shared/data/LA"
maxn = int(sys.argv[3]) if len(sys.argv) > 3 else 80
torch.set_num_threads(1)


def read_nii(path):
    raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    dim = struct.unpack("<8h", raw[40:56])
    dtype = struct.unpack("<h", raw[70:72])[0]
    off = int(struct.unpack("<f", raw[108:112])[0])
    np_t = {2: np.uint8, 4: np.int16, 8: np.int32, 16: np.float32, 64: np.float64, 256: np.int8, 512: np.uint16}[dtype]
    nx, ny, nz = dim[1], dim[2], dim[3]
    a = np.frombuffer(raw, dtype=np_t, count=nx * ny * nz, offset=off)
    return a.reshape(nz, ny, nx).astype(np.float32)  # (D, H, W), x fastest


def signed_exact(m):
    if m.all() or not m.any():
        return np.zeros(m.shape, np.float32)
    si = distance_transform_edt(~m)   # distance to the mask (outside > 0)
    so = distance_transform_edt(m)    # distance to the background (inside > 0)
    nz = lambda s: (s - s.min()) / (s.max() - s.min()) if s.max() > s.min() else np.zeros_like(s)
    return (nz(si) - nz(so)).astype(np.float32)


def scipy_case(lab, scale):
    t = time.perf_counter()
    if scale < 1:
        D, H, W = lab.shape
        size = tuple(max(1, int(math.floor(s * scale + 1e-6))) for s in (D, H, W))
        x = torch.from_numpy(lab)[None, None]
        ps = F.interpolate(x, size=size, mode="trilinear", align_corners=False)[0, 0].numpy()
        rs = signed_exact(ps > 0.5)
        r = F.interpolate(torch.from_numpy(rs)[None, None], size=(D, H, W), mode="trilinear", align_corners=False)[0, 0].numpy()
    else:
        r = signed_exact(lab > 0.5)
    sec = time.perf_counter() - t
    m = lab > 0.5
    q = r < 0
    return 2.0 * (m & q).sum() / (m.sum() + q.sum()), sec


cases = [l.strip() for l in open(os.path.join(la, "train.list")) if l.strip()][:maxn]
res = {k: ([], []) for k in ("ours-full", "ours-0.5", "scipy-full", "scipy-0.5")}
os.makedirs("tests/out", exist_ok=True)
for c in cases:
    lab_path = os.path.join(la, c, "label.nii.gz")
    for sc, key in ((1.0, "ours-full"), (0.5, "ours-0.5")):
        out = subprocess.run([darknet, "seg3d", "sdf", lab_path, "tests/out/table7_sdf.nii.gz", "-scale", str(sc)],
                             capture_output=True, text=True, check=True).stdout
        res[key][0].append(float(re.search(r"dice_inverse=([0-9.]+)", out).group(1)))
        res[key][1].append(float(re.search(r"iterations, ([0-9.]+) s", out).group(1)))
    lab = read_nii(lab_path)
    for sc, key in ((1.0, "scipy-full"), (0.5, "scipy-0.5")):
        d, s = scipy_case(lab, sc)
        res[key][0].append(d); res[key][1].append(s)
print(f"{len(cases)} LA labels ({la}/train.list); Dice(label, R<0) mean +- sd (min), seconds per case (transform only, 1 case at a time)")
for k, (d, s) in res.items():
    print(f"{k:12s} Dice {100*statistics.mean(d):7.3f} +- {100*statistics.pstdev(d):5.3f} % (min {100*min(d):7.3f})   {statistics.mean(s):.3f} s/case")
