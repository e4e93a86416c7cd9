#!/usr/bin/python3
"""Converts PyTorch checkpoints of the public V-Net family to darknet3d .weights for a matching cfg, and back.
Run with Debian's python3-torch (/usr/bin/python3).

Usage:
  torch_weights.py to-darknet <in.pth> <cfg> <out.weights>
  torch_weights.py to-torch   <cfg> <in.weights> <out.pth> [--layout mcnet|flat] [--classes 1|2] [--keep-sdf]
  torch_weights.py names      <cfg> [--layout mcnet|flat]      the state_dict name of every cfg layer with weights

Layouts (state_dict naming of the public repositories; the layout of a .pth is recognised from its names):
  flat   V-Net as in UA-MT (networks/vnet.py) and DTC's VNet (networks/vnet_sdf.py): block_one.conv.0.weight, ...,
         block_five_up.conv.0.weight (ConvTranspose3d), ..., block_nine.conv.0.weight, out_conv.weight, and DTC's
         distance head out_conv2.weight.
  mcnet  MC-Net's MCNet3d_v1 (and its one-decoder VNet): encoder.block_one.conv.0.weight, ...,
         decoder1.block_five_up.conv.0.weight (ConvTranspose3d), decoder2.block_five_up.conv.1.weight (Conv3d after
         a trilinear Upsample at .conv.0), ..., decoder1.out_conv.weight.
  In every block the Conv3d of stage j is at .conv.{3j} and its BatchNorm3d at .conv.{3j+1}.
The cfg decides the layer order: encoder, then each decoder's up-blocks and blocks, then its heads. With a [dbisl]
section its seg= layers are the segmentation heads (out_conv) and its sdf= layers the distance heads (out_conv2).

Heads:
  to-darknet: a 2-class out_conv (softmax, as UA-MT/MC-Net train LA) into a 1-channel seg head becomes the
    logit difference (class 1 - class 0), which gives the same foreground probability (sigmoid(z1 - z0) = softmax_1).
    A cfg distance head without out_conv2 in the checkpoint is set to zero (MC-Net has none); a note says so.
  to-torch: --classes 2 (default for mcnet) writes out_conv as [0, seg logit]; --classes 1 (default for flat) copies
    it. MCNet3d_v1 has no distance head: the cfg's are dropped with a note unless --keep-sdf writes them as
    decoderK.out_conv2.
A .pth may hold the state_dict itself or a dict with a 'state_dict', 'net' or 'model' entry; a 'module.' prefix
(DataParallel) is removed. Any name or shape that does not match is an error naming the first such tensor and the cfg
layer; so is a checkpoint tensor that no cfg layer takes. Exit code 0 on success, 1 on a mismatch or a missing
Python module (to-darknet and to-torch need numpy and torch; names and --help need neither), 2 on usage errors.
"""
import collections
import os
import sys

try:
    import numpy as np
except ImportError:   # main() names the package to install; --help works without it
    np = None

# the modules to-darknet and to-torch import, with the Debian package and the pip package that install each
NEEDS = {"numpy": ("python3-numpy", "numpy"), "torch": ("python3-torch", "torch")}

ENC = [("block_one", 1), ("block_one_dw", 0), ("block_two", 2), ("block_two_dw", 0), ("block_three", 3),
       ("block_three_dw", 0), ("block_four", 3), ("block_four_dw", 0), ("block_five", 3)]
DEC = [("block_five_up", -1), ("block_six", 3), ("block_six_up", -1), ("block_seven", 3), ("block_seven_up", -1),
       ("block_eight", 2), ("block_eight_up", -1), ("block_nine", 1)]
PASS_THROUGH = {"upsample3d", "maxpool3d", "dropout", "shortcut", "r2s", "dtransform", "dbisl"}


class Mismatch(Exception):
    pass


class Rec:
    """one [conv3d]/[deconv3d] section: the records of a .weights file, in cfg order"""

    def __init__(self, index, kind, cin, filters, k, bn, bias, line, after):
        self.index, self.kind, self.cin, self.filters, self.k = index, kind, cin, filters, k
        self.bn, self.bias, self.line, self.after = bn, bias, line, after

    def where(self, cfg):
        return "%s:%d: [%s] (layer %d)" % (cfg, self.line, self.kind, self.index)

    def wshape(self):
        if self.kind == "deconv3d":
            return (self.cin, self.filters) + self.k
        return (self.filters, self.cin) + self.k


def read_cfg(path):
    """Darknet cfg -> [net] options and [(section, {key: (value, line)}, line)] of the layers"""
    secs = []
    try:
        lines = open(path, encoding="utf-8-sig").read().splitlines()   # a byte-order mark is skipped, as seg3d does
    except OSError as e:
        raise Mismatch("%s: cannot read: %s" % (path, e.strerror))
    for n, raw in enumerate(lines, 1):
        s = raw.strip()
        if not s or s[0] in "#;":
            continue
        if s[0] == "[":
            if not s.endswith("]"):
                raise Mismatch("%s:%d: malformed section header '%s'" % (path, n, s))
            secs.append((s[1:-1].strip(), {}, n))
        elif "=" in s and secs:
            k, v = s.split("=", 1)
            k = k.strip()
            if k in secs[-1][1]:
                raise Mismatch("%s:%d: [%s]: key '%s' given twice (first on line %d)" % (path, n, secs[-1][0], k, secs[-1][1][k][1]))
            secs[-1][1][k] = (v.strip(), n)
        else:
            raise Mismatch("%s:%d: expected key=value inside a section, got '%s'" % (path, n, s))
    if not secs or secs[0][0] not in ("net", "network"):
        raise Mismatch("%s: the first section must be [net]" % path)
    return secs[0][1], secs[1:]


def cfg_int(path, sec, opts, key, default):
    if key not in opts:
        if default is None:
            raise Mismatch("%s:%d: [%s]: key '%s' is required" % (path, sec[2], sec[0], key))
        return default
    v, n = opts[key]
    try:
        return int(v)
    except ValueError:
        raise Mismatch("%s:%d: [%s]: key '%s': '%s' is not an integer" % (path, n, sec[0], key, v))


def cfg_layers(path, opts, key, index, sec):
    v, n = opts.get(key, ("", sec[2]))
    try:
        idx = [int(t) for t in v.split(",") if t.strip()]
    except ValueError:
        raise Mismatch("%s:%d: [%s]: key '%s': '%s' is not a list of layer indices" % (path, n, sec[0], key, v))
    if not idx:
        raise Mismatch("%s:%d: [%s]: key '%s' is required" % (path, n, sec[0], key))
    return [i if i >= 0 else index + i for i in idx]


def cfg_records(path):
    """the conv records of a cfg and the [dbisl] seg=/sdf= layer indices (None without [dbisl])"""
    net, layers = read_cfg(path)
    c = cfg_int(path, ("net", net, 1), net, "channels", 1)
    chans, recs, heads = [], [], None
    for i, sec in enumerate(layers):
        name, opts, line = sec
        if name in ("conv3d", "deconv3d"):
            size = cfg_int(path, sec, opts, "size", None)
            k = tuple(cfg_int(path, sec, opts, "size" + a, size) for a in ("_d", "_h", "_w"))
            f = cfg_int(path, sec, opts, "filters", None)
            recs.append(Rec(i, name, c, f, k, cfg_int(path, sec, opts, "batch_normalize", 0),
                            cfg_int(path, sec, opts, "bias", 1), line, layers[i - 1][0] if i else None))
            c = f
        elif name in ("route", "dualsplit"):
            idx = cfg_layers(path, opts, "layers", i, sec)
            if any(j < 0 or j >= i for j in idx):
                raise Mismatch("%s:%d: [%s]: key 'layers' names a layer outside 0..%d" % (path, line, name, i - 1))
            c = sum(chans[j] for j in idx)
        elif name not in PASS_THROUGH:
            raise Mismatch("%s:%d: [%s] (layer %d): not a layer of the V-Net family this tool converts"
                           % (path, line, name, i))
        if name == "dbisl":
            heads = (cfg_layers(path, opts, "seg", i, sec), cfg_layers(path, opts, "sdf", i, sec))
        chans.append(c)
    return recs, heads


class Slot:
    def __init__(self, rec, conv, bn, role):
        self.rec, self.conv, self.bn, self.role = rec, conv, bn, role


def plan(cfg, layout):
    """cfg + layout -> one Slot per conv record: the state_dict names of its Conv3d and BatchNorm3d"""
    recs, heads = cfg_records(cfg)
    slots, pos = [], 0

    def take(what):
        nonlocal pos
        if pos >= len(recs):
            raise Mismatch("%s: the cfg ends before %s (the V-Net layout needs more [conv3d]/[deconv3d] layers)"
                           % (cfg, what))
        pos += 1
        return recs[pos - 1]

    def block(prefix, name, stages):
        for j in range(stages):
            r = take("%s%s stage %d" % (prefix, name, j + 1))
            if r.kind != "conv3d" or not r.bn:
                raise Mismatch("%s: is %s%s.conv.%d in the V-Net layout: a [conv3d] with batch_normalize=1"
                               % (r.where(cfg), prefix, name, 3 * j))
            slots.append(Slot(r, "%s%s.conv.%d" % (prefix, name, 3 * j), "%s%s.conv.%d" % (prefix, name, 3 * j + 1),
                              "body"))

    def single(prefix, name, kind):
        r = take(prefix + name)
        if not r.bn or (kind and r.kind != kind):
            raise Mismatch("%s: is %s%s in the V-Net layout: a [%s] with batch_normalize=1"
                           % (r.where(cfg), prefix, name, kind or "conv3d] or [deconv3d"))
        at = 0
        if kind is None and r.kind == "conv3d":
            if r.after != "upsample3d":
                raise Mismatch("%s: %s%s is a [deconv3d], or an [upsample3d] followed by a [conv3d]"
                               % (r.where(cfg), prefix, name))
            at = 1   # nn.Upsample sits at .conv.0
        slots.append(Slot(r, "%s%s.conv.%d" % (prefix, name, at), "%s%s.conv.%d" % (prefix, name, at + 1), "body"))

    enc = "encoder." if layout == "mcnet" else ""
    for name, n in ENC:
        if n:
            block(enc, name, n)
        else:
            single(enc, name, "conv3d")
    ndec = 0
    while pos < len(recs):
        ndec += 1
        if layout == "flat" and ndec > 1:
            raise Mismatch("%s: the cfg has a second decoder (layer %d): use --layout mcnet"
                           % (cfg, recs[pos].index))
        dec = "decoder%d." % ndec if layout == "mcnet" else ""
        for name, n in DEC:
            if n > 0:
                block(dec, name, n)
            else:
                single(dec, name, None)
        nh = 0
        while pos < len(recs) and recs[pos].k == (1, 1, 1) and not recs[pos].bn:
            r = take("a head")
            if heads is not None:
                role = "seg" if r.index in heads[0] else "sdf" if r.index in heads[1] else None
                if role is None:
                    raise Mismatch("%s: a 1x1x1 head that the [dbisl] section names in neither seg= nor sdf="
                                   % r.where(cfg))
            else:
                role = "seg" if nh == 0 else None
                if role is None:
                    raise Mismatch("%s: a second head without a [dbisl] section to say what it is" % r.where(cfg))
            slots.append(Slot(r, dec + ("out_conv" if role == "seg" else "out_conv2"), None, role))
            nh += 1
        if nh == 0:
            raise Mismatch("%s: decoder %d has no 1x1x1 head after block_nine" % (cfg, ndec))
    return slots


def load_state_dict(path):
    import torch
    try:
        obj = torch.load(path, map_location="cpu")
    except Exception as e:   # torch raises many types for a file that is not a checkpoint
        raise Mismatch("%s: cannot read as a PyTorch checkpoint: %s" % (path, e))
    if isinstance(obj, dict):
        for key in ("state_dict", "net", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(hasattr(v, "shape") for v in obj.values()):
        raise Mismatch("%s: holds neither a state_dict nor a dict with a 'state_dict', 'net' or 'model' entry" % path)
    sd = collections.OrderedDict()
    for k, v in obj.items():
        sd[k[7:] if k.startswith("module.") else k] = v.detach().cpu().float().numpy() \
            if v.is_floating_point() else v.cpu().numpy()
    return sd


def layout_of(sd):
    return "mcnet" if any(k.startswith("encoder.") for k in sd) else "flat"


def to_darknet(pth, cfg, out):
    sd = load_state_dict(pth)
    layout = layout_of(sd)
    slots = plan(cfg, layout)
    used = set()
    floats = []

    def get(name, shape, slot):
        if name not in sd:
            raise Mismatch("%s: checkpoint has no tensor '%s' (%s layout), which %s needs"
                           % (pth, name, layout, slot.rec.where(cfg)))
        t = sd[name]
        used.add(name)
        if shape is not None and tuple(t.shape) != tuple(shape):
            raise Mismatch("%s: tensor '%s' has shape %s; %s needs %s"
                           % (pth, name, tuple(t.shape), slot.rec.where(cfg), tuple(shape)))
        return t.astype(np.float32)

    for s in slots:
        r = s.rec
        if s.role == "sdf" and s.conv + ".weight" not in sd:
            print("note: %s has no '%s': the distance head %s is set to 0" % (pth, s.conv, r.where(cfg)),
                  file=sys.stderr)
            w, b = np.zeros(r.wshape(), np.float32), np.zeros(r.filters, np.float32)
        elif s.role == "seg" and r.filters == 1 and s.conv + ".weight" in sd and sd[s.conv + ".weight"].shape[0] == 2:
            w2 = get(s.conv + ".weight", (2,) + r.wshape()[1:], s)
            b2 = get(s.conv + ".bias", (2,), s)
            w, b = w2[1:2] - w2[0:1], b2[1:2] - b2[0:1]
            print("note: '%s' has 2 classes: %s takes the logit difference (class 1 - class 0)" % (s.conv, r.where(cfg)),
                  file=sys.stderr)
        else:
            w = get(s.conv + ".weight", r.wshape(), s)
            b = get(s.conv + ".bias", (r.filters,), s)
        if not r.bias and np.any(b != 0):
            raise Mismatch("%s: tensor '%s.bias' is not zero, but %s has bias=0" % (pth, s.conv, r.where(cfg)))
        if r.bn:
            g = [get("%s.%s" % (s.bn, k), (r.filters,), s) for k in ("bias", "weight", "running_mean", "running_var")]
            floats += g + [w.ravel()] + ([b] if r.bias else [])
        else:
            floats += ([b] if r.bias else []) + [w.ravel()]
    extra = [k for k in sd if k not in used and not k.endswith("num_batches_tracked")]
    if extra:
        raise Mismatch("%s: tensor '%s' %s has no place in %s (%s layout)"
                       % (pth, extra[0], tuple(sd[extra[0]].shape), cfg, layout))
    with open(out + ".tmp", "wb") as fp:
        np.array([0, 2, 0], np.int32).tofile(fp)     # Darknet's header: major, minor, revision
        np.array([0], np.uint64).tofile(fp)          # seen = 0: training from it starts at iteration 0
        np.concatenate(floats).astype(np.float32).tofile(fp)
    os.replace(out + ".tmp", out)
    print("wrote %s: %d layers from %s (%s layout), %d tensors" % (out, len(slots), pth, layout, len(used)))


def read_weights(path):
    raw = open(path, "rb").read()
    if len(raw) < 16:
        raise Mismatch("%s: shorter than a Darknet weights header" % path)
    major, minor, _ = np.frombuffer(raw[:12], np.int32)
    off = 20 if major * 10 + minor >= 2 and major < 1000 and minor < 1000 else 16
    return np.frombuffer(raw[off:], np.float32)


def to_torch(cfg, weights, out, layout, classes, keep_sdf):
    import torch
    slots = plan(cfg, layout)
    data = read_weights(weights)
    pos = 0
    sd = collections.OrderedDict()

    def take(n, r):
        nonlocal pos
        if pos + n > data.size:
            raise Mismatch("%s: ends inside %s (%d floats, the cfg needs more)" % (weights, r.where(cfg), data.size))
        pos += n
        return data[pos - n:pos].copy()

    def put(name, a):
        sd[name] = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    for s in slots:
        r = s.rec
        f = r.filters
        nw = int(np.prod(r.wshape()))
        if r.bn:
            beta, gamma, mean, var = (take(f, r) for _ in range(4))
            w = take(nw, r).reshape(r.wshape())
            b = take(f, r) if r.bias else np.zeros(f, np.float32)
        else:
            b = take(f, r) if r.bias else np.zeros(f, np.float32)
            w = take(nw, r).reshape(r.wshape())
        if s.role == "sdf" and layout == "mcnet" and not keep_sdf:
            print("note: MCNet3d_v1 has no distance head: %s is not written (--keep-sdf writes it as '%s')"
                  % (r.where(cfg), s.conv), file=sys.stderr)
            continue
        if s.role == "seg" and classes == 2 and f == 1:
            w = np.concatenate([np.zeros_like(w), w])
            b = np.concatenate([np.zeros_like(b), b])
        put(s.conv + ".weight", w)
        put(s.conv + ".bias", b)
        if r.bn:
            put(s.bn + ".weight", gamma)
            put(s.bn + ".bias", beta)
            put(s.bn + ".running_mean", mean)
            put(s.bn + ".running_var", var)
            sd[s.bn + ".num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    if pos != data.size:
        raise Mismatch("%s: %d floats after the last layer of %s (weights of another cfg?)" % (weights, data.size - pos, cfg))
    torch.save(sd, out + ".tmp")
    os.replace(out + ".tmp", out)
    print("wrote %s: %d tensors, %s layout, %d-class out_conv" % (out, len(sd), layout, classes))


# ---- PyTorch modules with the public naming, for loading a converted state_dict (eval forward only) ----

def modules():
    import torch.nn as nn

    def cbr(cin, cout, k=3, s=1, p=1, up=None):
        ops = [nn.Upsample(scale_factor=2, mode="trilinear", align_corners=True)] if up == "trilinear" else []
        conv = nn.ConvTranspose3d(cin, cout, k, stride=s, padding=p) if up == "deconv" else \
            nn.Conv3d(cin, cout, k, stride=s, padding=p)
        return ops + [conv, nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]

    class Block(nn.Module):
        def __init__(self, ops):
            super().__init__()
            self.conv = nn.Sequential(*ops)

        def forward(self, x):
            return self.conv(x)

    def stages(n, cin, cout):
        return Block(sum((cbr(cin if i == 0 else cout, cout) for i in range(n)), []))

    def add_encoder(mod, cin, f):
        m = [1, 2, 4, 8, 16]
        for i, (name, n) in enumerate(ENC):
            lvl = i // 2
            if n:
                setattr(mod, name, stages(n, cin if i == 0 else f * m[lvl], f * m[lvl]))
            else:
                setattr(mod, name, Block(cbr(f * m[lvl], f * m[lvl + 1], 2, 2, 0)))

    def run_encoder(mod, x):
        out = []
        for name, n in ENC:
            x = getattr(mod, name)(x)
            if n:
                out.append(x)
        return out

    def add_decoder(mod, f, up, classes, sdf):
        m = [16, 8, 4, 2, 1]
        for i, (name, n) in enumerate(DEC):
            lvl = (i + 1) // 2
            if n > 0:
                setattr(mod, name, stages(n, f * m[lvl], f * m[lvl]))
            elif up == "deconv":
                setattr(mod, name, Block(cbr(f * m[lvl], f * m[lvl + 1], 2, 2, 0, "deconv")))
            else:
                setattr(mod, name, Block(cbr(f * m[lvl], f * m[lvl + 1], up="trilinear")))
        mod.out_conv = nn.Conv3d(f, classes, 1)
        if sdf:
            mod.out_conv2 = nn.Conv3d(f, 1, 1)

    def run_decoder(mod, feats):
        x = feats[4]
        for i, (name, n) in enumerate(DEC):
            x = getattr(mod, name)(x)
            if n < 0:
                x = x + feats[3 - i // 2]      # additive skip after each up-block
        return mod.out_conv(x), (mod.out_conv2(x) if hasattr(mod, "out_conv2") else None)

    class Encoder(nn.Module):
        def __init__(self, cin, f):
            super().__init__()
            add_encoder(self, cin, f)

        def forward(self, x):
            return run_encoder(self, x)

    class Decoder(nn.Module):
        def __init__(self, f, up, classes, sdf):
            super().__init__()
            add_decoder(self, f, up, classes, sdf)

        def forward(self, feats):
            return run_decoder(self, feats)

    class Flat(nn.Module):
        """UA-MT V-Net / DTC VNet naming: the encoder's and the decoder's blocks at the top level"""

        def __init__(self, cin, f, classes, sdf):
            super().__init__()
            add_encoder(self, cin, f)
            add_decoder(self, f, "deconv", classes, sdf)

        def forward(self, x):
            return [run_decoder(self, run_encoder(self, x))]

    class MC(nn.Module):
        """MCNet3d_v1 naming: encoder, decoder1 (ConvTranspose3d), decoder2.. (trilinear)"""

        def __init__(self, cin, f, classes, sdf, ndec):
            super().__init__()
            self.encoder = Encoder(cin, f)
            for k in range(ndec):
                setattr(self, "decoder%d" % (k + 1), Decoder(f, "deconv" if k == 0 else "trilinear", classes, sdf))
            self.ndec = ndec

        def forward(self, x):
            feats = self.encoder(x)
            return [getattr(self, "decoder%d" % (k + 1))(feats) for k in range(self.ndec)]

    return Flat, MC


def build_model(layout, cin, f, classes, sdf, ndec=1):
    """a module whose state_dict names are the layout's; forward returns [(seg, sdf or None)] per decoder.
    Dropout is left out: these modules are for the eval forward."""
    Flat, MC = modules()
    return Flat(cin, f, classes, sdf) if layout == "flat" else MC(cin, f, classes, sdf, ndec)


def missing_module(names):
    """the first of names that cannot be imported, or None"""
    for name in names:
        if name == "numpy" and np is not None:
            continue
        try:
            __import__(name)
        except ImportError:
            return name
    return None


def main(argv):
    if any(a in ("-h", "--help", "help") for a in argv[1:]):
        print(__doc__)
        return 0
    cmd = next((a for a in argv[1:] if not a.startswith("--")), "")
    gone = missing_module(["numpy", "torch"]) if cmd in ("to-darknet", "to-torch") else None
    if gone:
        print("error: %s %s needs the Python module %s: apt-get install %s (Debian) or pip install %s"
              % (os.path.basename(argv[0]), cmd, gone, NEEDS[gone][0], NEEDS[gone][1]), file=sys.stderr)
        return 1
    args = [a for a in argv[1:] if not a.startswith("--")]
    opts = {}
    it = iter(argv[1:])
    for a in it:
        if a == "--keep-sdf":
            opts["keep_sdf"] = True
        elif a in ("--layout", "--classes"):
            v = next(it, None)
            if v is None:
                print("error: %s needs a value" % a, file=sys.stderr)
                return 2
            opts[a[2:]] = v
            args.remove(v)
        elif a.startswith("--"):
            print("error: unknown option %s\n%s" % (a, __doc__), file=sys.stderr)
            return 2
    if opts.get("layout", "mcnet") not in ("mcnet", "flat") or opts.get("classes", "1") not in ("1", "2"):
        print("error: --layout takes mcnet or flat, --classes 1 or 2", file=sys.stderr)
        return 2
    try:
        if len(args) == 4 and args[0] == "to-darknet":
            to_darknet(args[1], args[2], args[3])
        elif len(args) == 4 and args[0] == "to-torch":
            recs, heads = cfg_records(args[1])
            dual = heads is not None and len(heads[0]) > 1
            layout = opts.get("layout", "mcnet" if dual else "flat")
            classes = int(opts.get("classes", 2 if layout == "mcnet" else 1))
            to_torch(args[1], args[2], args[3], layout, classes, opts.get("keep_sdf", False))
        elif len(args) == 2 and args[0] == "names":
            recs, heads = cfg_records(args[1])
            dual = heads is not None and len(heads[0]) > 1
            for s in plan(args[1], opts.get("layout", "mcnet" if dual else "flat")):
                print("layer %d [%s] %s%s" % (s.rec.index, s.rec.kind, s.conv, " + " + s.bn if s.bn else ""))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except Mismatch as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    except OSError as e:
        print("error: %s: %s" % (e.filename, e.strerror), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
