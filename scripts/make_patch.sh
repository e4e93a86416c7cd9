#!/bin/sh
# Regenerates patches/darknet3d.patch from the edited darknet-src/ tree against the pristine orig tarball (for maintainers changing the patch).
set -eu
cd "$(dirname "$0")/.."
T=$(mktemp -d)
mkdir "$T/a" "$T/b"
tar -xJf .apt-state/src/darknet_0.0.0+git20180914.61c9d02e.orig.tar.xz -C "$T/a" --strip-components=1
cp -r darknet-src/. "$T/b/"
rm -f "$T/b/.darknet3d-stamp" "$T/b/.darknet3d-setup.mk"
rm -rf "$T/b/obj"
(cd "$T" && diff -ruN a b || true) > patches/darknet3d.patch
rm -rf "$T"
echo "patches/darknet3d.patch: $(grep -c '^+++ ' patches/darknet3d.patch) files, $(wc -l < patches/darknet3d.patch) lines"
