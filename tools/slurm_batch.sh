#!/usr/bin/env bash
# A Slurm batch job that survives preemption and time limits: submit it from the repository root with
#   sbatch -p PARTITION --ntasks=8 --gres=gpu:8 --cpus-per-task=5 [--time=...] \
#       tools/slurm_batch.sh CONFIG WORK_DIR [train.py args]
# Slurm sends SIGUSR1 to this script 180 s before the job's end (--signal below; sbatch --signal overrides);
# the script passes it to the training tasks, which finish their iteration, save its checkpoint and exit
# with status 75; the script then requeues the job (scontrol requeue). The requeued job runs this script
# again, and training resumes from WORK_DIR's newest checkpoint that loads (train.py --resume). A job
# that finishes, or fails, is not requeued. See docs/en/user_guides/long_runs.md.
# PYTHON (default python) runs tools/train.py; INTERNIMAGE_ROOT (default the submission directory) is
# the repository: Slurm runs a copy of this script, so its own location says nothing.
#SBATCH --requeue
#SBATCH --signal=B:USR1@180
#SBATCH --open-mode=append
set -uo pipefail
CONFIG=$1
WORK_DIR=$2
shift 2
ROOT=${INTERNIMAGE_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}
PYTHON=${PYTHON:-python}
STOPPED=75  # tools/train.py's exit status after a stop on a signal with a checkpoint

echo "slurm_batch: job ${SLURM_JOB_ID:-?} (restart ${SLURM_RESTART_COUNT:-0}) on $(hostname)"
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
srun --kill-on-bad-exit=1 "$PYTHON" -u "$ROOT/tools/train.py" "$CONFIG" --work-dir "$WORK_DIR" \
    --launcher slurm --resume "$@" &
SRUN=$!
# srun passes SIGUSR1 / SIGTERM on to the tasks; the script itself keeps waiting for them.
trap 'echo "slurm_batch: SIGUSR1: asking the tasks to checkpoint and stop"; kill -USR1 "$SRUN"' USR1
trap 'echo "slurm_batch: SIGTERM: asking the tasks to checkpoint and stop"; kill -TERM "$SRUN"' TERM
while true; do
    wait "$SRUN"
    STATUS=$?
    kill -0 "$SRUN" 2>/dev/null && continue  # wait returns early when a trapped signal arrives
    if [ "$STATUS" -gt 128 ]; then  # perhaps cut short by a signal as srun ended: its own status
        wait "$SRUN"
        LAST=$?
        [ "$LAST" -ne 127 ] && STATUS=$LAST
    fi
    break
done
if [ "$STATUS" -eq "$STOPPED" ]; then
    echo "slurm_batch: training stopped with a checkpoint; requeueing job $SLURM_JOB_ID"
    scontrol requeue "$SLURM_JOB_ID"
    exit 0
fi
echo "slurm_batch: training ended with status $STATUS"
exit "$STATUS"
