#!/usr/bin/python3
"""Fixtures for tests/test_network.c: two SGD steps of a whole V-Net (scripts/make_cfgs.py's supervised LA-mini
network at 2 base filters, 16x16x16 crops, batch 2, dropout probability 0, constant learning rate) trained by PyTorch
autograd + torch.optim.SGD from the same initial weights and batches that the C test feeds Darknet. Checks the
network end to end: every layer's forward and backward, the skips, the loss, the SGD update (momentum, weight decay)
and the BN running statistics, in one place.
Writes tests/fixtures/network/: vnet.cfg, init.weights, batch1.f32, batch2.f32 (input then truth with the labeled
flag, Darknet's layout), step1.weights, step2.weights (weights after each step), loss.txt.
Run with Debian's /usr/bin/python3 (torch): python3 scripts/fixtures_network.py"""
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
import make_cfgs as mc  # noqa: E402
import dbisl_torch as dt  # noqa: E402
import fixtures_io  # noqa: E402

OUT = os.path.join(HERE, "..", "tests", "fixtures", "network")
F, S, B = 2, 16, 2
LR, MOM, DECAY, LAMBDA = 0.01, 0.9, 1e-4, 1.0


def cfg_text():
    t = mc.model(F, S, S, S, B, LR, 1000, "8,8,8", 0, dual=False, loss_extra=mc.SUP_ONLY,
                 title="tests/test_network.c: fixture network (scripts/fixtures_network.py)")
    t = t.replace("probability=0.5", "probability=0").replace("policy=poly", "policy=constant")
    assert "\nlambda=1\n" in t
    return t


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = dt.Encoder(F)
        self.dec = dt.Decoder(F, "deconv")
        self.enc.drop = nn.Identity()
        self.dec.drop = nn.Identity()

    def forward(self, x):
        return self.dec(*self.enc(x))


def save_weights(net, path, seen):
    """Darknet .weights: int32 major, minor, revision, uint64 seen, then per [conv3d]/[deconv3d] (layers/
    layers/conv3d_common.c c3_save): biases (BN beta; the conv bias without BN), BN gamma, running mean, running variance,
    weights, then the conv bias before BN"""
    parts = []
    for m, bn in dt.conv_bn_pairs(net):
        if bn is not None:
            parts += [bn.bias, bn.weight, bn.running_mean, bn.running_var, m.weight, m.bias]
        else:
            parts += [m.bias, m.weight]
    with open(path, "wb") as fp:
        fp.write(struct.pack("<iiiQ", 0, 2, 0, seen))
        for p in parts:
            fp.write(p.detach().double().numpy().astype("<f4").tobytes())


def batch(rng):
    """two samples: a smooth random image and a blob label that the image partly predicts"""
    V = S ** 3
    z, y, x = np.meshgrid(*[np.arange(S)] * 3, indexing="ij")
    xs, ts = [], []
    for _ in range(B):
        c = rng.uniform(5, 11, 3)
        r = rng.uniform(3, 6)
        lab = (((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) < r * r).astype(np.float64)
        img = lab * rng.uniform(0.5, 1.5) + rng.normal(0, 0.7, lab.shape)
        xs.append(img)
        ts.append(np.concatenate([lab.reshape(V), [1.0]]))
    return np.stack(xs), np.stack(ts)


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "vnet.cfg"), "w") as fp:
        fp.write(cfg_text().rstrip() + "\n")
    torch.manual_seed(7)
    rng = np.random.default_rng(7)
    net = Net().double()
    with torch.no_grad():
        for m, bn in dt.conv_bn_pairs(net):
            m.bias.uniform_(-0.1, 0.1)
            if bn is not None:
                bn.weight.uniform_(0.8, 1.2)
                bn.bias.uniform_(-0.1, 0.1)
                bn.running_mean.uniform_(-0.2, 0.2)
                bn.running_var.uniform_(0.5, 1.5)
                bn.momentum = 0.01          # Darknet3d's BN3D_MOMENTUM
                bn.eps = 1e-5
    save_weights(net, os.path.join(OUT, "init.weights"), 0)
    # Darknet decays the convolution weights only (not biases, BN gamma/beta, or the conv bias before BN)
    wts = [m.weight for m, _ in dt.conv_bn_pairs(net)]
    ids = {id(p) for p in wts}
    rest = [p for p in net.parameters() if id(p) not in ids]
    opt = torch.optim.SGD([{"params": wts, "weight_decay": DECAY}, {"params": rest, "weight_decay": 0}],
                          lr=LR, momentum=MOM)
    net.train()
    losses = []
    for step in (1, 2):
        xb, tb = batch(rng)
        fixtures_io.write(os.path.join(OUT, "batch%d.f32" % step), np.concatenate([xb.reshape(-1), tb.reshape(-1)]).astype("<f4"))
        x = torch.from_numpy(xb.astype(np.float32).astype(np.float64))[:, None]
        g = torch.from_numpy(tb[:, :-1].reshape(B, 1, S, S, S))
        seg, sdf = net(x)
        loss = LAMBDA * dt.seg_loss(seg, g) + 0 * sdf.sum()   # the sdf head: zero gradient, still decayed
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        save_weights(net, os.path.join(OUT, "step%d.weights" % step), step * B)
    with open(os.path.join(OUT, "loss.txt"), "w") as fp:
        fp.write(" ".join("%.9g" % v for v in losses) + "\n")
    print("wrote %s: losses %s" % (OUT, losses))


if __name__ == "__main__":
    main()
