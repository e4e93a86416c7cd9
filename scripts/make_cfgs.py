#!/usr/bin/env python3
"""Writes the V-Net family of cfg files (cfg/dbisl-vnet.cfg, cfg/vnet-sup.cfg, cfg/dbisl-tiny.cfg, cfg/sup-tiny.cfg,
cfg/la-mini-*.cfg) from one description of the architecture (docs/design.md §3), so that the single- and dual-decoder
variants stay identical where they should. The cfg files are the product: users edit them directly; this script
only saves retyping 100 sections. Run: python3 scripts/make_cfgs.py"""
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


class Cfg:
    def __init__(self):
        self.lines = []
        self.n = 0          # index of the next layer

    def add(self, section, comment=None, **keys):
        if comment:
            self.lines.append("# " + comment)
        self.lines.append("[%s]" % section)
        for k, v in keys.items():
            self.lines.append("%s=%s" % (k, v))
        self.lines.append("")
        self.n += 1
        return self.n - 1

    def conv(self, filters, size=3, stride=1, pad=1, bn=1, act="relu", comment=None):
        return self.add("conv3d", comment, filters=filters, size=size, stride=stride, pad=pad,
                        batch_normalize=bn, activation=act)


def encoder(c, f):
    """V-Net encoder: returns the layer index of each stage's output (x1..x5, x5 after dropout)."""
    x = []
    c.conv(f, comment="encoder stage 1 (x1): 1 conv")
    x.append(c.n - 1)
    for stage, (mult, nconv) in enumerate([(2, 2), (4, 3), (8, 3), (16, 3)], start=2):
        c.conv(f * mult, size=2, stride=2, pad=0, comment="down %d: Conv3d k2 s2 + BN + ReLU" % (stage - 1))
        for i in range(nconv):
            c.conv(f * mult, comment=("encoder stage %d (x%d): %d convs" % (stage, stage, nconv)) if i == 0 else None)
        x.append(c.n - 1)
    x[-1] = c.add("dropout", "Dropout after stage 5 (training only). Darknet's [dropout] drops single voxels, "
                  "PyTorch's Dropout3d whole channels: same rate, finer mask", probability=0.5)
    return x


def decoder(c, f, x, mode, tag, transforms):
    """One V-Net decoder from x5 (the current input) with additive skips; returns the indices of its seg head,
    sdf head, their [dtransform] and [r2s] sections (None without transforms) and its features."""
    for level, (mult, nconv, skip) in enumerate([(8, 3, x[3]), (4, 3, x[2]), (2, 2, x[1]), (1, 1, x[0])]):
        if mode == "deconv":
            c.add("deconv3d", "decoder %s up %d: ConvTranspose3d k2 s2 + BN + ReLU" % (tag, level + 1),
                  filters=f * mult, size=2, stride=2, pad=0, batch_normalize=1, activation="relu")
        else:
            c.add("upsample3d", "decoder %s up %d: trilinear x2 (align_corners=1 as MC-Net) + Conv3d k3 + BN + ReLU"
                  % (tag, level + 1), stride=2, align_corners=1)
            c.conv(f * mult)
        c.add("shortcut", "additive skip from encoder layer %d" % skip, **{"from": skip, "activation": "linear"})
        for i in range(nconv):
            c.conv(f * mult)
    feat = c.add("dropout", "Dropout before the heads (training only)", probability=0.5)
    seg = c.conv(1, size=1, pad=0, bn=0, act="linear",
                 comment="decoder %s segmentation head: 1 channel of logits (the loss applies the sigmoid)" % tag)
    s2r = r2s = None
    if transforms:
        s2r = c.add("dtransform", "decoder %s s2r: T_s2r(sigmoid(logits)), the differentiable distance transform the "
                    "loss reads (training only)" % tag, **DTRANSFORM)
    c.add("route", "back to decoder %s's features" % tag, layers=feat)
    sdf = c.conv(1, size=1, pad=0, bn=0, act="linear",
                 comment="decoder %s distance head: 1 channel (the loss applies tanh)" % tag)
    if transforms:
        r2s = c.add("r2s", "decoder %s r2s: T_r2s(tanh(distance head)) = sigmoid(k tanh(s)), read by the loss" % tag, **R2S)
    return seg, sdf, s2r, r2s, feat


NET_HELP = """# [net] keys read by darknet3d besides Darknet's own: depth (input depth D; height/width are H/W),
# save_every / last_every (checkpoint periods, iterations), valid_every (0 = off), infer_stride = D,H,W
# (sliding-window stride at inference/validation: z,y,x), normalize = none | zscore (each image z-scored per
# volume when read, in training, validation, seg3d predict and test)."""


def net_section(c, w, h, d, batch, lr, max_batches, infer_stride, extra=None):
    c.lines += [NET_HELP, "[net]", "batch=%d" % batch, "subdivisions=1", "width=%d" % w, "height=%d" % h,
                "depth=%d" % d, "channels=1", "learning_rate=%g" % lr, "momentum=0.9", "decay=0.0001",
                "policy=poly", "power=0.9", "max_batches=%d" % max_batches, "infer_stride=%s" % infer_stride]
    for k, v in (extra or {}).items():
        c.lines.append("%s=%s" % (k, v))
    c.lines.append("")


LOSS_HELP = """# [dbisl]: the DBiSL objective (layers/dbisl_layer.h). seg/sdf: the heads of decoder Phi (transposed conv)
# and Psi (trilinear); s2r/r2s: the [dtransform] and [r2s] sections on those heads, whose outputs the loss reads
# (the distance labels follow the [dtransform] settings). Every term has a weight (0 = off); see docs/design.md §4
# and docs for the choices:
#   [r2s] k = -1500: T_r2s inside the MSE consistency term (DTC's value).
#   k_seg: T_r2s inside the Dice+CE supervision term. With k = -1500 that CE is linear in the logit and reaches
#   hundreds per voxel (it dominated the loss in the measured PyTorch reference), so it uses a soft k.
#   [dtransform] binarize=softmin: the s2r gradient that reaches the boundary (docs/dbisl.md). Measured on LA-mini
#   (valid_16, 750 iterations, 2-3 seeds, S2R only at lambda 0.5): DBiSL with ste 0.623, with softmin 0.730.
#   pse_mask=1: the pseudo-supervision's confidence mask asks all four heads; 2: the two seg heads only, which a
#   run with every distance term off (the paper's w/o reg_task) needs: its distance heads are untrained, and
#   their signs made the four-head mask empty, tiny or background-only at LA-mini seeds 1-3 (docs/la-curve.md)."""

# The defaults of the DBiSL cfgs, measured on LA-mini (scripts/la_ablation, docs/dbisl.md, valid_16 Dice):
# bidirectional consistency (con_s2r and con_r2s) with the con_* terms ramped up over the whole schedule
# (con_rampup = max_batches, "schedule" below), the r2s supervision term off, lambda = 1.
DBISL_DEFAULTS = {"w_sup_r2s": 0, "w_con_r2s": 1, "lambda": 1, "con_rampup": "schedule"}
DEFAULTS_HELP = """# Defaults measured on LA-mini (docs/dbisl.md, "Making the r2s direction work"; valid_16 / unlabeled_48 Dice,
#   750 iterations, final checkpoint, 3 seeds, CPU):
#   w_con_r2s=1 with con_rampup=max_batches: both consistency directions (con_s2r, con_r2s), their weight ramped
#   from 0 over the schedule as DTC and MC-Net do: 0.762 +- 0.017 / 0.735 +- 0.005. S2R only with the same ramp:
#   0.759 +- 0.021 / 0.730 +- 0.023. Without the ramp con_r2s pulls the saturated tanh heads' segmentation to
#   background: bidirectional 0.668 (2 seeds), S2R only 0.721 / 0.670.
#   w_sup_r2s=0: the r2s supervision term is off. The paper's L_all (w_sup_r2s=1 lambda=0.5 con_rampup=0) scored
#   0.404 +- 0.287 at 750 iterations on an H200 (one seed 0.073; on a CPU 0.218 +- 0.308, two seeds near 0); with
#   the ramp, 0.670 (seed 1). Without any distance term (the paper's w/o reg_task, pse_mask=2) every seed collapses
#   at 12000 iterations (0.356 +- 0.072, 3 seeds; 0.81-0.86 until beta reaches full weight): the distance task is
#   what keeps long schedules stable.
#   lambda=1 (the paper: 0.5): 0.751 against 0.730 at 750 iterations (S2R only, unramped); at 3000 iterations
#   S2R only with lambda 1 scored 0.863 against 0.870 for supervised training (3 seeds, H200).
#   Against supervised training (batch 4) the gap closes with training length: -0.044 at 750 iterations, -0.005
#   +- 0.007 at 6000 (4 seeds), +0.011 +- 0.011 at 12000 (0.892 +- 0.004 against 0.881 +- 0.007, 4 seeds; p = 0.14).
# The candidate full resolution is to decide (docs/la-curve.md): beta=0.3 (less pseudo-supervision), at 12000
#   iterations 0.894 +- 0.004 / 0.873 +- 0.005 against supervised 0.882 +- 0.006 / 0.866 +- 0.004, paired +0.012 +-
#   0.007 (p = 0.010) / +0.007 +- 0.005 (p = 0.019), above at every seed (6 seeds; picked at 6000 on seeds 1-2;
#   seeds 3-6 alone +0.014 +- 0.007, p = 0.028). All 64 scans labeled: +0.024 +- 0.003 (the headroom)."""


SUP_HELP = """# Supervised baseline: only w_sup_seg is on, and lambda=1 (L_seg itself, the paper's 'V-Net' row). DBiSL's
#   lambda=0.5 would only halve the learning rate here (LA-mini valid_16 Dice, seed 1: 0.766 -> 0.797)."""


# the transforms' sections on the heads (the dual-task cfgs)
DTRANSFORM = {"input": "logits", "kernel": 3, "h": 0.35, "scale": 0.5, "binarize": "softmin"}
R2S = {"input": "preact", "k": -1500}


def dbisl_section(c, seg, sdf, s2r, r2s, ramp, max_batches, extra=None):
    keys = dict(seg=",".join(map(str, seg)), sdf=",".join(map(str, sdf)))
    if s2r and s2r[0] is not None:
        keys.update(s2r=",".join(map(str, s2r)), r2s=",".join(map(str, r2s)))
    keys.update({
        "lambda": 0.5, "beta": 1.0, "rampup": ramp, "ramp": "sigmoid", "k_seg": -50,
        "dice_weight": 0.5, "ce_weight": 0.5, "pse_labeled": 1, "pseudo_hard": 0, "pse_mask": 1, "label_exact": 0})
    keys.update(extra or {})
    keys = {k: (max_batches if v == "schedule" else v) for k, v in keys.items()}
    c.lines.append(LOSS_HELP)
    if extra and all(extra.get(k) == v for k, v in DBISL_DEFAULTS.items()) and extra.get("w_pse", 1) != 0:
        c.lines.append(DEFAULTS_HELP)
    if extra is SUP_ONLY:
        c.lines.append(SUP_HELP)
    c.add("dbisl", **keys)


def model(f, w, h, d, batch, lr, max_batches, infer_stride, ramp, dual=True, loss_extra=None, title="", net_extra=None,
          transforms=None):
    """transforms: put the [dtransform]/[r2s] sections on the heads (default: with two decoders)."""
    transforms = dual if transforms is None else transforms
    c = Cfg()
    c.lines.append("# " + title)
    net_section(c, w, h, d, batch, lr, max_batches, infer_stride, net_extra)
    x = encoder(c, f)
    segA, sdfA, s2rA, r2sA, _ = decoder(c, f, x, "deconv", "Phi", transforms)
    if dual:
        c.add("dualsplit", "second decoder: branch again from the encoder output (after dropout)", layers=x[4])
        segB, sdfB, s2rB, r2sB, _ = decoder(c, f, x, "trilinear", "Psi", transforms)
        dbisl_section(c, [segA, segB], [sdfA, sdfB], [s2rA, s2rB], [r2sA, r2sB], ramp, max_batches, loss_extra)
    else:
        dbisl_section(c, [segA], [sdfA], None, None, ramp, max_batches, loss_extra)
    return "\n".join(c.lines)


# LA volumes differ in intensity statistics (the shared copy: mean 0.05-1.5, std 0.3-1.5 per case): every LA cfg
# z-scores each image when it is read
LA_NET = {"normalize": "zscore"}

# The supervised baselines train L_seg itself (the paper's Table 1 'V-Net'): lambda = 1. lambda = 0.5 belongs to
# DBiSL's L_all = lambda (L_sup + L_con) + beta L_pse; on a baseline it only halves the learning rate (LA-mini
# valid_16 Dice, seed 1: 0.766 with lambda 0.5, 0.797 with lambda 1).
SUP_ONLY = {"lambda": 1, "w_sup_reg": 0, "w_sup_s2r": 0, "w_sup_r2s": 0, "w_con_seg": 0, "w_con_reg": 0,
            "w_con_s2r": 0, "w_con_r2s": 0, "w_pse": 0}


def write(name, text):
    with open(os.path.join(ROOT, "cfg", name), "w") as fp:
        fp.write(text.rstrip() + "\n")
    print("wrote cfg/" + name)


if __name__ == "__main__":
    os.makedirs(os.path.join(ROOT, "cfg"), exist_ok=True)
    write("dbisl-vnet.cfg", model(16, 112, 112, 80, 4, 0.01, 17000, "4,18,18", 6000,
          title="DBiSL (paper §3): V-Net encoder, decoder Phi (transposed conv) and Psi (trilinear), each with a "
                "segmentation and a distance head; LA setting 112x112x80 crops, batch 4 (2 labeled + 2 unlabeled), "
                "SGD 0.01 poly, 17000 iterations.", loss_extra=DBISL_DEFAULTS, net_extra=LA_NET))
    write("vnet-sup.cfg", model(16, 112, 112, 80, 4, 0.01, 17000, "4,18,18", 0, dual=False, loss_extra=SUP_ONLY,
          title="Supervised baseline: the same V-Net with decoder Phi only, trained with Dice + CE on labeled "
                "data (use a .data file without an unlabeled list). Paper Table 1, 'V-Net'.", net_extra=LA_NET))
    write("dbisl-tiny.cfg", model(4, 32, 32, 16, 4, 0.01, 300, "8,16,16", 100,
          title="Small CPU-trainable DBiSL for the demo and tests: same layer types and loss defaults as "
                "dbisl-vnet.cfg, 4 base filters, 32x32x16 crops. make demo (phantoms, 300 iterations, seed 1): "
                "mean Dice 0.796 on the validation phantoms with these defaults (0.778 with S2R only, w_con_r2s=0 "
                "con_rampup=0), 0.472 with the paper's L_all (w_sup_r2s=1 lambda=0.5 con_rampup=0).", loss_extra=DBISL_DEFAULTS))
    write("la-mini-dbisl.cfg", model(8, 48, 48, 32, 4, 0.01, 750, "8,16,16", 375,
          title="LA-mini DBiSL (scripts/la_experiment): LA downsampled 2x, 48x48x32 crops, 8 base filters, batch 4 "
                "(2 labeled + 2 unlabeled), 750 iterations: the CPU-feasible protocol of docs/design.md §4.", loss_extra=DBISL_DEFAULTS, net_extra=LA_NET))
    write("la-mini-sup.cfg", model(8, 48, 48, 32, 4, 0.01, 750, "8,16,16", 0, dual=False, loss_extra=SUP_ONLY,
          title="LA-mini supervised baseline: la-mini-dbisl.cfg's V-Net, decoder Phi only, Dice + CE on the 16 "
                "labeled cases.", net_extra=LA_NET))
    write("sup-tiny.cfg", model(4, 32, 32, 16, 4, 0.01, 300, "8,16,16", 0, dual=False, loss_extra=SUP_ONLY,
          title="Supervised counterpart of dbisl-tiny.cfg."))


# --- The paper's other two benchmarks (README "Pancreas-CT and BraTS2019", scripts/ssl_experiment): 96x96x96 crops,
# 16 base filters, batch 4 (2 labeled + 2 unlabeled), sliding-window stride 16 ---
BENCH_NET_HELP = NET_HELP.replace(
    "normalize = none | zscore (each image z-scored per\n# volume when read, in training, validation, seg3d predict and test).",
    "normalize = none | zscore | ctwindow (each image z-scored per\n# volume when read, in training, validation, seg3d predict and test; ctwindow first clips it to\n"
    "# window_lo..window_hi, in HU for CT).")
# Pancreas-CT: the soft-tissue window of the public Pancreas preprocessing (-125..275 HU). Images already
# normalised (the MC-Net/CoraNet .h5 files) lie inside the window, and ctwindow then equals zscore.
PANCREAS_NET = {"normalize": "ctwindow", "window_lo": -125, "window_hi": 275}
# BraTS2019 (SSL4MIS .h5 files): FLAIR, already z-scored over the brain; z-scored again per volume when read.
BRATS_NET = {"normalize": "zscore"}


def write_benchmark_cfgs():
    for name, iters, ramp, net, what in (
            ("pancreas", 15000, 5000, PANCREAS_NET, "Pancreas-CT (82 CT scans, MC-Net/CoraNet .h5 layout, 62 train + 20 test; "
             "12 labeled = 20%), 15000 iterations as the MC-Net family"),
            ("brats", 30000, 10000, BRATS_NET, "BraTS2019 (SSL4MIS .h5 layout and train/val/test split files, FLAIR, whole "
             "tumour; 25 labeled = 10% of 250), 30000 iterations as SSL4MIS")):
        for dual in (True, False):
            text = model(16, 96, 96, 96, 4, 0.01, iters, "16,16,16", ramp if dual else 0, dual=dual,
                         loss_extra=DBISL_DEFAULTS if dual else SUP_ONLY, net_extra=net,
                         title=("DBiSL" if dual else "Supervised V-Net baseline (decoder Phi only)") + " on " + what +
                               ": 96x96x96 crops, 16 base filters, batch 4" + (" (2 labeled + 2 unlabeled)" if dual else "") +
                               ", SGD 0.01 poly, sliding-window stride 16. Protocol: scripts/ssl_experiment " + name + ".")
            write("%s-%s.cfg" % (name, "dbisl" if dual else "sup"), text.replace(NET_HELP, BENCH_NET_HELP))


if __name__ == "__main__":
    write_benchmark_cfgs()
