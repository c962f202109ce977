#!/usr/bin/env bash
# Train with PyTorch distributed (torchrun), one process per GPU (per CPU worker where no GPU):
#   bash tools/dist_train.sh CONFIG GPUS [--max-restarts N] [train.py args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT from the environment, as in OpenMMLab.
# If any process dies, torchrun stops the others and exits non-zero; with --max-restarts N it restarts
# them instead (up to N times), and they resume from the newest checkpoint that loads (train.py --resume).
set -euo pipefail
CONFIG=$1
GPUS=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}

RESTART_ARGS=()
if [ "${1:-}" = "--max-restarts" ]; then
    RESTART_ARGS=(--max-restarts="$2")
    shift 2
    # A restarted group resumes; a first start with an empty work dir starts from scratch.
    [[ " $* " == *" --resume "* ]] || set -- "$@" --resume
fi

PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" "${RESTART_ARGS[@]}" \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "$@"
