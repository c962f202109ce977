"""Mixed precision for ``tools/train.py --amp`` and ``tools/test.py --amp``, on GPUs and on CPUs.

- On a GPU, training takes mmengine's ``AmpOptimWrapper`` (float16 autocast, dynamic loss scaling), as
  mmdet's and mmseg's ``--amp`` do.
- On CPUs, where ``AmpOptimWrapper`` refuses to run (it asserts a GPU), training takes
  ``BFloat16OptimWrapper``: the forward pass under bfloat16 autocast (AVX-512 BF16 and AMX run its
  matrix products at twice float32's rate or more). bfloat16 has float32's exponent range, so no loss
  scaling is needed; a non-finite loss is skipped as with float32 (``SkipNonFiniteOptimWrapper``).
  Weights, gradients and optimizer states stay float32.
- Testing takes mmengine's own switch, ``test_cfg.fp16=True`` (its ``TestLoop`` runs the model under
  ``mmengine.runner.amp.autocast``: bfloat16 on CPUs, float16 on GPUs).

mmcv's CPU kernels that refuse bfloat16 (NMS, RoIAlign) get float32 inputs
(``internimage.models.mmcv_cpu_ops``, installed by ``mmdet_custom``).
"""
import contextlib

import torch
from mmengine.device import get_device
from mmengine.registry import OPTIM_WRAPPERS
from mmengine.runner.amp import autocast

from .non_finite import SkipNonFiniteOptimWrapper


@OPTIM_WRAPPERS.register_module()
class BFloat16OptimWrapper(SkipNonFiniteOptimWrapper):
    """``SkipNonFiniteOptimWrapper`` whose forward pass (``optim_context``) runs under bfloat16 autocast."""

    @contextlib.contextmanager
    def optim_context(self, model):
        with super().optim_context(model), autocast(dtype=torch.bfloat16):
            yield


def use_amp_training(cfg):
    """``tools/train.py --amp``: float16 AMP on a GPU, bfloat16 autocast on CPUs (module docstring)."""
    if get_device() == 'cpu':
        cfg.optim_wrapper.type = 'BFloat16OptimWrapper'
        cfg.optim_wrapper.pop('loss_scale', None)
    else:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    return cfg


def use_amp_testing(cfg):
    """``tools/test.py --amp``: mmengine's ``TestLoop`` under autocast (module docstring)."""
    cfg.test_cfg = dict(cfg.get('test_cfg') or dict(type='TestLoop'), fp16=True)
    return cfg
