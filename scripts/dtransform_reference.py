#!/usr/bin/python3
# PyTorch autograd reference of the [dtransform] (s2r) transform, written from docs/design.md §4 and layers/dtransform_layer.h: fixtures for tests/test_dtransform.c and the benchmark reference.
# Usage: /usr/bin/python3 scripts/dtransform_reference.py fixtures            (writes tests/fixtures/dtransform/)
#        /usr/bin/python3 scripts/dtransform_reference.py bench N C D H W SCALE REPS [binarize]
import math
import os
import sys
import time

import torch
import torch.nn.functional as F
import fixtures_io

torch.set_default_dtype(torch.float32)


def kernel(k, h, device=None):
    r = k // 2
    ax = torch.arange(k, dtype=torch.float32, device=device) - r
    z, y, x = torch.meshgrid(ax, ax, ax, indexing="ij")
    dist = torch.sqrt(z * z + y * y + x * x)
    return dist, torch.exp(-dist / h)


def shifted(t, r):
    """all k^3 neighbour views of t (N,1,d,h,w) with replicate border, offset order (a, b, c) row-major"""
    d, h, w = t.shape[2:]
    tp = F.pad(t, (r,) * 6, mode="replicate")
    out = []
    for a in range(2 * r + 1):
        for b in range(2 * r + 1):
            for c in range(2 * r + 1):
                out.append(tp[:, :, a:a + d, b:b + h, c:c + w])
    return torch.stack(out, 0)


def dt(M, k=3, h=0.35, early_stop=True, mode="kornia"):
    """distance of each voxel to the mask M (N,1,d,h,w); 0 on M and where never reached"""
    r = k // 2
    dist, K = kernel(k, h, M.device)
    niter = math.ceil(max(M.shape[2:]) / r)
    S = torch.zeros_like(M)
    reached = torch.zeros(M.shape, dtype=torch.bool, device=M.device)
    bnd = M
    iters = 0
    for i in range(niter):
        iters += 1
        if mode == "kornia":
            conv = F.conv3d(F.pad(bnd, (r,) * 6, mode="replicate"), K.view(1, 1, k, k, k))
            newly = (conv > 0) & (conv < 1) & ~reached
            safe = torch.where(newly, conv, torch.ones_like(conv))
            cdt = -h * torch.log(safe)              # log only where newly reached (docs/design.md §4: no NaN gradients)
            S = torch.where(newly, i * r + cdt, S)
            bnd = torch.where(newly, torch.ones_like(bnd), bnd)
        else:  # softmin: log-domain soft chamfer, reached voxels keep exp(-S/h)
            big = torch.full_like(M, -1e30)
            logM = torch.where(M > 0, torch.log(torch.where(M > 0, M, torch.ones_like(M))), big)
            T = torch.where(reached, -S / h, logM)
            terms = shifted(T, r) - (dist.reshape(-1) / h).view(-1, 1, 1, 1, 1, 1)
            lc = torch.logsumexp(terms, 0)
            newly = (lc > -1e29) & (lc < 0) & ~reached
            S = torch.where(newly, -h * torch.where(newly, lc, torch.zeros_like(lc)), S)
        if not newly.any() and early_stop:
            break
        reached = reached | newly
    return S, iters


def minmax(S):
    n = S.shape[0]
    flat = S.reshape(n, -1)
    out = []
    for i in range(n):
        s = flat[i]
        mn, mx = s.min(), s.max()
        if mx > mn:
            out.append((s - mn) / (mx - mn))
        else:
            out.append(torch.zeros_like(s))
    return torch.stack(out, 0).view(S.shape)


def small(n, scale):
    return n if scale >= 1 else max(1, int(math.floor(n * scale + 1e-6)))


def s2r(P, k=3, h=0.35, scale=0.5, binarize="ste", tau=50.0, early_stop=True):
    """P: (N,C,D,H,W) probabilities -> R, channels independent"""
    N, C, D, H, W = P.shape
    x = P.reshape(N * C, 1, D, H, W)
    size = (small(D, scale), small(H, scale), small(W, scale))
    resized = size != (D, H, W)
    ps = F.interpolate(x, size=size, mode="trilinear", align_corners=False) if resized else x
    if binarize == "sigmoid":
        B = torch.sigmoid(tau * (ps - 0.5))
    else:
        hard = (ps > 0.5).float()
        B = ps + (hard - ps).detach()       # exact hard forward (Sterbenz), identity gradient
    mode = "softmin" if binarize == "softmin" else "kornia"
    Si, it1 = dt(B, k, h, early_stop, mode)
    So, it2 = dt(1 - B, k, h, early_stop, mode)
    Rs = minmax(Si) - minmax(So)
    R = F.interpolate(Rs, size=(D, H, W), mode="trilinear", align_corners=False) if resized else Rs
    return R.reshape(N, C, D, H, W), max(it1, it2)


def blob_prob(g, shape, nblobs=2):
    """smooth random probability map with blobs (so masks have a real inside and outside)"""
    N, C, D, H, W = shape
    z, y, x = torch.meshgrid(torch.arange(D), torch.arange(H), torch.arange(W), indexing="ij")
    P = torch.zeros(shape)
    for n in range(N):
        for c in range(C):
            f = torch.zeros(D, H, W)
            for _ in range(nblobs):
                cz, cy, cx = [float(torch.rand(1, generator=g)) * s for s in (D, H, W)]
                rad = 1.5 + float(torch.rand(1, generator=g)) * min(D, H, W) / 3
                f = torch.maximum(f, rad - torch.sqrt((z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2))
            P[n, c] = torch.sigmoid(1.5 * f + 0.3 * torch.randn(D, H, W, generator=g))
    return P


def fixtures(outdir):
    os.makedirs(outdir, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    cases = [
        ("ste_s1", (2, 1, 7, 9, 8), dict(scale=1.0, binarize="ste")),
        ("ste_s05", (1, 2, 10, 12, 9), dict(scale=0.5, binarize="ste")),
        ("sigmoid_s1", (1, 1, 6, 7, 8), dict(scale=1.0, binarize="sigmoid", tau=8.0)),
        ("softmin_s1", (2, 1, 7, 8, 9), dict(scale=1.0, binarize="softmin")),
        ("softmin_s05", (1, 1, 12, 10, 14), dict(scale=0.5, binarize="softmin")),
        ("ste_k5", (1, 1, 9, 8, 10), dict(scale=1.0, binarize="ste", k=5, h=0.5)),
    ]
    for name, shape, kw in cases:
        P = blob_prob(g, shape).requires_grad_(True)
        G = torch.randn(shape, generator=g)
        R, iters = s2r(P, **kw)
        (R * G).sum().backward()
        for suffix, t in (("prob", P.detach()), ("g", G), ("R", R.detach()), ("dprob", P.grad)):
            fixtures_io.write(os.path.join(outdir, f"{name}_{suffix}.bin"), t.contiguous().numpy().astype("float32"))
        print(name, shape, kw, "iters", iters, "R range", float(R.min()), float(R.max()))


def bench(N, C, D, H, W, scale, reps, binarize):
    import resource
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    g = torch.Generator().manual_seed(1)
    P0 = blob_prob(g, (N, C, D, H, W), nblobs=3)
    times = []
    for _ in range(reps):
        P = P0.clone().requires_grad_(True)
        t = time.perf_counter()
        R, iters = s2r(P, scale=scale, binarize=binarize)
        R.sum().backward()
        times.append(time.perf_counter() - t)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"torch s2r {N}x{C}x{D}x{H}x{W} scale={scale} {binarize}: fwd+bwd {min(times):.3f} s (min of {reps}), iters {iters}, peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "fixtures":
        fixtures(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "dtransform"))
    elif len(sys.argv) >= 9 and sys.argv[1] == "bench":
        a = sys.argv
        bench(int(a[2]), int(a[3]), int(a[4]), int(a[5]), int(a[6]), float(a[7]), int(a[8]), a[9] if len(a) > 9 else "ste")
    else:
        print(__doc__ or "see the header", file=sys.stderr)
        sys.exit(2)
