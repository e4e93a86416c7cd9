#!/bin/sh
# scripts/torch_weights.py both ways: a random PyTorch DTC VNet / MCNet3d_v1 converted to .weights predicts what PyTorch's forward gives (1e-4), trained .weights converted to a state_dict give our prediction in PyTorch, and mismatches name the tensor.
D=${DARKNET:-./darknet}
PY=${TORCH_PYTHON:-/usr/bin/python3}
# under a sanitizer build (make asan) nothing: the time goes to PyTorch, and the darknet calls (predict and train of the
# tiny cfgs) run under the sanitizers in test_train_tiny.sh and test_pictures.sh; make test runs this whole file
case ${BUILD:-} in *-san*) echo "SKIP torch_weights: sanitizer build (make test runs it; its darknet calls run under the sanitizers in other tests)"; exit 0;; esac
# without numpy or torch: --help works, a command says in one line what to install (a module that fails to import hides
# the real one on PYTHONPATH; an empty numpy stands in for the real one when torch is the module hidden)
H=tests/out/torch_weights_modules.$$
rm -rf "$H"; mkdir -p "$H/no_numpy/numpy" "$H/no_torch/numpy" "$H/no_torch/torch"
echo 'raise ImportError("hidden by tests/test_torch_weights.sh")' > "$H/no_numpy/numpy/__init__.py"
cp "$H/no_numpy/numpy/__init__.py" "$H/no_torch/torch/__init__.py"
: > "$H/no_torch/numpy/__init__.py"
modules_ok=1
PYTHONPATH="$H/no_numpy" "$PY" scripts/torch_weights.py --help > "$H/out" 2> "$H/err"
if [ $? -ne 0 ] || ! grep -q '^Usage:' "$H/out" || [ -s "$H/err" ]; then echo "  --help without numpy: not the usage on stdout with status 0"; modules_ok=0; fi
for case in "no_numpy numpy python3-numpy" "no_torch torch python3-torch"; do
  set -- $case
  PYTHONPATH="$H/$1" "$PY" scripts/torch_weights.py to-darknet "$H/in.pth" cfg/dbisl-tiny.cfg "$H/out.weights" > "$H/out" 2> "$H/err"
  rc=$?
  if [ $rc -ne 1 ] || [ "$(wc -l < "$H/err")" -ne 1 ] || ! grep -q "needs the Python module $2: apt-get install $3 (Debian) or pip install $2\$" "$H/err"; then
    echo "  to-darknet without $2: status $rc, stderr:"; sed 's/^/    /' "$H/err" | tail -3; modules_ok=0
  fi
done
if [ $modules_ok = 1 ]; then echo "PASS torch_weights_missing_modules"; rm -rf "$H"; else echo "FAIL torch_weights_missing_modules"; fi
modules_failed=$((1 - modules_ok))
if [ ! -x "$D" ]; then echo "SKIP torch_weights: no darknet binary at $D"; exit $modules_failed; fi
if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
  echo "SKIP torch_weights: $PY cannot import torch and numpy (Debian: apt-get install python3-torch)"; exit $modules_failed
fi
T=tests/out/torch_weights.$$
rm -rf "$T"; mkdir -p "$T"
TW=scripts/torch_weights.py
cat > "$T/helper.py" <<'EOF'
# rand / fwd: PyTorch side of the test (eval forward of the public-layout modules of scripts/torch_weights.py)
import gzip, struct, sys
import numpy as np
import torch
sys.path.insert(0, "scripts")
import torch_weights as tw

def write_nifti(path, a):
    nz, ny, nx = a.shape
    h = bytearray(352)
    struct.pack_into("<i", h, 0, 348)
    struct.pack_into("<8h", h, 40, 3, nx, ny, nz, 1, 1, 1, 1)
    struct.pack_into("<hh", h, 70, 16, 32)
    struct.pack_into("<8f", h, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<fff", h, 108, 352.0, 1.0, 0.0)
    h[344:348] = b"n+1\0"
    open(path, "wb").write(bytes(h) + a.astype("<f4").tobytes())

def read_nifti(path):
    raw = (gzip.open if path.endswith(".gz") else open)(path, "rb").read()
    dim = struct.unpack("<8h", raw[40:56]); dt = struct.unpack("<h", raw[70:72])[0]
    off = int(struct.unpack("<f", raw[108:112])[0])
    assert dt == 16, "prob volume is not float32"
    return np.frombuffer(raw, "<f4", dim[1] * dim[2] * dim[3], off).reshape(dim[3], dim[2], dim[1])

def model(layout, cfg, classes, sdf):
    recs, heads = tw.cfg_records(cfg)
    return tw.build_model(layout, 1, recs[0].filters, classes, sdf, len(heads[0]) if heads else 1)

def prob(net, x):
    with torch.no_grad():
        outs = net.eval()(torch.from_numpy(x)[None, None])
    ps = [torch.softmax(s, 1)[0, 1] if s.shape[1] == 2 else torch.sigmoid(s)[0, 0] for s, _ in outs]
    return (sum(ps) / len(ps)).numpy()

cmd = sys.argv[1]
if cmd == "rand":    # rand <layout> <cfg> <classes> <sdf 0|1> <wrap> <seed> <out.pth> <in.nii> <torch_prob.npy> D H W
    layout, cfg, classes, sdf, wrap, seed, pth, nii, npy = sys.argv[2:11]
    D, H, W = map(int, sys.argv[11:14])
    torch.manual_seed(int(seed))
    net = model(layout, cfg, int(classes), sdf == "1")
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.1, 0.1); m.running_var.uniform_(0.5, 2.0)
    sd = net.state_dict()
    if wrap == "module":
        sd = {"module." + k: v for k, v in sd.items()}
    torch.save({"state_dict": sd, "epoch": 3} if wrap == "state_dict" else {"net": sd} if wrap == "net" else sd, pth)
    g = np.random.default_rng(int(seed))
    x = g.normal(size=(D, H, W)).astype(np.float32)
    x[D // 4:3 * D // 4, H // 4:3 * H // 4, W // 4:3 * W // 4] += 2.0
    write_nifti(nii, x)
    np.save(npy, prob(net, x))
elif cmd == "fwd":   # fwd <layout> <cfg> <classes> <sdf 0|1> <in.pth> <in.nii> <torch_prob.npy>
    layout, cfg, classes, sdf, pth, nii, npy = sys.argv[2:9]
    net = model(layout, cfg, int(classes), sdf == "1")
    net.load_state_dict(torch.load(pth), strict=True)
    np.save(npy, prob(net, read_nifti(nii).copy()))
elif cmd == "cmp":   # cmp <darknet prob.nii> <torch_prob.npy> <tol>: prints the max abs difference, exit 1 above tol
    a, b = read_nifti(sys.argv[2]), np.load(sys.argv[3])
    d = float(np.abs(a.astype(np.float64) - b).max()) if a.shape == b.shape else float("inf")
    print("max_abs_diff=%.3g range=[%.3f,%.3f] shape=%s" % (d, float(b.min()), float(b.max()), a.shape))
    sys.exit(0 if d <= float(sys.argv[4]) else 1)
elif cmd == "same":  # same <a.pth> <b.pth>: identical tensors, names and values
    a, b = torch.load(sys.argv[2]), torch.load(sys.argv[3])
    a = a.get("state_dict", a)
    bad = [k for k in a if k not in b or not torch.equal(a[k].float(), b[k].float())] + [k for k in b if k not in a]
    print("tensors=%d differing=%s" % (len(a), bad[:3]))
    sys.exit(1 if bad else 0)
EOF
H="$PY $T/helper.py"
failed=$modules_failed
fail() { echo "FAIL $1"; failed=1; }
check() {   # name, command...: PASS when the command succeeds, else FAIL with its last output lines
  name=$1; shift
  if "$@" > "$T/out" 2>&1; then echo "PASS $name ($(tail -1 "$T/out"))"; else fail "$name: $(tail -3 "$T/out" | tr '\n' ' ')"; fi
}

# 1. DTC VNet (flat naming, 1-class seg head + out_conv2 distance head) -> cfg/sup-tiny.cfg
$H rand flat cfg/sup-tiny.cfg 1 1 state_dict 1 "$T/dtc.pth" "$T/x.nii" "$T/dtc_torch.npy" 16 32 32 > /dev/null 2>&1 &&
$PY $TW to-darknet "$T/dtc.pth" cfg/sup-tiny.cfg "$T/dtc.weights" > "$T/log" 2>&1 &&
$D seg3d predict cfg/sup-tiny.cfg "$T/dtc.weights" "$T/x.nii" "$T/dtc_lab.nii" -prob "$T/dtc_prob.nii" >> "$T/log" 2>&1 ||
  { fail "torch_weights_dtc_to_darknet: conversion or predict failed: $(tail -2 "$T/log" | tr '\n' ' ')"; }
[ -f "$T/dtc_prob.nii" ] && check torch_weights_dtc_to_darknet $H cmp "$T/dtc_prob.nii" "$T/dtc_torch.npy" 1e-4

# 2. MCNet3d_v1 (2-class out_conv, no distance heads, saved as {'net': ...} with DataParallel's 'module.') -> cfg/dbisl-tiny.cfg
$H rand mcnet cfg/dbisl-tiny.cfg 2 0 module 2 "$T/mc.pth" "$T/x2.nii" "$T/mc_torch.npy" 16 32 32 > /dev/null 2>&1 &&
$PY $TW to-darknet "$T/mc.pth" cfg/dbisl-tiny.cfg "$T/mc.weights" > "$T/log" 2>&1 &&
$D seg3d predict cfg/dbisl-tiny.cfg "$T/mc.weights" "$T/x2.nii" "$T/mc_lab.nii" -prob "$T/mc_prob.nii" >> "$T/log" 2>&1 ||
  { fail "torch_weights_mcnet_to_darknet: conversion or predict failed: $(tail -2 "$T/log" | tr '\n' ' ')"; }
[ -f "$T/mc_prob.nii" ] && check torch_weights_mcnet_to_darknet $H cmp "$T/mc_prob.nii" "$T/mc_torch.npy" 1e-4
if grep -q "distance head .* is set to 0" "$T/log" && grep -q "logit difference" "$T/log"; then
  echo "PASS torch_weights_mcnet_notes"; else fail "torch_weights_mcnet_notes: no note on the zeroed distance heads / 2-class heads"; fi

# 3. the reverse: weights trained by seg3d train (dual decoder, BN statistics moved) -> MCNet3d_v1 state_dict
$D seg3d synth "$T/synth" 6 -seed 3 > /dev/null 2>&1 &&
$D seg3d train "$T/synth/synth.data" cfg/dbisl-tiny.cfg -max_batches 2 -seed 1 > /dev/null 2> "$T/train.err" ||
  fail "torch_weights_train: $(tail -2 "$T/train.err" | tr '\n' ' ')"
W="$T/synth/backup/dbisl-tiny_final.weights"
if [ -f "$W" ]; then
  $PY $TW to-torch cfg/dbisl-tiny.cfg "$W" "$T/back.pth" > "$T/log" 2>&1 &&
  $H fwd mcnet cfg/dbisl-tiny.cfg 2 0 "$T/back.pth" "$T/x2.nii" "$T/back_torch.npy" >> "$T/log" 2>&1 &&
  $D seg3d predict cfg/dbisl-tiny.cfg "$W" "$T/x2.nii" "$T/back_lab.nii" -prob "$T/back_prob.nii" >> "$T/log" 2>&1 ||
    fail "torch_weights_darknet_to_mcnet: $(tail -2 "$T/log" | tr '\n' ' ')"
  [ -f "$T/back_torch.npy" ] && [ -f "$T/back_prob.nii" ] &&
    check torch_weights_darknet_to_mcnet $H cmp "$T/back_prob.nii" "$T/back_torch.npy" 1e-4
  # lossless both ways when the distance heads are kept and the seg heads stay 1-class: same floats after the header
  if $PY $TW to-torch cfg/dbisl-tiny.cfg "$W" "$T/keep.pth" --keep-sdf --classes 1 > "$T/log" 2>&1 &&
     $PY $TW to-darknet "$T/keep.pth" cfg/dbisl-tiny.cfg "$T/keep.weights" >> "$T/log" 2>&1 &&
     cmp -s -i 20 "$W" "$T/keep.weights" && [ "$(stat -c %s "$W")" = "$(stat -c %s "$T/keep.weights")" ]; then
    echo "PASS torch_weights_roundtrip_exact ($(stat -c %s "$W") bytes)"
  else fail "torch_weights_roundtrip_exact: $(tail -2 "$T/log" | tr '\n' ' ')"; fi
fi
# flat layout back: the DTC .weights of step 1 give the same state_dict as the random model
[ -f "$T/dtc.weights" ] && check torch_weights_darknet_to_dtc_exact sh -c \
  "$PY $TW to-torch cfg/sup-tiny.cfg $T/dtc.weights $T/dtc_back.pth && $H same $T/dtc.pth $T/dtc_back.pth"

# 4. mismatches: an error naming the first tensor that does not fit, exit code 1, no output file
ok=1
$PY $TW to-darknet "$T/dtc.pth" cfg/la-mini-sup.cfg "$T/bad1.weights" > /dev/null 2> "$T/e1"; rc=$?
{ [ $rc -eq 1 ] && grep -q "tensor 'block_one.conv.0.weight' has shape (4, 1, 3, 3, 3)" "$T/e1" && [ ! -e "$T/bad1.weights" ]; } ||
  { ok=0; echo "  filters 4 vs 8: rc=$rc: $(cat "$T/e1")"; }
$PY $TW to-darknet "$T/dtc.pth" cfg/dbisl-tiny.cfg "$T/bad2.weights" > /dev/null 2> "$T/e2"; rc=$?
{ [ $rc -eq 1 ] && grep -q "the cfg has a second decoder" "$T/e2"; } || { ok=0; echo "  one decoder into two: rc=$rc: $(cat "$T/e2")"; }
$PY $TW to-darknet "$T/dtc.pth" cfg/vnet.cfg "$T/bad3.weights" > /dev/null 2> "$T/e3"; rc=$?
{ [ $rc -eq 1 ] && grep -q "has shape" "$T/e3"; } || { ok=0; echo "  f=4 into vnet.cfg: rc=$rc: $(cat "$T/e3")"; }
$PY $TW to-torch cfg/sup-tiny.cfg "$T/mc.weights" "$T/bad4.pth" > /dev/null 2> "$T/e4"; rc=$?
{ [ $rc -eq 1 ] && grep -q "floats after the last layer" "$T/e4"; } || { ok=0; echo "  dual weights into sup cfg: rc=$rc: $(cat "$T/e4")"; }
$PY $TW to-darknet "$T/nonexistent.pth" cfg/sup-tiny.cfg "$T/bad5.weights" > /dev/null 2>&1; rc=$?
[ $rc -eq 1 ] || { ok=0; echo "  missing file: rc=$rc"; }
$PY $TW to-torch cfg/sup-tiny.cfg "$T/dtc.weights" "$T/bad6.pth" --classes 3 > /dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || { ok=0; echo "  --classes 3: rc=$rc"; }
if [ $ok -eq 1 ]; then echo "PASS torch_weights_mismatch_named"; else fail "torch_weights_mismatch_named"; fi
rm -rf "$T"
exit $failed
