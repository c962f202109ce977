"""Stopping a training run on a signal, at an iteration boundary, with a checkpoint of that iteration.

Clusters end jobs with a signal and, after a grace period, SIGKILL: Slurm at the time limit or on
preemption (SIGTERM, or the signal of ``--signal``; ``tools/slurm_batch.sh`` asks for SIGUSR1), torchrun
when it is itself stopped (SIGTERM). ``PreemptionHook`` makes such a signal a clean stop:

- the handler only records the signal: the iteration in progress finishes;
- after each iteration the records are combined over the ranks (one integer each), so every rank
  stops after the same iteration even when the signal reached only some of them;
- the checkpoint of that iteration is saved through ``ResumableCheckpointHook.save_now`` (atomic,
  with the generators for an exact resume) unless the interval saved it already;
- ``TrainingStopped`` is raised; ``tools/train.py`` logs it and exits with ``STOPPED_EXIT_STATUS``.

A process forked from the training process (a metric's multiprocessing pool, a data-loader worker) starts
with the dispositions from before the hook, set at the C level as it is forked, so that a signal acts as it
would without the hook (data-loader workers then ignore the stop signals, below).

A second signal while saving changes nothing (the handler only records it again), and a SIGKILL then
leaves the previous checkpoint as the newest (atomic saves). Data-loader worker processes ignore these
signals (``ignore_stop_signals``, run in each worker; ``internimage.engine.launch`` adds it to every data loader
the Runner builds): Slurm signals every process of a job step, and a worker that died would end the run
before it could save.

The handlers are installed when the hook is built, with the Runner, before the training loop starts.
"""
import atexit
import multiprocessing
import os
import signal
from functools import partial

import torch
from mmengine.dist import all_gather
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from .resumable_checkpoint import ResumableCheckpointHook

# The exit status of a run stopped by a signal after saving its checkpoint: EX_TEMPFAIL of sysexits.h,
# "a temporary failure; the user is invited to retry" (tools/slurm_batch.sh requeues on it).
STOPPED_EXIT_STATUS = 75
DEFAULT_SIGNALS = ('SIGTERM', 'SIGUSR1')
_ENDING_WORKERS_AT_EXIT = False
_INSTALLED = []  # the hooks whose handlers are installed in this process, oldest first


def _restore_in_forked_child():
    """After ``os.fork``, in the child: the signal dispositions from before any hook, at the C level.
    Not left to the Python handler: it runs between bytecodes only, so a signal that arrives just before
    a blocking call (a pool worker about to wait on its queue's lock) was handled too late, the worker
    slept through it, and ``Pool.terminate()`` waited for it forever (mmdet's VOC metric, under load)."""
    for hook in reversed(_INSTALLED):
        hook.restore_handlers()


os.register_at_fork(after_in_child=_restore_in_forked_child)


class TrainingStopped(Exception):
    """Training stopped on a signal after saving ``checkpoint`` (the iteration ``iteration``)."""

    def __init__(self, signal_name, iteration, checkpoint):
        super().__init__(f'training stopped by {signal_name} after iteration {iteration}; '
                         f'checkpoint: {checkpoint} (resume with --resume)')
        self.signal_name, self.iteration, self.checkpoint = signal_name, iteration, checkpoint


def ignore_stop_signals(worker_id, signals=DEFAULT_SIGNALS, worker_init_fn=None):
    """A data-loader worker's ``worker_init_fn``: ignore the stop signals, then run ``worker_init_fn``.
    torch installs its own SIGTERM handler in workers (it ends the worker); this replaces it."""
    for name in signals:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    if worker_init_fn is not None:
        worker_init_fn(worker_id)


def end_workers_at_exit():
    """At exit, multiprocessing ends the daemonic children (data-loader workers still alive: persistent
    ones, or those of an iterator a traceback holds) with SIGTERM and then waits for them; workers that
    ignore SIGTERM would never end. This ends them first, with SIGKILL (they hold nothing to save)."""
    for child in multiprocessing.active_children():
        if child.daemon:
            child.kill()
            child.join()


def shield_workers(dataloader, signals=DEFAULT_SIGNALS):
    """Make ``dataloader``'s worker processes ignore ``signals`` (a DataLoader's worker_init_fn may be
    replaced after it is built; its iterators read it when they start their workers)."""
    global _ENDING_WORKERS_AT_EXIT
    if getattr(dataloader, 'num_workers', 0) > 0:
        if not _ENDING_WORKERS_AT_EXIT:  # registered after multiprocessing's own exit handler: runs before it
            atexit.register(end_workers_at_exit)
            _ENDING_WORKERS_AT_EXIT = True
        dataloader.worker_init_fn = partial(ignore_stop_signals, signals=tuple(signals),
                                            worker_init_fn=dataloader.worker_init_fn)
    return dataloader


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Stop every rank after the same iteration on ``signals``, with a checkpoint (module docstring)."""
    priority = 'LOWEST'  # after the CheckpointHook, whose checkpoint of this iteration is reused

    def __init__(self, signals=DEFAULT_SIGNALS):
        self.signals = tuple(signals)
        self.received = 0
        self._previous = {}
        for name in self.signals:
            number = getattr(signal, name)
            self._previous[number] = signal.signal(number, self._record)
        _INSTALLED.append(self)

    def _record(self, number, frame):
        self.received = number

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        received = [int(r) for r in all_gather(torch.tensor([self.received], dtype=torch.int64))]
        if not any(received):
            return
        number = max(received)
        name = signal.Signals(number).name
        ranks = [rank for rank, got in enumerate(received) if got]
        if runner.iter + 1 >= runner.max_iters:
            runner.logger.info(f'{name} received by rank(s) {ranks} in the last iteration: the run finishes')
            return
        runner.logger.info(f'{name} received by rank(s) {ranks}: stopping after iteration {runner.iter + 1}, '
                           'saving its checkpoint')
        hook = next((h for h in runner.hooks if isinstance(h, ResumableCheckpointHook)), None)
        if hook is None:
            self.restore_handlers()
            raise TrainingStopped(name, runner.iter + 1, None)
        checkpoint = hook.saved_at(runner) or hook.save_now(runner)
        runner.logger.info(f'{name}: saved {checkpoint}; exiting with status {STOPPED_EXIT_STATUS}')
        self.restore_handlers()  # the run ends: a further signal acts as it would without this hook
        raise TrainingStopped(name, runner.iter + 1, checkpoint)

    def after_train(self, runner):
        self.restore_handlers()

    def restore_handlers(self):
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}
        if self in _INSTALLED:
            _INSTALLED.remove(self)
