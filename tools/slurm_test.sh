#!/usr/bin/env bash
# Test on a Slurm cluster, one task per GPU:
#   GPUS=8 bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args]
# GPUS, GPUS_PER_NODE (0: no GPU requested, CPU tasks over gloo), CPUS_PER_TASK, SRUN_ARGS as for
# slurm_train.sh.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
shift 4
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
    "$PYTHON" -u "$(dirname "$0")/test.py" "$CONFIG" "$CHECKPOINT" --launcher slurm "$@"
