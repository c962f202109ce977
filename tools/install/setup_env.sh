#!/usr/bin/env bash
# Creates/updates the project's virtual environment: the pinned stack, mmcv
# (built once, cached outside the checkout), ops_dcnv3 and the plugins.
# Each step is skipped when its inputs have not changed since it last ran, so a
# second run costs seconds. Called by `make`; safe to run by hand.
#
# usage: tools/install/setup_env.sh [VENV_DIR]   (default .venv)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV="${1:-$ROOT/.venv}"
source "$ROOT/tools/install/common.sh"
cd "$ROOT"

PYTHON_BIN="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV with $($PYTHON_BIN --version 2>&1)"
    "$PYTHON_BIN" -m venv "$VENV" || die "could not create a virtual environment with $PYTHON_BIN (on Debian: apt-get install python3-venv)"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

# stamp_current NAME FILES...: true if the stamp NAME records the current content of FILES.
stamp_hash() { cat "$@" | sha256sum | cut -d' ' -f1; }
stamp_current() { local name="$1"; shift; [ -f "$VENV/.stamp-$name" ] && [ "$(cat "$VENV/.stamp-$name")" = "$(stamp_hash "$@")" ]; }
stamp_write() { local name="$1"; shift; stamp_hash "$@" >"$VENV/.stamp-$name"; }

# 1. torch first: mmcv and ops_dcnv3 compile against it. setuptools < 80 still has
#    pkg_resources, which mmcv's setup.py imports.
BUILD_TOOLS=("setuptools<80" wheel ninja)
if ! stamp_current torch requirements/torch.txt "$0"; then
    run_logged "$LOG_DIR/pip-torch.log" "installing torch and build tools" \
        "${PIP[@]}" install -r requirements/torch.txt "${BUILD_TOOLS[@]}"
    stamp_write torch requirements/torch.txt "$0"
fi

# 2. mmcv from the cached wheel (built on first use), then the rest of the stack.
if ! stamp_current stack requirements.txt requirements/*.txt tools/install/build_mmcv.sh "$0"; then
    MMCV_WHEEL=$(bash tools/install/build_mmcv.sh "$PY" | tail -n 1)
    run_logged "$LOG_DIR/pip-stack.log" "installing the OpenMMLab stack" \
        "${PIP[@]}" install "$MMCV_WHEEL" -r requirements.txt
    # mmdeploy without its declared dependencies (they would downgrade protobuf and onnx).
    run_logged "$LOG_DIR/pip-deploy.log" "installing mmdeploy" \
        "${PIP[@]}" install --no-deps -r requirements/deploy-no-deps.txt
    stamp_write stack requirements.txt requirements/*.txt tools/install/build_mmcv.sh "$0"
fi

# 3. ops_dcnv3, rebuilt whenever its sources change.
OPS_FILES=$(find ops_dcnv3 -type f \( -name '*.py' -o -name '*.cpp' -o -name '*.cu' -o -name '*.h' -o -name '*.inc' -o -name '*.toml' \) -not -path '*/build/*' | sort)
# shellcheck disable=SC2086
if ! stamp_current ops $OPS_FILES "$0"; then
    check_build_prerequisites "$PY"
    run_logged "$LOG_DIR/ops_dcnv3-build.log" "building ops_dcnv3" \
        "${PIP[@]}" install --no-build-isolation --no-deps ./ops_dcnv3
    rm -rf ops_dcnv3/build ops_dcnv3/*.egg-info
    # shellcheck disable=SC2086
    stamp_write ops $OPS_FILES "$0"
fi

# 4. The plugins (mmcls_custom, mmdet_custom, mmseg_custom, internimage), editable.
if ! stamp_current plugins pyproject.toml "$0"; then
    run_logged "$LOG_DIR/plugins-install.log" "installing the InternImage plugins" \
        "${PIP[@]}" install --no-build-isolation --no-deps -e .
    stamp_write plugins pyproject.toml "$0"
fi
echo "==> environment ready: $VENV"
