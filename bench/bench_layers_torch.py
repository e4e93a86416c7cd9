#!/usr/bin/python3
# PyTorch side of bench/bench_layers.sh (argv: reps threads [cpu|cuda]): forward+backward of the same V-Net layers (Conv3d/ConvTranspose3d + BatchNorm3d + ReLU, MaxPool3d, trilinear interpolate), batch 2, best of N, "name ms" per line.
import sys
import time
import torch
import torch.nn as nn
import torch.nn.functional as F

reps = int(sys.argv[1]) if len(sys.argv) > 1 else 2
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
dev = sys.argv[3] if len(sys.argv) > 3 else "cpu"
torch.set_num_threads(threads)


def sync():
    if dev == "cuda":
        torch.cuda.synchronize()
B = 2
LAYERS = [
    ("conv3d_16-16_k3_80x112x112", 16, (80, 112, 112), 16, 3, 1, 1, False),
    ("conv3d_16-32_k2s2_80x112x112", 16, (80, 112, 112), 32, 2, 2, 0, False),
    ("conv3d_32-32_k3_40x56x56", 32, (40, 56, 56), 32, 3, 1, 1, False),
    ("conv3d_64-64_k3_20x28x28", 64, (20, 28, 28), 64, 3, 1, 1, False),
    ("conv3d_128-128_k3_10x14x14", 128, (10, 14, 14), 128, 3, 1, 1, False),
    ("conv3d_256-256_k3_5x7x7", 256, (5, 7, 7), 256, 3, 1, 1, False),
    ("conv3d_16-2_k1_80x112x112", 16, (80, 112, 112), 2, 1, 1, 0, False),
    ("deconv3d_256-128_k2s2_5x7x7", 256, (5, 7, 7), 128, 2, 2, 0, True),
    ("deconv3d_32-16_k2s2_40x56x56", 32, (40, 56, 56), 16, 2, 2, 0, True),
]


def bench(name, fn, x):
    best = 1e30
    for r in range(reps + 1):
        xi = x.detach().requires_grad_(True)
        sync()
        t = time.time()
        y = fn(xi)
        y.backward(torch.ones_like(y) * 0.5)
        sync()
        t = time.time() - t
        if r > 0:
            best = min(best, t)
    print("%s %.3f" % (name, best * 1e3), flush=True)


for name, c, dhw, f, k, s, p, up in LAYERS:
    conv = (nn.ConvTranspose3d if up else nn.Conv3d)(c, f, k, stride=s, padding=p)
    if name.endswith("k1_80x112x112"):
        mod = conv
    else:
        mod = nn.Sequential(conv, nn.BatchNorm3d(f, momentum=0.01), nn.ReLU())
    mod.train().to(dev)
    bench(name, mod, torch.randn(B, c, *dhw, device=dev))
    del mod
bench("maxpool3d_16_k2s2_80x112x112", lambda x: F.max_pool3d(x, 2, 2), torch.randn(B, 16, 80, 112, 112, device=dev))
bench("upsample3d_32_x2_40x56x56", lambda x: F.interpolate(x, scale_factor=2, mode="trilinear", align_corners=True),
      torch.randn(B, 32, 40, 56, 56, device=dev))
