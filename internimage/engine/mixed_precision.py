"""Mixed precision for ``tools/train.py --amp`` and ``tools/test.py --amp``, on GPUs and on CPUs.

- On a GPU, training takes mmengine's ``AmpOptimWrapper`` (float16 autocast, dynamic loss scaling), as
  mmdet's and mmseg's ``--amp`` do.
- On CPUs, where ``AmpOptimWrapper`` refuses to run (it asserts a GPU), training takes
  ``BFloat16OptimWrapper``: the forward pass under bfloat16 autocast (AVX-512 BF16 and AMX run its
  matrix products at twice float32's rate or more). bfloat16 has float32's exponent range, so no loss
  scaling is needed; a non-finite loss is skipped as with float32 (``SkipNonFiniteOptimWrapper``).
  Weights, gradients and optimizer states stay float32.
- Testing takes ``MixedPrecisionTestLoop``: mmengine's ``TestLoop`` with its own switch ``fp16=True`` (the
  model runs under ``mmengine.runner.amp.autocast``: bfloat16 on CPUs, float16 on GPUs), whose predictions
  are handed to the metrics and hooks in float32: mmdet's COCO metric and the visualizers convert them to
  numpy, which has no bfloat16.

mmcv's CPU kernels that refuse bfloat16 (NMS, RoIAlign) get float32 inputs
(``internimage.models.mmcv_cpu_ops``, installed by ``mmdet_custom``).
"""
import contextlib

import torch
from mmengine.device import get_device
from mmengine.registry import LOOPS, OPTIM_WRAPPERS
from mmengine.runner.amp import autocast
from mmengine.runner.loops import TestLoop, _update_losses

from ..models.float32 import float32
from .non_finite import SkipNonFiniteOptimWrapper


@OPTIM_WRAPPERS.register_module()
class BFloat16OptimWrapper(SkipNonFiniteOptimWrapper):
    """``SkipNonFiniteOptimWrapper`` whose forward pass (``optim_context``) runs under bfloat16 autocast."""

    @contextlib.contextmanager
    def optim_context(self, model):
        with super().optim_context(model), autocast(dtype=torch.bfloat16):
            yield


@LOOPS.register_module()
class MixedPrecisionTestLoop(TestLoop):
    """mmengine's ``TestLoop`` under autocast (``fp16=True``), its predictions in float32 (module docstring)."""

    def __init__(self, runner, dataloader, evaluator, fp16=True):
        super().__init__(runner, dataloader, evaluator, fp16=fp16)

    @torch.no_grad()
    def run_iter(self, idx, data_batch):
        self.runner.call_hook('before_test_iter', batch_idx=idx, data_batch=data_batch)
        with autocast(enabled=self.fp16):
            outputs = self.runner.model.test_step(data_batch)
        outputs, self.test_loss = _update_losses(float32(outputs), self.test_loss)
        self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook('after_test_iter', batch_idx=idx, data_batch=data_batch, outputs=outputs)


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
    """``tools/test.py --amp``: ``MixedPrecisionTestLoop`` in place of mmengine's ``TestLoop`` (module
    docstring); another loop type gets ``fp16=True`` only."""
    test_cfg = dict(cfg.get('test_cfg') or {}, fp16=True)
    if test_cfg.get('type', 'TestLoop') == 'TestLoop':
        test_cfg['type'] = 'MixedPrecisionTestLoop'
    cfg.test_cfg = test_cfg
    return cfg
