"""``ResumableCheckpointHook``: mmengine's ``CheckpointHook`` whose checkpoints survive a kill at any
moment and resume exactly.

- Written atomically (``internimage.engine.atomic_files``: temporary name, fsync, rename), and
  ``last_checkpoint`` written only after; the oldest checkpoint kept (``max_keep_ckpts``) is deleted
  after the new one is complete, not before as mmengine does. Leftovers of a save killed half-way are
  deleted when training starts.
- The checkpoint's meta carries every rank's random generators (``internimage.engine.exact_resume``),
  as they were when the checkpoint was taken; ``ExactResumeHook`` restores them on resume.
- ``save_now``: a checkpoint of the iteration just finished, whatever the interval, for a run that
  must stop (``internimage.engine.preemption``); mid-epoch in an epoch-based loop it is ``iter_<N>.pth``.
"""
import contextlib
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

from .atomic_files import AtomicLocalBackend, remove_stale_parts
from .exact_resume import EXACT_RESUME_KEY, ExactResumeHook, all_ranks_rng_state, rng_state


@HOOKS.register_module()
class ResumableCheckpointHook(CheckpointHook):
    """``CheckpointHook`` with atomic saves and the generators of every rank (module docstring). Takes
    CheckpointHook's arguments; without ``backend_args`` it writes through the ``atomic_local`` backend."""

    def __init__(self, *args, backend_args=None, file_client_args=None, **kwargs):
        if backend_args is None and file_client_args is None:
            backend_args = dict(backend='atomic_local')
        super().__init__(*args, backend_args=backend_args, file_client_args=file_client_args, **kwargs)

    def before_train(self, runner):
        super().before_train(runner)
        if is_main_process() and isinstance(self.file_backend, AtomicLocalBackend) and osp.isdir(self.out_dir):
            remove_stale_parts(self.out_dir)

    def _save_checkpoint_with_step(self, runner, step, meta):
        resume_hook = next((hook for hook in runner.hooks if isinstance(hook, ExactResumeHook)), None)
        local = resume_hook.training_rng_state() if resume_hook is not None else rng_state()
        meta = dict(meta, **{EXACT_RESUME_KEY: dict(iter=meta['iter'], rng=all_ranks_rng_state(local))})
        removals = (self.file_backend.deferred_removals() if isinstance(self.file_backend, AtomicLocalBackend)
                    else contextlib.nullcontext())
        with removals:
            super()._save_checkpoint_with_step(runner, step, meta)

    def saved_at(self, runner):
        """The checkpoint of the iteration just finished if this hook saved one already, else None (an
        epoch's checkpoint is saved after its last iteration's hooks: None there)."""
        last = runner.message_hub.get_info('last_ckpt')
        if self.by_epoch or last is None or osp.basename(last) != self.filename_tmpl.format(runner.iter + 1):
            return None
        return last

    def save_now(self, runner):
        """Save the iteration just finished (after_train_iter); return the checkpoint's path."""
        if not self.by_epoch:
            self._save_checkpoint(runner)
            return self.last_ckpt
        # Mid-epoch: an iteration checkpoint, outside the rotation of the epoch checkpoints.
        saved = self.by_epoch, self.filename_tmpl, self.max_keep_ckpts
        self.by_epoch, self.filename_tmpl, self.max_keep_ckpts = False, 'iter_{}.pth', -1
        try:
            self._save_checkpoint(runner)
        finally:
            self.by_epoch, self.filename_tmpl, self.max_keep_ckpts = saved
        return self.last_ckpt
