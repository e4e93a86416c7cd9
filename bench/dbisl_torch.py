#!/usr/bin/python3
"""PyTorch reference side of `make bench`: the DBiSL dual-decoder V-Net (MCNet3d_v1-style, docs/design.md §3) with the
full DBiSL loss (docs/design.md §4, the terms of layers/dbisl_layer.h; s2r from scripts/dtransform_reference.py), timed
for training, sliding-window inference, and a per-layer MAC count.
Usage (all print one `key=value ...` result line; run with Debian's /usr/bin/python3):
  dbisl_torch.py params  W H D F
  dbisl_torch.py macs    W H D F                           forward MACs per sample, per layer kind
  dbisl_torch.py train   W H D F B NLAB ITERS WARMUP THREADS DEVICE BATCHES.f32 NBATCHES
                         TORCH_AMP=bf16|fp16: the network under torch.autocast in that type (fp16 with a GradScaler),
                         channels_last_3d weights and inputs, cudnn.benchmark; the loss in fp32 on the outputs
  dbisl_torch.py batches W H D B NLAB N OUT.f32             N random batches in the layout `train` reads (tests)
  dbisl_torch.py infer   W H D F B THREADS DEVICE VOL.f32 VD VH VW SD SH SW
  dbisl_torch.py s2r     N D H W SCALE REPS THREADS PROB.f32  writes the input (blob probabilities), times fwd+bwd"""
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import dtransform_reference as dtr  # noqa: E402

# the [dbisl] section of bench cfgs (scripts/make_cfgs.py dbisl_section defaults; every w_* term weight = 1)
LAMBDA, K, K_SEG, DICE_W, CE_W = 0.5, -1500.0, -50.0, 0.5, 0.5
S2R = dict(k=3, h=0.35, scale=0.5, binarize="softmin")


def cbr(cin, cout, k=3, s=1, p=1):
    return [nn.Conv3d(cin, cout, k, stride=s, padding=p), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]


def block(n, cin, cout):
    layers = []
    for i in range(n):
        layers += cbr(cin if i == 0 else cout, cout)
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.b1 = block(1, 1, f)
        self.d1 = nn.Sequential(*cbr(f, 2 * f, 2, 2, 0))
        self.b2 = block(2, 2 * f, 2 * f)
        self.d2 = nn.Sequential(*cbr(2 * f, 4 * f, 2, 2, 0))
        self.b3 = block(3, 4 * f, 4 * f)
        self.d3 = nn.Sequential(*cbr(4 * f, 8 * f, 2, 2, 0))
        self.b4 = block(3, 8 * f, 8 * f)
        self.d4 = nn.Sequential(*cbr(8 * f, 16 * f, 2, 2, 0))
        self.b5 = block(3, 16 * f, 16 * f)
        self.drop = nn.Dropout3d(0.5)

    def forward(self, x):
        x1 = self.b1(x)
        x2 = self.b2(self.d1(x1))
        x3 = self.b3(self.d2(x2))
        x4 = self.b4(self.d3(x3))
        x5 = self.drop(self.b5(self.d4(x4)))
        return x1, x2, x3, x4, x5


def up(cin, cout, mode):
    if mode == "deconv":
        return nn.Sequential(nn.ConvTranspose3d(cin, cout, 2, stride=2), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="trilinear", align_corners=True), *cbr(cin, cout))


class Decoder(nn.Module):
    def __init__(self, f, mode):
        super().__init__()
        self.u5, self.b6 = up(16 * f, 8 * f, mode), block(3, 8 * f, 8 * f)
        self.u6, self.b7 = up(8 * f, 4 * f, mode), block(3, 4 * f, 4 * f)
        self.u7, self.b8 = up(4 * f, 2 * f, mode), block(2, 2 * f, 2 * f)
        self.u8, self.b9 = up(2 * f, f, mode), block(1, f, f)
        self.drop = nn.Dropout3d(0.5)
        self.seg = nn.Conv3d(f, 1, 1)
        self.sdf = nn.Conv3d(f, 1, 1)

    def forward(self, x1, x2, x3, x4, x5):
        x = self.b6(self.u5(x5) + x4)
        x = self.b7(self.u6(x) + x3)
        x = self.b8(self.u7(x) + x2)
        x = self.drop(self.b9(self.u8(x) + x1))
        return self.seg(x), self.sdf(x)


class DualVNet(nn.Module):
    """encoder + decoder Phi (ConvTranspose3d) + decoder Psi (trilinear + conv); returns [(seg, sdf)] x 2"""

    def __init__(self, f):
        super().__init__()
        self.enc = Encoder(f)
        self.dec = nn.ModuleList([Decoder(f, "deconv"), Decoder(f, "trilinear")])

    def forward(self, x):
        feats = self.enc(x)
        return [d(*feats) for d in self.dec]


def conv_bn_pairs(net):
    """(conv, its BatchNorm3d or None) in module order, which for Encoder/Decoder is the cfg's layer order: the order of
    the [conv3d]/[deconv3d] records in a Darknet .weights file"""
    mods = list(net.modules())
    return [(m, mods[i + 1] if i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm3d) else None)
            for i, m in enumerate(mods) if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d))]


def nparams(m):
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


def s2r(P):
    """the [dbisl] transform T_s2r at the bench cfg's settings (the reference makes its helper tensors on P's device)"""
    return dtr.s2r(P, **S2R)[0]


def seg_loss(u, g):
    p = torch.sigmoid(u)
    eps = 1e-5
    dice = 1 - (2 * (p * g).sum() + eps) / ((p * p).sum() + (g * g).sum() + eps)
    return DICE_W * dice + CE_W * F.binary_cross_entropy_with_logits(u, g)


def dbisl_loss(outs, label, lab, beta):
    """L_all of layers/dbisl_layer.h with every term weight 1, pse over all samples, soft pseudo label"""
    z = [o[0] for o in outs]
    Y = [torch.sigmoid(t) for t in z]
    Rh = [torch.tanh(o[1]) for o in outs]
    with torch.no_grad():
        R = s2r(label)                          # online label distance, per patch, no gradient
    S = [s2r(y) for y in Y]                     # T_s2r(Y_w), all samples
    sup = 0
    con = 0
    for w in range(2):
        sup = sup + seg_loss(z[w][lab], label[lab]) + F.mse_loss(Rh[w][lab], R[lab]) \
            + F.mse_loss(S[w][lab], R[lab]) + seg_loss(K_SEG * Rh[w][lab], label[lab])
        con = con + F.mse_loss(S[w], Rh[w]) + F.mse_loss(torch.sigmoid(K * Rh[w]), Y[w])
    con = con + F.mse_loss(Y[0], Y[1]) + F.mse_loss(Rh[0], Rh[1])
    ybar = ((Y[0] + Y[1]) / 2).detach()
    m = (((Y[0] > .5) == (Y[1] > .5)) & ((Y[1] > .5) == (Rh[0] < 0)) & ((Rh[0] < 0) == (Rh[1] < 0))).float()
    pse = 0
    cnt = m.sum()
    if cnt > 0:
        for w in range(2):
            pse = pse + (F.binary_cross_entropy_with_logits(z[w], ybar, reduction="none") * m).sum() / cnt
    return LAMBDA * (sup + con) + beta * pse


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def device(name, threads):
    torch.set_num_threads(threads)
    if name == "cuda":
        if not torch.cuda.is_available():
            print("error=torch_without_cuda torch=%s" % torch.__version__)
            sys.exit(3)
        torch.backends.cudnn.benchmark = True
        # TORCH_TF32=0: exact FP32 convolutions and matmuls; unset or 1: PyTorch's default (TF32 cuDNN convolutions)
        if os.environ.get("TORCH_TF32", "1") == "0":
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
    return torch.device(name)


def cmd_train(W, H, D, f, B, nlab, iters, warmup, threads, devname, path, nbatch):
    dev = device(devname, threads)
    used0 = device_used_mib(dev)                # after the CUDA context exists, before the model: as ours
    torch.manual_seed(0)
    net = DualVNet(f).to(dev).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    V = D * H * W
    raw = torch.from_numpy(__import__("numpy").fromfile(path, dtype="float32"))
    per = B * V + B * (V + 1)
    batches = []
    nbatch = min(nbatch, raw.numel() // per)
    for i in range(nbatch):
        chunk = raw[i * per:(i + 1) * per]
        x = chunk[:B * V].view(B, 1, D, H, W)
        y = chunk[B * V:].view(B, V + 1)
        batches.append((x.to(dev), y[:, :V].reshape(B, 1, D, H, W).contiguous().to(dev), (y[:, V] > .5).to(dev)))
    beta = math.exp(-5.0)                       # beta(0) of the sigmoid ramp; the value does not change the cost
    amp = os.environ.get("TORCH_AMP", "")
    if amp not in ("", "bf16", "fp16"):
        print("error=bad_TORCH_AMP_%s" % amp)
        sys.exit(2)
    if amp:
        # the mixed-precision recipe: channels_last_3d, autocast around the network, GradScaler for fp16
        net = net.to(memory_format=torch.channels_last_3d)
        batches = [(x.contiguous(memory_format=torch.channels_last_3d), y, m) for x, y, m in batches]
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    scaler = grad_scaler(dev, amp == "fp16")
    peak = 0.0
    times = []
    for it in range(warmup + iters):
        x, label, lab = batches[it % nbatch]
        sync(dev)
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        if amp:
            with torch.autocast(device_type=dev.type, dtype=dtype):
                outs = net(x)
            outs = [(a.float(), b.float()) for a, b in outs]
        else:
            outs = net(x)
        loss = dbisl_loss(outs, label, lab, beta)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        sync(dev)
        if it >= warmup:
            times.append(time.perf_counter() - t)
        peak = max(peak, device_used_mib(dev) - used0)
    if amp:
        assert net.enc.b1[0].weight.is_contiguous(memory_format=torch.channels_last_3d)
    alloc = torch.cuda.max_memory_allocated() / 2 ** 20 if dev.type == "cuda" else 0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # the process's peak RSS so far (KiB on Linux)
    print("s_per_iter=%.4f min=%.4f loss=%.4f params=%d peak_mib=%.0f alloc_mib=%.0f rss_mib=%.0f iters=%d threads=%d "
          "amp=%s torch=%s" % (sum(times) / len(times), min(times), float(loss.detach()), nparams(net), peak, alloc, rss,
                               iters, torch.get_num_threads(), amp or "none", torch.__version__))


def device_used_mib(dev):
    """device memory in use, whole device (cudaMemGetInfo: total - free), after a synchronize; 0 on the CPU. The bench
    reads ours the same way (bench/bench_train.c), both as the growth over the value before the model was built"""
    if dev.type != "cuda":
        return 0.0
    torch.cuda.synchronize()
    free, total = torch.cuda.mem_get_info()
    return (total - free) / 2 ** 20


def grad_scaler(dev, enabled):
    """fp16's loss scaling (None when off): torch.amp.GradScaler where it exists (torch >= 2.3), else torch.cuda.amp's,
    which only scales on CUDA"""
    if not enabled:
        return None
    if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler(dev.type)
    return torch.cuda.amp.GradScaler(enabled=dev.type == "cuda")


def cmd_batches(W, H, D, B, nlab, n, path):
    """random batches in the layout bench_train dumps: per batch B images (D*H*W) then B truth rows (label + labeled flag)"""
    import numpy as np
    g = np.random.default_rng(1)
    V = D * H * W
    out = []
    for _ in range(n):
        out.append(g.standard_normal(B * V).astype("float32"))
        y = (g.random((B, V + 1)) > 0.7).astype("float32")
        y[:, V] = [1.0 if i < nlab else 0.0 for i in range(B)]
        out.append(y.ravel())
    np.concatenate(out).tofile(path)


def starts(size, patch, stride):
    steps = math.ceil((size - patch) / stride) + 1
    return [min(stride * i, size - patch) for i in range(steps)]


def cmd_infer(W, H, D, f, B, threads, devname, path, VD, VH, VW, SD, SH, SW):
    """DTC test_single_case placement, B windows per forward, mean of both decoders' sigmoid, overlap averaging"""
    import numpy as np
    dev = device(devname, threads)
    torch.manual_seed(0)
    net = DualVNet(f).to(dev).eval()
    vol = torch.from_numpy(np.fromfile(path, dtype="float32").reshape(VD, VH, VW))
    t0 = time.perf_counter()
    pd, ph, pw = max(0, D - VD), max(0, H - VH), max(0, W - VW)
    v = F.pad(vol, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2, pd // 2, pd - pd // 2)).to(dev)
    PD, PH, PW = v.shape
    prob = torch.zeros(PD, PH, PW, device=dev)
    cnt = torch.zeros(PD, PH, PW, device=dev)
    wins = [(z, y, x) for z in starts(PD, D, SD) for y in starts(PH, H, SH) for x in starts(PW, W, SW)]
    with torch.no_grad():
        for i in range(0, len(wins), B):
            group = wins[i:i + B]
            xb = torch.zeros(B, 1, D, H, W, device=dev)   # filler slots are computed too, as ours does
            for j, (z, y, x) in enumerate(group):
                xb[j, 0] = v[z:z + D, y:y + H, x:x + W]
            outs = net(xb)
            p = (torch.sigmoid(outs[0][0]) + torch.sigmoid(outs[1][0])) / 2
            for j, (z, y, x) in enumerate(group):
                prob[z:z + D, y:y + H, x:x + W] += p[j, 0]
                cnt[z:z + D, y:y + H, x:x + W] += 1
    prob = (prob / cnt)[pd // 2:pd // 2 + VD, ph // 2:ph // 2 + VH, pw // 2:pw // 2 + VW]
    sync(dev)
    print("seconds=%.4f windows=%d passes=%d threads=%d" % (time.perf_counter() - t0, len(wins),
                                                               (len(wins) + B - 1) // B, torch.get_num_threads()))


def cmd_s2r(N, D, H, W, scale, reps, threads, path):
    """the s2r reference alone, as dtransform_reference.py bench: min over reps of forward + R.sum().backward()"""
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(1)
    P0 = dtr.blob_prob(g, (N, 1, D, H, W), nblobs=3)
    P0.numpy().astype("float32").tofile(path)
    best = 1e30
    for _ in range(reps):
        P = P0.clone().requires_grad_(True)
        t = time.perf_counter()
        R, iters = dtr.s2r(P, k=3, h=0.35, scale=scale, binarize="ste")
        R.sum().backward()
        best = min(best, time.perf_counter() - t)
    print("seconds=%.4f iters=%d threads=%d" % (best, iters, torch.get_num_threads()))


def cmd_macs(W, H, D, f):
    """forward multiply-accumulates per sample of every Conv3d / ConvTranspose3d (and per kind)"""
    net = DualVNet(f).eval()
    acc = {"conv3d": 0, "deconv3d": 0}

    def hook(mod, inp, out):
        k = mod.kernel_size[0] * mod.kernel_size[1] * mod.kernel_size[2]
        if isinstance(mod, nn.ConvTranspose3d):
            acc["deconv3d"] += inp[0][0].numel() * mod.out_channels * k
        else:
            acc["conv3d"] += out[0].numel() * mod.in_channels * k
    for m in net.modules():
        if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d)):
            m.register_forward_hook(hook)
    with torch.no_grad():
        net(torch.zeros(1, 1, D, H, W))
    print("fwd_gmac_per_sample=%.3f conv3d=%.3f deconv3d=%.3f" % ((acc["conv3d"] + acc["deconv3d"]) / 1e9,
                                                                 acc["conv3d"] / 1e9, acc["deconv3d"] / 1e9))


if __name__ == "__main__":
    a = sys.argv
    if len(a) >= 6 and a[1] == "params":
        print("params=%d" % nparams(DualVNet(int(a[5]))))
    elif len(a) >= 6 and a[1] == "macs":
        cmd_macs(int(a[2]), int(a[3]), int(a[4]), int(a[5]))
    elif len(a) >= 10 and a[1] == "s2r":
        cmd_s2r(int(a[2]), int(a[3]), int(a[4]), int(a[5]), float(a[6]), int(a[7]), int(a[8]), a[9])
    elif len(a) >= 14 and a[1] == "train":
        cmd_train(*[int(v) for v in a[2:11]], a[11], a[12], int(a[13]))
    elif len(a) >= 9 and a[1] == "batches":
        cmd_batches(*[int(v) for v in a[2:8]], a[8])
    elif len(a) >= 16 and a[1] == "infer":
        cmd_infer(*[int(v) for v in a[2:8]], a[8], a[9], *[int(v) for v in a[10:16]])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
