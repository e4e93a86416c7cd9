#!/bin/sh
# Prepares a fresh Debian machine: installs packages (when root), fetches Darknet's pinned source package and applies our patch.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DARKNET_VERSION="0.0.0+git20180914.61c9d02e-2"
ORIG_SHA256="ec536ae11853846aab96183d8ec18730a46cce71f7d935768d235029329f9e93"
PKGS="build-essential dpkg-dev debian-archive-keyring libopenblas-dev libdnnl-dev libnifti2-dev libhdf5-dev libpng-dev libcairo2-dev fonts-dejavu-core zlib1g-dev pkg-config python3 python3-numpy python3-scipy python3-torch clang libclang-rt-14-dev"

# 1. Debian packages
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing$missing"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
  else
    echo "setup: missing packages; run as root:"
    echo "  apt-get install -y$missing"
    # python3-torch / clang are only needed for fixtures and fuzzing; the build needs the rest
  fi
fi

# 2. Darknet source, pinned; a stamp makes re-runs instant
STAMP="darknet-src/.darknet3d-stamp"
PATCHSUM=$(cat patches/*.patch | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$DARKNET_VERSION $PATCHSUM" ]; then
  echo "setup: darknet-src/ up to date ($DARKNET_VERSION)"
  exit 0
fi

APT=".apt-state"
mkdir -p "$APT/sources" "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/src"
cat > "$APT/sources/debian-src.sources" <<EOS
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
APTOPTS="-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=$ROOT/$APT/sources -o Dir::State::Lists=$ROOT/$APT/lists -o Dir::Cache=$ROOT/$APT/cache -o Debug::NoLocking=1 -o APT::Sandbox::User=$(id -un)"
ORIG="$APT/src/darknet_0.0.0+git20180914.61c9d02e.orig.tar.xz"
if [ ! -f "$ORIG" ] || ! echo "$ORIG_SHA256  $ORIG" | sha256sum -c --quiet 2>/dev/null; then
  echo "setup: fetching darknet=$DARKNET_VERSION source package"
  apt-get $APTOPTS update -qq
  (cd "$APT/src" && apt-get $APTOPTS source --download-only -qq "darknet=$DARKNET_VERSION")
fi
echo "$ORIG_SHA256  $ORIG" | sha256sum -c --quiet || { echo "setup: checksum mismatch for $ORIG" >&2; exit 1; }

rm -rf darknet-src darknet.tmp
mkdir darknet.tmp
tar -xJf "$ORIG" -C darknet.tmp
top=$(ls darknet.tmp)
mv "darknet.tmp/$top" darknet-src
rmdir darknet.tmp
for p in patches/*.patch; do
  patch -s -p1 -d darknet-src < "$p"
done
echo "$DARKNET_VERSION $PATCHSUM" > "$STAMP"
echo "setup: darknet-src/ ready ($DARKNET_VERSION + $(ls patches/*.patch | wc -l) patch)"
