"""Resuming a run so that it continues as if it had never stopped: the same random draws and the same
samples in the same order, hence (on the same machine and thread count) the same weights, bit for bit.

mmengine's checkpoints carry the model, optimizer, schedulers and message hub, but not what decides the
draws after a resume: the random generators (drop path, augmentation, RoI sampling) and the position of
the data loader in its sampler. On resume mmengine's iteration-based loop runs the data pipeline for
every batch already trained (drawing as it goes), and its epoch-based loop restarts the epoch in progress.
What this module adds, through mmengine's own hook points:

- ``rng_state`` / ``set_rng_state``: Python's, numpy's, torch's CPU and (when in use) CUDA generators of
  one process; ``ResumableCheckpointHook`` (``internimage.engine.resumable_checkpoint``) stores every
  rank's in the checkpoint's meta under ``EXACT_RESUME_KEY``.
- ``ResumableBatchSampler``: wraps the training batch sampler (torch's ``BatchSampler`` or a registered
  one such as mmdet's ``AspectRatioBatchSampler``) and can pass over a number of batches by iterating the
  sampler only: no image is read, no transform draws. Samplers draw from their own seeded generators, so
  the skipped part is reproduced exactly, bucketing batch samplers included.
- ``ExactResumeHook``: on resume, positions the sampler where the checkpoint was taken and restores the
  generators at the moment the uninterrupted run drew next (the first batch read, or the start of the
  epoch when the checkpoint closed one); and keeps validation from moving the training's generators
  (a validation data loader draws its base seed from torch's generator), so that a checkpoint taken
  where validation runs resumes the same way.

Not restored: the generators inside data-loader worker processes (``num_workers > 0``). With workers the
samples and the main process's draws are exact, the workers' augmentation draws restart from their seeds.
"""
import logging
import random

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_world_size, is_distributed
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import DATA_SAMPLERS, HOOKS
from mmengine.runner import IterBasedTrainLoop

EXACT_RESUME_KEY = 'exact_resume'


def rng_state():
    """This process's random generators, as plain data that loads weights-only."""
    _, keys, position, has_gauss, gauss = np.random.get_state()
    state = dict(python=random.getstate(),
                 numpy=dict(keys=torch.from_numpy(keys.astype(np.int64)), position=int(position),
                            has_gauss=int(has_gauss), gauss=float(gauss)),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state):
    version, internal, gauss_next = state['python']
    random.setstate((version, tuple(internal), gauss_next))
    numpy = state['numpy']
    np.random.set_state(('MT19937', numpy['keys'].numpy().astype(np.uint32), numpy['position'],
                         numpy['has_gauss'], numpy['gauss']))
    torch.set_rng_state(state['torch'].cpu())
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def all_ranks_rng_state(local_state):
    """Every rank's generators, by rank (a collective: every rank calls it)."""
    return all_gather_object(local_state) if is_distributed() else [local_state]


@DATA_SAMPLERS.register_module()
class ResumableBatchSampler:
    """A batch sampler that can pass over batches without loading them (module docstring).

    ``batch_sampler``: the config of the wrapped batch sampler (built with the same ``sampler`` and
    ``batch_size``); without one, torch's ``BatchSampler`` with ``drop_last``."""

    def __init__(self, sampler, batch_size, batch_sampler=None, drop_last=False):
        if batch_sampler is None:
            self.batch_sampler = torch.utils.data.BatchSampler(sampler, batch_size, drop_last)
        else:
            self.batch_sampler = DATA_SAMPLERS.build(batch_sampler,
                                                     default_args=dict(sampler=sampler, batch_size=batch_size))
        self.sampler = sampler  # where mmengine's DistSamplerSeedHook sets the epoch
        self.batch_size = batch_size
        self._to_skip = 0
        self._when_positioned = None

    def fast_forward(self, batches, when_positioned=None):
        """Pass over the next ``batches`` batches; then call ``when_positioned`` (once), before the next
        batch is drawn. Skipping goes on across the ends of the sampler's epochs."""
        self._to_skip = batches
        self._when_positioned = when_positioned

    def __iter__(self):
        batches = iter(self.batch_sampler)
        while True:
            if self._to_skip == 0 and self._when_positioned is not None:
                callback, self._when_positioned = self._when_positioned, None
                callback()
            try:
                batch = next(batches)
            except StopIteration:
                return
            if self._to_skip > 0:
                self._to_skip -= 1
                continue
            yield batch

    def __len__(self):
        return len(self.batch_sampler)


class _FastForwardedIterator:
    """Stands in for ``IterBasedTrainLoop.dataloader_iterator`` on resume: mmengine's loop advances it
    once per iteration already trained, which would read and transform every one of those batches. Here
    those calls return nothing; the first real one positions the sampler instead (``ResumableBatchSampler``)
    and reads on from there."""

    def __init__(self, iterator, batches, position):
        self._iterator = iterator
        self._ignored = batches
        self._position = position

    def __iter__(self):
        return self

    def __next__(self):
        if self._ignored > 0:
            self._ignored -= 1
            return None
        if self._position is not None:
            position, self._position = self._position, None
            position(self._iterator)
        while True:
            try:
                return next(self._iterator)
            except StopIteration:
                # mmengine's infinite iterator restarts the sampler once per call; skipping may cross
                # several of the sampler's epochs, each restarted here as the uninterrupted run did.
                continue


def resumable_sampler(dataloader):
    batch_sampler = getattr(dataloader, 'batch_sampler', None)
    return batch_sampler if isinstance(batch_sampler, ResumableBatchSampler) else None


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Continues a resumed run with the uninterrupted run's draws (module docstring)."""
    priority = 'LOWEST'  # restores the generators after the other hooks' before_train_epoch

    def __init__(self):
        self._loaded = None
        self._at_epoch_start = None
        self._before_validation = None

    def training_rng_state(self):
        """The training's generators: during validation, as they were before it."""
        return self._before_validation if self._before_validation is not None else rng_state()

    def after_load_checkpoint(self, runner, checkpoint):
        self._loaded = checkpoint.get('meta', {}).get(EXACT_RESUME_KEY)

    def before_train(self, runner):
        state, self._loaded = self._loaded, None
        if runner.iter == 0:
            return
        if state is None:
            return print_log('the resumed checkpoint has no random generator states: the run continues with '
                             'other draws than an uninterrupted run', logger='current', level=logging.WARNING)
        if state['iter'] != runner.iter or len(state['rng']) != get_world_size():
            return print_log(f"the checkpoint's generator states are for iteration {state['iter']} and "
                             f"{len(state['rng'])} processes, the run resumes at iteration {runner.iter} with "
                             f'{get_world_size()}: they are not restored', logger='current', level=logging.WARNING)
        rng = state['rng'][runner.rank]
        loop = runner.train_loop
        sampler = resumable_sampler(loop.dataloader)
        if sampler is None:
            print_log('the training data loader has no ResumableBatchSampler: its position is not restored',
                      logger='current', level=logging.WARNING)
            return set_rng_state(rng)
        if isinstance(loop, IterBasedTrainLoop):
            def position(iterator):
                sampler.fast_forward(runner.iter, lambda: set_rng_state(rng))
                if loop.dataloader.num_workers > 0:  # its workers already hold batches from the start
                    iterator._iterator = iter(loop.dataloader)
            loop.dataloader_iterator = _FastForwardedIterator(loop.dataloader_iterator, runner.iter, position)
        else:
            into_epoch = runner.iter - runner.epoch * len(loop.dataloader)
            if into_epoch == 0:
                self._at_epoch_start = rng
            else:
                sampler.fast_forward(into_epoch, lambda: set_rng_state(rng))
        print_log(f'exact resume: {runner.world_size} generator state(s) restored, data position '
                  f'iteration {runner.iter}', logger='current')

    def before_train_epoch(self, runner):
        if self._at_epoch_start is not None:
            set_rng_state(self._at_epoch_start)
            self._at_epoch_start = None

    def before_val(self, runner):
        self._before_validation = rng_state()

    def after_val(self, runner):
        if self._before_validation is not None:
            set_rng_state(self._before_validation)
        self._before_validation = None
