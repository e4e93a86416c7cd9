# Sourced by the shell tests: identity_net DIR writes DIR/id.cfg and DIR/id.weights, a one-layer network that passes
# the image through (a 1x1x1 [conv3d] of weight 1, bias 0), so its foreground is where sigmoid(image) > 0.5: the
# bright voxels.
identity_net() {
  cat > "$1/id.cfg" <<'CFG'
[net]
batch=1
width=8
height=8
depth=8
channels=1

[conv3d]
filters=1
size=1
CFG
  printf '\000\000\000\000\002\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\200\077' > "$1/id.weights"
}
