"""``prepare_long_run(cfg)``: what ``tools/train.py`` does to every training config so that a run can be
stopped by a signal and resumed exactly (docs/en/user_guides/long_runs.md):

- ``default_hooks.checkpoint``: mmengine's ``CheckpointHook`` becomes ``ResumableCheckpointHook``
  (atomic saves, the generators of every rank), with the same settings;
- ``train_dataloader``: its batch sampler is wrapped in ``ResumableBatchSampler`` (``drop_last`` moves
  into it: torch refuses ``drop_last`` beside a batch sampler);
- ``train_dataloader.bad_data='strict'`` with ``strict_data``: a bad sample stops the run (it is
  skipped and counted otherwise; ``internimage.engine.bad_data``);
- ``optim_wrapper``: mmengine's ``OptimWrapper`` becomes ``SkipNonFiniteOptimWrapper`` (AMP's wrapper,
  whose grad scaler skips non-finite steps itself, is left alone);
- ``custom_hooks``: ``ExactResumeHook``, ``PreemptionHook(signals)`` and ``NonFiniteLossHook`` are added.
"""
from .bad_data import BAD_DATA_KEY
from .exact_resume import ResumableBatchSampler  # noqa: F401  (registers it)
from .non_finite import NonFiniteLossHook, SkipNonFiniteOptimWrapper  # noqa: F401  (registers them)
from .preemption import DEFAULT_SIGNALS, PreemptionHook  # noqa: F401  (registers it)
from .resumable_checkpoint import ResumableCheckpointHook  # noqa: F401  (registers it)

CHECKPOINT_HOOK_NAMES = ('CheckpointHook', 'ResumableCheckpointHook')


def prepare_long_run(cfg, signals=DEFAULT_SIGNALS, strict_data=False):
    """Edit ``cfg`` in place (module docstring); a config prepared already is left as it is."""
    hooks = cfg.setdefault('default_hooks', {})
    checkpoint = hooks.get('checkpoint')
    if checkpoint is not None and checkpoint.get('type') in CHECKPOINT_HOOK_NAMES:
        checkpoint['type'] = 'ResumableCheckpointHook'

    loader = cfg.get('train_dataloader')
    if loader is not None and (loader.get('batch_sampler') or {}).get('type') != 'ResumableBatchSampler':
        loader['batch_sampler'] = dict(type='ResumableBatchSampler', batch_sampler=loader.get('batch_sampler'),
                                       drop_last=loader.pop('drop_last', False))
    if loader is not None and strict_data:
        loader[BAD_DATA_KEY] = 'strict'

    optim_wrapper = cfg.get('optim_wrapper')
    if optim_wrapper is not None and optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper':
        optim_wrapper['type'] = 'SkipNonFiniteOptimWrapper'

    custom = list(cfg.get('custom_hooks') or [])
    present = {hook.get('type') for hook in custom}
    if 'ExactResumeHook' not in present:
        custom.append(dict(type='ExactResumeHook'))
    if 'NonFiniteLossHook' not in present:
        custom.append(dict(type='NonFiniteLossHook'))
    if 'PreemptionHook' not in present:
        custom.append(dict(type='PreemptionHook', signals=list(signals)))
    cfg.custom_hooks = custom
    return cfg
