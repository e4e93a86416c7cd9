"""Writes PyTorch 1.13 reference numbers for [upsample3d] (F.interpolate trilinear) and [maxpool3d] (F.max_pool3d) into tests/fixtures/small_layers/.

Run with Debian's interpreter: /usr/bin/python3 scripts/fixtures_small_layers.py
Each case file <name>.bin is float32, concatenated: x (input), g (weights of the loss sum(y*g)),
y (forward output), dx (d loss / d x). Shapes are listed in tests/test_upsample3d.c / test_maxpool3d.c
(the CASES tables there must match the ones here).
"""
import os
import torch
import torch.nn.functional as F
import fixtures_io

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "small_layers")

# name, (N, C, D, H, W), scale (d, h, w), align_corners
UPSAMPLE = [
    ("up_s222_ac1", (2, 2, 3, 4, 5), (2, 2, 2), True),
    ("up_s222_ac0", (2, 2, 3, 4, 5), (2, 2, 2), False),
    ("up_s123_ac0", (2, 3, 5, 6, 7), (1, 2, 3), False),
    ("up_s312_ac1", (1, 3, 2, 3, 1), (3, 1, 2), True),
    ("up_s313_ac0", (1, 2, 1, 3, 4), (3, 1, 3), False),
]
# name, shape, kernel, stride, pad, quantized (ties)
MAXPOOL = [
    ("mp_k2s2p0", (2, 3, 5, 6, 7), (2, 2, 2), (2, 2, 2), (0, 0, 0), False),
    ("mp_k3s2p1", (2, 3, 5, 6, 7), (3, 3, 3), (2, 2, 2), (1, 1, 1), False),
    ("mp_k132_s121_p011", (2, 2, 4, 5, 6), (1, 3, 2), (1, 2, 1), (0, 1, 1), False),
    ("mp_k3s1p0_ties", (2, 2, 4, 5, 6), (3, 3, 3), (1, 1, 1), (0, 0, 0), True),
    ("mp_k2s2p1_ties", (1, 3, 5, 6, 7), (2, 2, 2), (2, 2, 2), (1, 1, 1), True),
]


def dump(name, arrays):
    fixtures_io.write_concat(os.path.join(OUT, name + ".bin"), [a.detach().contiguous().numpy().astype("float32") for a in arrays])


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(1234)
    print("torch", torch.__version__)
    for name, shape, s, ac in UPSAMPLE:
        x = torch.randn(shape, dtype=torch.float32, requires_grad=True)
        y = F.interpolate(x, scale_factor=s, mode="trilinear", align_corners=ac)
        g = torch.randn(y.shape, dtype=torch.float32)
        (dx,) = torch.autograd.grad((y * g).sum(), x)
        # the size= variant: with integer factors it must give the same numbers (documented in the header)
        x2 = x.detach().clone().requires_grad_(True)
        y2 = F.interpolate(x2, size=tuple(y.shape[2:]), mode="trilinear", align_corners=ac)
        (dx2,) = torch.autograd.grad((y2 * g).sum(), x2)
        dy = (y - y2).abs().max().item()
        dd = (dx - dx2).abs().max().item()
        print(f"{name}: out {tuple(y.shape)}  scale_factor vs size: max|dy|={dy:.3g} max|ddx|={dd:.3g}")
        assert dy <= 1e-6 and dd <= 1e-5, name
        dump(name, [x, g, y, dx])
    for name, shape, k, st, p, ties in MAXPOOL:
        if ties:
            x = torch.randint(0, 3, shape).float().requires_grad_(True)
        else:
            x = torch.randn(shape, dtype=torch.float32, requires_grad=True)
        y = F.max_pool3d(x, kernel_size=k, stride=st, padding=p)
        g = torch.randn(y.shape, dtype=torch.float32)
        (dx,) = torch.autograd.grad((y * g).sum(), x)
        print(f"{name}: out {tuple(y.shape)}")
        dump(name, [x, g, y, dx])


if __name__ == "__main__":
    main()
