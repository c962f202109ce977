#!/usr/bin/env bash
# Build mmcv (with its compiled ops) from the source release against the torch in
# the given Python environment, and keep the wheel in a user cache so that every
# later environment reuses it instead of paying the ~10 minute build again.
#
# usage: build_mmcv.sh PYTHON     (prints the path of the wheel on its last line)
set -euo pipefail
PY="$1"
MMCV_VERSION=2.1.0
source "$(dirname "$0")/common.sh"

TORCH_TAG=$("$PY" -c 'import torch; print(torch.__version__.replace("+", "_"))')
# A wheel is only valid for the torch it was built against: keep one folder per torch.
OUT_DIR="$WHEEL_DIR/mmcv-$MMCV_VERSION-torch$TORCH_TAG"
existing=$(ls "$OUT_DIR"/mmcv-$MMCV_VERSION-*.whl 2>/dev/null | head -n 1 || true)
if [ -n "$existing" ]; then
    echo "$existing"
    exit 0
fi

check_build_prerequisites "$PY"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
run_logged "$LOG_DIR/mmcv-download.log" "downloading the mmcv $MMCV_VERSION source release" \
    "$PY" -m pip download --no-deps --no-build-isolation --no-binary :all: -d "$WORK" "mmcv==$MMCV_VERSION"
tar -xzf "$WORK"/mmcv-$MMCV_VERSION.tar.gz -C "$WORK"
SRC="$WORK/mmcv-$MMCV_VERSION"
# torch >= 2.13 headers need C++20; mmcv 2.1.0 hard-codes c++14/c++17 flags.
sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
grep -q 'std=c++20' "$SRC/setup.py" || die "could not raise mmcv's C++ standard flag in $SRC/setup.py"

echo "==> building mmcv $MMCV_VERSION with ops (about 10 minutes on 2 cores)" >&2
mkdir -p "$OUT_DIR"
MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" run_logged "$LOG_DIR/mmcv-build.log" "building mmcv $MMCV_VERSION" \
    "$PY" -m pip wheel --no-deps --no-build-isolation -w "$OUT_DIR" "$SRC" >&2
ls "$OUT_DIR"/mmcv-$MMCV_VERSION-*.whl | head -n 1
