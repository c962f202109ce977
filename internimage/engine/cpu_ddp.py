"""Distributed training of a model on CPUs (gloo): mmengine's wrappers assume GPUs.

- ``cpu_module``: the model with its SyncBN layers as BatchNorm (torch's SyncBatchNorm refuses CPU tensors);
- ``CPUDistributedDataParallel``: mmengine's DDP wrapper for such a model (no device ids).

``internimage.engine.launch`` sets up the process group; ``internimage.engine.fsdp`` shards on CPUs with
``cpu_module`` as well.
"""
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
from mmengine.registry import MODEL_WRAPPERS


def cpu_module(module):
    """``module`` for distributed training on CPUs. torch's SyncBatchNorm refuses CPU tensors, and
    mmengine reverts it only when not distributed, so here SyncBN layers (UPerNet's heads) become
    BatchNorm: each process normalises over its own images."""
    if any(type(m).__name__ == 'SyncBatchNorm' for m in module.modules()):  # torch's or mmcv's
        print_log('SyncBatchNorm needs GPUs: on CPUs each process uses its own batch statistics',
                  logger='current')
        module = revert_sync_batchnorm(module)
    return module


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """mmengine's DDP wrapper for a model on CPUs (SyncBN as :func:`cpu_module` says)."""

    def __init__(self, module, **kwargs):
        super().__init__(module=cpu_module(module), **kwargs)
