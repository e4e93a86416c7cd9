#!/usr/bin/python3
"""PyTorch reference for the LA-mini protocol (scripts/la_ablation): trains cfg/la-mini-sup.cfg's network (the V-Net
of bench/dbisl_torch.py, decoder Phi only) on a prepared LA-mini data folder and prints the valid_16 Dice, so that
`seg3d train` + `seg3d test` can be compared with an outside implementation at the same protocol.
Usage (Debian's /usr/bin/python3, which has torch):
  la_mini_torch.py <data dir> <seed> [iters] [threads]     train, then evaluate
  la_mini_torch.py eval <data dir> <darknet .weights>      evaluate weights that `seg3d train` wrote for
                                                           cfg/la-mini-sup.cfg (the same network, read in cfg order)
    <data dir>: what scripts/la_ablation prepares into <out>/data (<case>/image.nii.gz already downsampled and
    z-scored, <case>/label.nii.gz, labeled_16.list, valid_16.list)
  env: LA_TORCH_DROPOUT=channel|element|none (channel: nn.Dropout3d as the public V-Net code; element: as
       Darknet's [dropout]), LA_TORCH_EVAL=<list name> (valid_16.list)
Prints one line per evaluated case and last `mean_dice=<fraction> ...`."""
import gzip
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dbisl_torch as dt  # noqa: E402

CROP = (32, 48, 48)        # D, H, W of cfg/la-mini-*.cfg
STRIDE = (8, 16, 16)       # infer_stride
NP_TYPES = {2: np.uint8, 4: np.int16, 8: np.int32, 16: np.float32, 64: np.float64, 256: np.int8, 512: np.uint16}


def read_nifti(path):
    """NIfTI-1 single file (.nii / .nii.gz) -> float32 array (z, y, x); scl_slope applied"""
    raw = (gzip.open if path.endswith(".gz") else open)(path, "rb").read()
    dim = struct.unpack("<8h", raw[40:56])
    dtype = struct.unpack("<h", raw[70:72])[0]
    off = int(struct.unpack("<f", raw[108:112])[0])
    slope, inter = struct.unpack("<2f", raw[112:120])
    nx, ny, nz = dim[1], dim[2], max(dim[3], 1)
    a = np.frombuffer(raw, dtype=NP_TYPES[dtype], count=nx * ny * nz, offset=off).astype(np.float32)
    if slope not in (0.0, 1.0) or inter != 0.0:
        a = a * (slope if slope != 0 else 1.0) + inter
    return a.reshape(nz, ny, nx)


class SupVNet(nn.Module):
    def __init__(self, f, dropout):
        super().__init__()
        self.enc = dt.Encoder(f)
        self.dec = dt.Decoder(f, "deconv")
        if dropout == "element":
            self.enc.drop = nn.Dropout(0.5)
            self.dec.drop = nn.Dropout(0.5)
        elif dropout == "none":
            self.enc.drop = nn.Identity()
            self.dec.drop = nn.Identity()

    def forward(self, x):
        return self.dec(*self.enc(x))[0]


def random_crop(img, lab, rng):
    """zero-padded random crop, random flips in x and y, random rot90 in the x-y plane (as src/loader.c)"""
    D, H, W = CROP
    pad = [(0, max(0, c - n)) for c, n in zip(CROP, img.shape)]
    if any(p[1] for p in pad):
        img = np.pad(img, pad)
        lab = np.pad(lab, pad)
    o = [rng.integers(0, n - c + 1) for c, n in zip(CROP, img.shape)]
    x = img[o[0]:o[0] + D, o[1]:o[1] + H, o[2]:o[2] + W]
    y = lab[o[0]:o[0] + D, o[1]:o[1] + H, o[2]:o[2] + W]
    if rng.integers(2):
        x, y = x[:, :, ::-1], y[:, :, ::-1]
    if rng.integers(2):
        x, y = x[:, ::-1, :], y[:, ::-1, :]
    k = int(rng.integers(4))
    x, y = np.rot90(x, k, axes=(1, 2)), np.rot90(y, k, axes=(1, 2))
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def sliding_window(net, img):
    """mean of the sigmoid probabilities over windows of CROP placed every STRIDE (zero-padded to at least CROP)"""
    shp = img.shape
    pad = [(0, max(0, c - n)) for c, n in zip(CROP, shp)]
    v = np.pad(img, pad)
    acc = np.zeros(v.shape, np.float32)
    cnt = np.zeros(v.shape, np.float32)
    starts = []
    for n, c, s in zip(v.shape, CROP, STRIDE):
        st = list(range(0, n - c + 1, s))
        if st[-1] != n - c:
            st.append(n - c)
        starts.append(st)
    with torch.no_grad():
        for z in starts[0]:
            for y in starts[1]:
                for x in starts[2]:
                    t = torch.from_numpy(np.ascontiguousarray(v[z:z + CROP[0], y:y + CROP[1], x:x + CROP[2]]))
                    p = torch.sigmoid(net(t[None, None]))[0, 0].numpy()
                    acc[z:z + CROP[0], y:y + CROP[1], x:x + CROP[2]] += p
                    cnt[z:z + CROP[0], y:y + CROP[1], x:x + CROP[2]] += 1
    return (acc / cnt)[:shp[0], :shp[1], :shp[2]]


def load_darknet(net, path):
    """Darknet .weights of cfg/la-mini-sup.cfg -> net: per [conv3d]/[deconv3d] in cfg order (= module order here):
    biases (BN beta, or the conv bias without BN), BN gamma, running mean, running variance, weights in PyTorch's
    layout, then the conv bias before BN; the header is 3 int32 + a 64-bit `seen`"""
    raw = np.fromfile(path, dtype=np.float32)
    pos = 5
    for m, bn in dt.conv_bn_pairs(net):
        oc = m.out_channels

        def take(n):
            nonlocal pos
            t = torch.from_numpy(raw[pos:pos + n].copy())
            pos += n
            return t
        with torch.no_grad():
            if bn is not None:
                bn.bias.copy_(take(oc))
                bn.weight.copy_(take(oc))
                bn.running_mean.copy_(take(oc))
                bn.running_var.copy_(take(oc))
                m.weight.copy_(take(m.weight.numel()).view_as(m.weight))
                m.bias.copy_(take(oc))      # the conv bias before BN (Darknet3d's pre_b)
            else:
                b = take(oc)
                m.weight.copy_(take(m.weight.numel()).view_as(m.weight))
                m.bias.copy_(b)
    if pos != raw.size:
        raise SystemExit("error: %s: %d floats read, file has %d (not la-mini-sup.cfg weights?)" % (path, pos, raw.size))


def evaluate(net, root, evl):
    net.eval()
    dices = []
    for c in [s.strip() for s in open(os.path.join(root, evl)) if s.strip()]:
        img = read_nifti(os.path.join(root, c, "image.nii.gz"))
        lab = read_nifti(os.path.join(root, c, "label.nii.gz")) > 0.5
        m = sliding_window(net, img) > 0.5
        inter = float((m & lab).sum())
        s = float(m.sum() + lab.sum())
        d = 2 * inter / s if s > 0 else 1.0
        dices.append(d)
        print("%s %.4f" % (c, d), flush=True)
    return dices


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    evl = os.environ.get("LA_TORCH_EVAL", "valid_16.list")
    if sys.argv[1] == "eval":
        torch.set_num_threads(1)
        net = SupVNet(8, "channel")
        load_darknet(net, sys.argv[3])
        d = evaluate(net, sys.argv[2], evl)
        print("mean_dice=%.6f std=%.4f n=%d weights=%s" % (float(np.mean(d)), float(np.std(d)), len(d), sys.argv[3]))
        return
    root, seed = sys.argv[1], int(sys.argv[2])
    iters = int(sys.argv[3]) if len(sys.argv) > 3 else 750
    torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    dropout = os.environ.get("LA_TORCH_DROPOUT", "channel")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    names = [s.strip() for s in open(os.path.join(root, "labeled_16.list")) if s.strip()]
    data = [(read_nifti(os.path.join(root, c, "image.nii.gz")), read_nifti(os.path.join(root, c, "label.nii.gz")) > 0.5)
            for c in names]
    net = SupVNet(8, dropout).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    order = []
    t0 = time.time()
    for it in range(iters):
        xs, ys = [], []
        for _ in range(4):
            if not order:
                order = list(rng.permutation(len(data)))
            img, lab = data[order.pop()]
            x, y = random_crop(img, lab.astype(np.float32), rng)
            xs.append(x)
            ys.append(y)
        x = torch.from_numpy(np.stack(xs))[:, None]
        y = torch.from_numpy(np.stack(ys))[:, None]
        for g in opt.param_groups:
            g["lr"] = 0.01 * (1 - it / iters) ** 0.9
        loss = dt.seg_loss(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if it % 50 == 0 or it == iters - 1:
            print("iter %d loss %.4f (%.0f s)" % (it, loss.item(), time.time() - t0), flush=True)
    dices = evaluate(net, root, evl)
    print("mean_dice=%.6f std=%.4f n=%d iters=%d seed=%d dropout=%s torch=%s train_s=%.0f" % (
        float(np.mean(dices)), float(np.std(dices)), len(dices), iters, seed, dropout, torch.__version__,
        time.time() - t0))


if __name__ == "__main__":
    main()
