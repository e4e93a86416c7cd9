#!/usr/bin/python3
# Writes the PyTorch reference fixtures of [conv3d]/[deconv3d] (tests/fixtures/conv3d/) and checks the V-Net parameter count; run with Debian's /usr/bin/python3 (PyTorch 1.13).
#
# Each case is a small odd-shaped Conv3d / ConvTranspose3d (+ BatchNorm3d(momentum=0.01) + ReLU).
# Loss = sum(G * y) for a random G, so the gradients are those of a Darknet delta equal to G.
# Files, float32 little-endian, one tensor each with its shape in a header (scripts/fixtures_io.py): <case>_<name>.bin
#   inputs:  x, w, b (conv bias, when bias), gamma, beta, rm0, rv0 (initial running stats, when bn), g
#   train:   y, dx, dw, db, dgamma, dbeta, rm, rv (running stats after the step)
#   eval:    ey, edx, edw, edb, edgamma, edbeta  (bn only: eval mode with the updated running stats)
import os
import sys
import torch
import torch.nn as nn
import torch.nn.functional as F
import fixtures_io

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'fixtures', 'conv3d')

# name, transposed, N, C, (D, H, W), OC, k, s, p, bn, bias, relu
CASES = [
    ('c1', False, 2, 3, (5, 6, 7), 4, (3, 2, 3), (1, 1, 1), (1, 0, 1), False, True, False),
    ('c2', False, 2, 3, (5, 6, 7), 4, (3, 3, 3), (2, 2, 2), (1, 1, 1), True, True, True),
    ('c3', False, 2, 3, (5, 6, 7), 5, (1, 1, 1), (1, 1, 1), (0, 0, 0), True, False, False),
    ('c4', False, 2, 3, (5, 6, 7), 4, (2, 3, 2), (2, 1, 2), (0, 1, 1), False, False, False),
    ('d1', True, 2, 3, (3, 4, 5), 4, (2, 2, 2), (2, 2, 2), (0, 0, 0), True, True, True),
    ('d2', True, 2, 3, (3, 4, 5), 4, (3, 2, 3), (2, 1, 2), (1, 0, 1), False, True, False),
    ('d3', True, 2, 3, (3, 4, 5), 2, (1, 1, 1), (1, 1, 1), (0, 0, 0), True, False, True),
]


def save(case, name, t):
    fixtures_io.write(os.path.join(OUT, '%s_%s.bin' % (case, name)), t.detach().to(torch.float32).contiguous().numpy())


def run(case):
    name, tr, N, C, dhw, OC, k, s, p, bn, bias, relu = case
    torch.manual_seed(sum(map(ord, name)))
    conv = (nn.ConvTranspose3d if tr else nn.Conv3d)(C, OC, k, stride=s, padding=p, bias=bias).double()
    with torch.no_grad():
        conv.weight.uniform_(-0.5, 0.5)
        if bias:
            conv.bias.uniform_(-0.5, 0.5)
    norm = None
    if bn:
        norm = nn.BatchNorm3d(OC, eps=1e-5, momentum=0.01).double()
        with torch.no_grad():
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
            norm.running_mean.uniform_(-0.5, 0.5)
            norm.running_var.uniform_(0.5, 1.5)
    x = torch.randn(N, C, *dhw, dtype=torch.float64)
    save(name, 'x', x)
    save(name, 'w', conv.weight)
    if bias:
        save(name, 'b', conv.bias)
    if bn:
        save(name, 'gamma', norm.weight)
        save(name, 'beta', norm.bias)
        save(name, 'rm0', norm.running_mean)
        save(name, 'rv0', norm.running_var)

    def fwd(train):
        conv.zero_grad()
        if norm is not None:
            norm.zero_grad()
            norm.train(train)
        xi = x.clone().requires_grad_(True)
        y = conv(xi)
        if norm is not None:
            y = norm(y)
        if relu:
            y = F.relu(y)
        return xi, y

    xi, y = fwd(True)
    g = torch.randn_like(y)
    save(name, 'g', g)
    (y * g).sum().backward()
    save(name, 'y', y)
    save(name, 'dx', xi.grad)
    save(name, 'dw', conv.weight.grad)
    if bias:
        save(name, 'db', conv.bias.grad)
    if bn:
        save(name, 'dgamma', norm.weight.grad)
        save(name, 'dbeta', norm.bias.grad)
        save(name, 'rm', norm.running_mean)
        save(name, 'rv', norm.running_var)
        xi, y = fwd(False)
        (y * g).sum().backward()
        save(name, 'ey', y)
        save(name, 'edx', xi.grad)
        save(name, 'edw', conv.weight.grad)
        if bias:
            save(name, 'edb', conv.bias.grad)
        save(name, 'edgamma', norm.weight.grad)
        save(name, 'edbeta', norm.bias.grad)


def vnet_params(n_filters=16, n_classes=2):
    """The single-decoder V-Net of docs/design.md §3 (BN, transposed-conv upsampling), as in the public code."""
    def block(n, cin, cout):
        layers = []
        for i in range(n):
            layers += [nn.Conv3d(cin if i == 0 else cout, cout, 3, padding=1), nn.BatchNorm3d(cout), nn.ReLU()]
        return nn.Sequential(*layers)

    def down(cin, cout):
        return nn.Sequential(nn.Conv3d(cin, cout, 2, stride=2), nn.BatchNorm3d(cout), nn.ReLU())

    def up(cin, cout):
        return nn.Sequential(nn.ConvTranspose3d(cin, cout, 2, stride=2), nn.BatchNorm3d(cout), nn.ReLU())

    f = n_filters
    m = nn.ModuleList([block(1, 1, f), down(f, 2 * f), block(2, 2 * f, 2 * f), down(2 * f, 4 * f),
                       block(3, 4 * f, 4 * f), down(4 * f, 8 * f), block(3, 8 * f, 8 * f), down(8 * f, 16 * f),
                       block(3, 16 * f, 16 * f), up(16 * f, 8 * f), block(3, 8 * f, 8 * f), up(8 * f, 4 * f),
                       block(3, 4 * f, 4 * f), up(4 * f, 2 * f), block(2, 2 * f, 2 * f), up(2 * f, f),
                       block(1, f, f), nn.Conv3d(f, n_classes, 1)])
    return sum(t.numel() for t in m.parameters())


if __name__ == '__main__':
    os.makedirs(OUT, exist_ok=True)
    for c in CASES:
        run(c)
    n = vnet_params()
    print('V-Net (1 in, 2 out, n_filters 16) parameters: %d' % n)
    if n != 9448866:
        sys.exit('unexpected V-Net parameter count')
