"""mmengine hooks of this project.

- ``StateMemoryHook``: logs the bytes of parameters, gradients and optimizer state held by a rank
  (the largest over the ranks) as ``state_bytes``: what sharded training (``internimage.engine.fsdp``)
  divides among the ranks.
"""
import torch
import torch.distributed as torch_dist
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


def storage_bytes(tensors):
    """Bytes of the distinct storages behind ``tensors`` (views of one FSDP shard count once)."""
    storages = {}
    for tensor in tensors:
        if tensor is not None and tensor.numel():
            storage = tensor.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values())


@HOOKS.register_module()
class StateMemoryHook(Hook):
    """Logs ``state_bytes``: what one rank holds of parameters + gradients (measured when the
    optimizer steps) + optimizer state, the largest over the ranks; also ``param_bytes``,
    ``grad_bytes`` and ``optim_bytes``."""
    priority = 'ABOVE_NORMAL'  # before the LoggerHook reads the message hub

    def before_train(self, runner):
        self.measured = {}
        optimizer = runner.optim_wrapper.optimizer

        def before_step(optimizer, args, kwargs):
            params = [p for group in optimizer.param_groups for p in group['params']]
            self.measured['param_bytes'] = storage_bytes(params)
            self.measured['grad_bytes'] = storage_bytes(p.grad for p in params)

        def after_step(optimizer, args, kwargs):
            self.measured['optim_bytes'] = storage_bytes(
                value for state in optimizer.state.values() for value in state.values()
                if isinstance(value, torch.Tensor))
        optimizer.register_step_pre_hook(before_step)
        optimizer.register_step_post_hook(after_step)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        keys = ('param_bytes', 'grad_bytes', 'optim_bytes')
        if not all(key in self.measured for key in keys):
            return
        values = torch.tensor([float(self.measured[key]) for key in keys], dtype=torch.float64)
        values = torch.cat([values, values.sum()[None]])
        if torch_dist.is_available() and torch_dist.is_initialized():
            torch_dist.all_reduce(values, op=torch_dist.ReduceOp.MAX)
        for key, value in zip(keys + ('state_bytes', ), values.tolist()):
            runner.message_hub.update_scalar(f'train/{key}', value)
