#!/usr/bin/env bash
# Train on a Slurm cluster, one task per GPU:
#   GPUS=16 GPUS_PER_NODE=8 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [train.py args]
# GPUS (tasks in all, default 8), GPUS_PER_NODE (default 8; 0 requests no GPU and runs GPUS CPU
# tasks per node, over gloo), CPUS_PER_TASK (default 5), SRUN_ARGS (extra srun arguments).
# --kill-on-bad-exit: if a task dies, Slurm ends the others and the job exits non-zero.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
shift 3
WORK_DIR_ARGS=()
if [ $# -gt 0 ] && [[ $1 != -* ]]; then
    WORK_DIR_ARGS=(--work-dir "$1")
    shift
fi
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
PYTHON=${PYTHON:-python}
if [ "$GPUS_PER_NODE" -gt 0 ]; then
    NODE_ARGS=(--gres=gpu:"$GPUS_PER_NODE" --ntasks-per-node="$GPUS_PER_NODE")
else
    NODE_ARGS=()
fi

# shellcheck disable=SC2086
PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" \
exec srun -p "$PARTITION" --job-name="$JOB_NAME" --ntasks="$GPUS" "${NODE_ARGS[@]}" \
    --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 $SRUN_ARGS \
    "$PYTHON" -u "$(dirname "$0")/train.py" "$CONFIG" "${WORK_DIR_ARGS[@]}" --launcher slurm "$@"
