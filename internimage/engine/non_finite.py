"""A non-finite loss never reaches the weights.

``SkipNonFiniteOptimWrapper``: mmengine's ``OptimWrapper`` whose ``update_params`` checks the loss before
the optimizer steps: where it is not finite on any rank (the flag combined over the ranks, so that all
skip together), the step is skipped and the gradients are cleared; the weights and the optimizer state
stay as they were. Backward still runs: DDP expects one per forward, and its gradient averaging would
carry one rank's NaN to every rank anyway.

``NonFiniteLossHook``: logs each skipped step with the loss terms that were not finite, and after
``max_in_a_row`` skipped steps in a row stops the run with a checkpoint (of the last finite state: no
skipped step changed it) and ``NonFiniteLossError``.

In fp16 AMP (``AmpOptimWrapper``) the grad scaler already skips steps with non-finite gradients and
lowers its scale; ``prepare_long_run`` leaves that wrapper as it is, and the hook reports those steps and
stops the run after ``max_in_a_row`` of them as above.
"""
import math

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper
from mmengine.registry import HOOKS, OPTIM_WRAPPERS

from .resumable_checkpoint import ResumableCheckpointHook


def finite_on_every_rank(loss):
    flag = torch.tensor([float(torch.isfinite(loss.detach()).all())], device=loss.device)
    all_reduce(flag, op='min')
    return bool(flag.item())


@OPTIM_WRAPPERS.register_module()
class SkipNonFiniteOptimWrapper(OptimWrapper):
    """``OptimWrapper`` that skips the step of a non-finite loss (module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.skipped_steps = 0

    def update_params(self, loss, step_kwargs=None, zero_kwargs=None):
        loss = self.scale_loss(loss)
        self.backward(loss)
        if self.should_update():
            if finite_on_every_rank(loss):
                self.step(**(step_kwargs or {}))
            else:
                self.skipped_steps += 1
            self.zero_grad(**(zero_kwargs or {}))


class NonFiniteLossError(RuntimeError):
    pass


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Report skipped steps; stop after ``max_in_a_row`` of them in a row (module docstring)."""
    priority = 'LOW'  # before the checkpoint and preemption hooks

    def __init__(self, max_in_a_row=5):
        self.max_in_a_row = max_in_a_row
        self.in_a_row = 0
        self.total = 0

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        terms = {name: float(value.detach() if isinstance(value, torch.Tensor) else value)
                 for name, value in (outputs or {}).items()
                 if 'loss' in name and (not isinstance(value, torch.Tensor) or value.numel() == 1)}
        local = torch.tensor([float(not all(math.isfinite(v) for v in terms.values()))])
        all_reduce(local, op='max')
        if not local.item():
            self.in_a_row = 0
            return
        self.in_a_row += 1
        self.total += 1
        bad = {name: value for name, value in terms.items() if not math.isfinite(value)}
        runner.logger.warning(f'iteration {runner.iter + 1}: non-finite loss, step skipped '
                              f'({bad or "on another rank"}); {self.in_a_row} in a row, {self.total} in all')
        runner.message_hub.update_scalar('train/skipped_steps', self.total)
        if self.in_a_row < self.max_in_a_row:
            return
        hook = next((h for h in runner.hooks if isinstance(h, ResumableCheckpointHook)), None)
        checkpoint = hook.save_now(runner) if hook is not None else None
        raise NonFiniteLossError(f'{self.in_a_row} non-finite losses in a row (iterations '
                                 f'{runner.iter + 2 - self.in_a_row}-{runner.iter + 1}): training stopped. The '
                                 f'last finite state is saved in {checkpoint}. Lower the learning rate, check the '
                                 'data, or clip gradients.')
