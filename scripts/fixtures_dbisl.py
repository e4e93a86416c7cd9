#!/usr/bin/python3
"""Writes tests/fixtures/dbisl/: the DBiSL loss (docs/design.md §4) and its gradients w.r.t. the four head inputs,
computed with PyTorch autograd, for each term alone and for all terms together (terms without the s2r transform;
the s2r terms are checked by finite differences in tests/test_dbisl.c). Run: /usr/bin/python3 scripts/fixtures_dbisl.py"""
import os
import numpy as np
import torch
import torch.nn.functional as F
import fixtures_io

torch.manual_seed(0)
np.random.seed(0)
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "dbisl")
os.makedirs(OUT, exist_ok=True)

B, D, H, W = 3, 4, 5, 6
LABELED = [1, 0, 1]          # a batch mixing labeled and unlabeled samples
K, K_SEG, LAM, BETA = -8.0, -6.0, 0.5, 0.7
DICE_W, CE_W = 0.5, 0.5
TERMS = ["sup_seg", "sup_reg", "sup_s2r", "sup_r2s", "con_seg", "con_reg", "con_s2r", "con_r2s", "pse"]

z = [torch.randn(B, 1, D, H, W, dtype=torch.float64) * 2 for _ in range(2)]
s = [torch.randn(B, 1, D, H, W, dtype=torch.float64) for _ in range(2)]
label = (torch.rand(B, 1, D, H, W) > 0.6).double()
for i, f in enumerate(LABELED):
    if not f:
        label[i] = 0
R_label = torch.rand(B, 1, D, H, W, dtype=torch.float64) * 2 - 1   # stands in for T_s2r(Y); unused by the terms here


def seg_loss(u, g, sel):
    """dice_w * Dice(sigmoid(u), g) + ce_w * BCE-with-logits(u, g), over the selected samples."""
    u, g = u[sel], g[sel]
    p = torch.sigmoid(u)
    eps = 1e-5
    dice = 1 - (2 * (p * g).sum() + eps) / ((p * p).sum() + (g * g).sum() + eps)
    ce = F.binary_cross_entropy_with_logits(u, g, reduction="mean")
    return DICE_W * dice + CE_W * ce


def loss(weights, pse_labeled=True):
    zs = [t.clone().requires_grad_(True) for t in z]
    ss = [t.clone().requires_grad_(True) for t in s]
    lab = torch.tensor([bool(f) for f in LABELED])
    allm = torch.ones(B, dtype=torch.bool)
    Y = [torch.sigmoid(t) for t in zs]
    R = [torch.tanh(t) for t in ss]
    sup = 0
    con = 0
    for w in range(2):
        sup = sup + weights["sup_seg"] * seg_loss(zs[w], label, lab)
        sup = sup + weights["sup_r2s"] * seg_loss(K_SEG * R[w], label, lab)
        con = con + weights["con_r2s"] * F.mse_loss(torch.sigmoid(K * R[w]), Y[w])
    con = con + weights["con_seg"] * F.mse_loss(Y[0], Y[1]) + weights["con_reg"] * F.mse_loss(R[0], R[1])
    ybar = ((Y[0] + Y[1]) / 2).detach()
    m = ((Y[0] > .5) == (Y[1] > .5)) & ((Y[1] > .5) == (R[0] < 0)) & ((R[0] < 0) == (R[1] < 0))
    sel = allm if pse_labeled else ~lab
    m = m & sel.view(B, 1, 1, 1, 1)
    pse = 0
    if m.sum() > 0:
        for w in range(2):
            ce = F.binary_cross_entropy_with_logits(zs[w], ybar, reduction="none")
            pse = pse + (ce * m).sum() / m.sum()
    total = LAM * (sup + con) + weights["pse"] * BETA * pse
    total.backward()
    return total.item(), [zs[0].grad, ss[0].grad, zs[1].grad, ss[1].grad]


def f32(path, arrays):
    fixtures_io.write_concat(path, arrays)


# inputs: z_a, s_a, z_b, s_b, then truth rows (D*H*W labels + flag per sample)
truth = np.concatenate([np.concatenate([label[i].numpy().ravel(), [LABELED[i]]]) for i in range(B)])
f32(os.path.join(OUT, "inputs.f32"), [z[0], s[0], z[1], s[1], truth])
cases = []
for t in ["sup_seg", "sup_r2s", "con_seg", "con_reg", "con_r2s", "pse"]:
    cases.append((t, {k: (1.0 if k == t else 0.0) for k in TERMS}, True))
cases.append(("all", {k: (0.0 if k in ("sup_reg", "sup_s2r", "con_s2r") else 1.0) for k in TERMS}, True))
cases.append(("pse_unlabeled_only", {k: (1.0 if k == "pse" else 0.0) for k in TERMS}, False))
with open(os.path.join(OUT, "cases.txt"), "w") as f:
    for name, wts, pl in cases:
        val, grads = loss(wts, pl)
        f32(os.path.join(OUT, name + ".f32"), [[val]] + [g for g in grads])
        f.write("%s %s %d\n" % (name, " ".join("%g" % wts[k] for k in TERMS), int(pl)))
        print(name, val)
print("B D H W =", B, D, H, W, "K", K, "K_SEG", K_SEG, "LAMBDA", LAM, "BETA", BETA)
