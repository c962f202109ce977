"""Sharded (FSDP) training of the giant models through mmengine's ``FlexibleRunner`` and
``FSDPStrategy``: only what mmengine does not provide for InternImage.

- ``InternImageFSDP``, the model wrapper: mmengine's ``MMFullyShardedDataParallel`` that also runs on
  CPUs (mmengine passes the CUDA device ``LOCAL_RANK``; FSDP on CPUs needs ``torch.device('cpu')``; SyncBN
  becomes BatchNorm there, as with DDP), that clips gradients by the norm over all shards (mmengine's
  ``OptimWrapper`` would clip each rank's shard by its own norm), and that records each parameter's
  unsharded shape before sharding: with ``use_orig_params`` the optimizer constructor sees flat shards,
  and the layer-decay rules (no weight decay for 1-d parameters) read the recorded shape.
- ``InternImageFSDPStrategy``: mmengine's ``FSDPStrategy``, whose resuming of the optimizer
  passes its arguments to torch's ``optim_state_dict_to_load`` in the order of torch < 2.1; whose full
  checkpoints rank 0 writes atomically (``atomic_files.save_atomically``; mmengine's strategy writes
  through its plain local backend, after a copy in memory); and which, with ``sharded_checkpoints=True``,
  saves sharded checkpoints instead (``sharded_checkpoint``: every rank writes its own shards, no
  gathering). It loads and resumes either kind, a sharded one at any number of processes.
- ``internimage_wrap_policy``: one FSDP unit per InternImage block and per transformer encoder /
  decoder layer of the heads (DINO, Mask2Former). Modules reached through methods other than
  ``forward`` (a head's ``loss`` / ``predict``) cannot be units of their own: FSDP gathers a unit's
  parameters in its ``forward``. Everything else (stem, downsampling, norms, neck, convolutional heads)
  is the root unit, sharded as well.
- ``internimage_activation_checkpointing``: the ``check_fn`` for ``FSDPStrategy``'s
  ``activation_checkpointing``: recomputes each block in backward, as the published ``with_cp``
  (blocks already built with ``with_cp=True`` checkpoint themselves and are left alone).
- ``use_fsdp(cfg, sharded_checkpoints)``: what ``tools/train.py --fsdp [--sharded-checkpoints]`` does to a
  config.
"""
import time

import mmengine
import torch
from mmengine._strategy import FSDPStrategy
from mmengine.dist import is_main_process
from mmengine.model import MMFullyShardedDataParallel
from mmengine.registry import FUNCTIONS, MODEL_WRAPPERS, STRATEGIES
from mmengine.utils import get_git_hash
from torch.distributed.fsdp import FullyShardedDataParallel

from ..checkpoint.sharded import PARAM_GROUPS_KEY, is_sharded_checkpoint, read_extra
from ..models.backbone import InternImageLayer
from .atomic_files import save_atomically
from .cpu_ddp import cpu_module
from .param_names import FULL_SHAPE
from .sharded_checkpoint import load_sharded_model, load_sharded_optimizer, save_sharded, sharded_state

# In a sharded checkpoint's extra.pth: what the optimizer wrapper saves beside the optimizer (AMP's loss scaler).
OPTIM_WRAPPER_EXTRA_KEY = 'optim_wrapper_extra'


def is_sharded_unit(module):
    """Block of the backbone, or a transformer encoder / decoder layer of a head."""
    return isinstance(module, InternImageLayer) or type(module).__name__.endswith(('EncoderLayer', 'DecoderLayer'))


@FUNCTIONS.register_module()
def internimage_wrap_policy(module, recurse, nonwrapped_numel=0, **kwargs):
    """FSDP ``auto_wrap_policy``: a unit for each module :func:`is_sharded_unit` selects."""
    return True if recurse else is_sharded_unit(module)


@FUNCTIONS.register_module()
def internimage_activation_checkpointing(module):
    """``check_fn`` of FSDPStrategy's ``activation_checkpointing``: each block not already
    checkpointing itself (``with_cp``)."""
    return isinstance(module, InternImageLayer) and not module.with_cp


@MODEL_WRAPPERS.register_module()
class InternImageFSDP(MMFullyShardedDataParallel):
    """mmengine's FSDP wrapper, on GPUs or (over gloo) on CPUs; see the module docstring."""

    def __init__(self, module, device_id=None, **kwargs):
        for param in module.parameters():
            setattr(param, FULL_SHAPE, tuple(param.shape))
        if not torch.cuda.is_available():
            module, device_id = cpu_module(module), torch.device('cpu')
        kwargs.setdefault('auto_wrap_policy', internimage_wrap_policy)
        super().__init__(module, device_id=device_id, **kwargs)

    def clip_grad_norm(self, params, max_norm, norm_type=2.0, **kwargs):
        """``torch.nn.utils.clip_grad_norm_``'s signature, FSDP's norm over all shards."""
        return self.clip_grad_norm_(max_norm, norm_type)

    def train_step(self, data, optim_wrapper):
        if getattr(optim_wrapper, 'clip_func', None) is torch.nn.utils.clip_grad_norm_:
            optim_wrapper.clip_func = self.clip_grad_norm
        return super().train_step(data, optim_wrapper)


class _ShardedOptimizerState:
    """Stands for the optimizer state of a sharded checkpoint in the dict ``load_checkpoint`` returns:
    mmengine's ``resume`` hands it to ``load_optim_state_dict``, which reads the shards then."""

    def __init__(self, path, param_groups, wrapper_extra):
        self.path, self.param_groups, self.wrapper_extra = path, param_groups, wrapper_extra


@STRATEGIES.register_module()
class InternImageFSDPStrategy(FSDPStrategy):
    """mmengine's FSDPStrategy; see the module docstring. ``sharded_checkpoints``: save sharded checkpoint
    folders (``internimage.checkpoint.sharded``) instead of rank 0's full checkpoint files."""

    def __init__(self, *, sharded_checkpoints=False, **kwargs):
        super().__init__(**kwargs)
        self.sharded_checkpoints = sharded_checkpoints

    def save_checkpoint(self, filename, *, save_optimizer=True, save_param_scheduler=True, extra_ckpt=None,
                        callback=None):
        """mmengine's checkpoint dict (model, optimizer, schedulers, ``extra_ckpt``, the seed, time and
        mmengine version in ``meta``; ``callback`` sees it before it is written), written as a sharded
        folder by every rank or, full, by rank 0 as one file; atomically either way."""
        with_optimizer = save_optimizer and hasattr(self, 'optim_wrapper')
        if self.sharded_checkpoints:
            model_state, optim_state = sharded_state(self.model, self.optim_wrapper.optimizer if with_optimizer
                                                     else None)
        else:
            model_state = self.model_state_dict()
            optim_state = self.optim_state_dict() if with_optimizer else None
        checkpoint = dict(state_dict=model_state)
        if optim_state is not None:
            checkpoint['optimizer'] = optim_state
        if save_param_scheduler and hasattr(self, 'param_schedulers'):
            checkpoint['param_schedulers'] = self.scheduler_state_dict()
        extra_ckpt = dict(extra_ckpt or {})
        extra_ckpt['meta'] = dict(extra_ckpt.get('meta') or {}, seed=self.seed,
                                  time=time.strftime('%Y%m%d_%H%M%S', time.localtime()),
                                  mmengine=mmengine.__version__ + get_git_hash())
        checkpoint.update(extra_ckpt)
        if callback is not None:
            callback(checkpoint)
        if self.sharded_checkpoints:
            if with_optimizer:
                wrapper_extra = {key: value for key, value in self.optim_wrapper.state_dict().items()
                                 if key not in ('state', 'param_groups')}
                if wrapper_extra:
                    checkpoint[OPTIM_WRAPPER_EXTRA_KEY] = wrapper_extra
            save_sharded(checkpoint, filename)
        elif is_main_process():
            save_atomically(checkpoint, filename)

    def load_checkpoint(self, filename, **kwargs):
        """A file as mmengine loads it; a sharded checkpoint folder through DCP, resharded to this run's
        processes (its optimizer state is read when ``resume`` asks for it)."""
        if not is_sharded_checkpoint(filename):
            return super().load_checkpoint(filename, **kwargs)
        self.logger.info(f'Load sharded checkpoint from {filename}')
        checkpoint = read_extra(filename)
        if kwargs.get('callback') is not None:
            kwargs['callback'](checkpoint)
        missing, unexpected = load_sharded_model(self.model, filename, strict=kwargs.get('strict', False))
        if missing or unexpected:
            self.logger.warning(f'{filename}: missing keys {missing}, unexpected keys {unexpected}')
        if PARAM_GROUPS_KEY in checkpoint:
            checkpoint['optimizer'] = _ShardedOptimizerState(filename, checkpoint.pop(PARAM_GROUPS_KEY),
                                                             checkpoint.pop(OPTIM_WRAPPER_EXTRA_KEY, {}))
        return checkpoint

    def load_optim_state_dict(self, state_dict):
        optimizer = self.optim_wrapper.optimizer
        if isinstance(state_dict, _ShardedOptimizerState):
            load_sharded_optimizer(self.model, optimizer, state_dict.path, state_dict.param_groups)
            if 'loss_scaler' in state_dict.wrapper_extra and hasattr(self.optim_wrapper, 'loss_scaler'):
                self.optim_wrapper.loss_scaler.load_state_dict(state_dict.wrapper_extra['loss_scaler'])
            return
        self.optim_wrapper.load_state_dict(FullyShardedDataParallel.optim_state_dict_to_load(
            model=self.model, optim=optimizer, optim_state_dict=state_dict))


def full_state_dict_cfg():
    """FSDPStrategy's ``state_dict_cfg='full'`` (rank 0 saves the plain model's state dict and the
    optimizer's, by parameter name), copied to the CPU from GPUs only. On CPUs the copy is a no-op and
    torch 2.14's optimizer state gathering then returns every state of a parameter as a view of one
    buffer, reused for each state: ``exp_avg`` came back equal to ``exp_avg_sq``."""
    offload = torch.cuda.is_available()
    return dict(
        state_dict_type='FULL_STATE_DICT',
        state_dict_config=dict(type='FullStateDictConfig', rank0_only=True, offload_to_cpu=offload),
        optim_state_dict_config=dict(type='FullOptimStateDictConfig', rank0_only=True, offload_to_cpu=offload))


def use_fsdp(cfg, sharded_checkpoints=False):
    """Train ``cfg`` sharded: mmengine's FlexibleRunner with (InternImage)FSDPStrategy and ``InternImageFSDP``
    (a unit per block and per transformer layer, each block recomputed in backward, original
    parameters for the layer-decay constructors), saving full checkpoints (the plain model's keys;
    resumed into the sharded model) or, with ``sharded_checkpoints``, sharded checkpoint folders.
    Settings already in ``cfg.strategy`` are kept."""
    strategy = dict(
        type='InternImageFSDPStrategy',
        sharded_checkpoints=False,
        model_wrapper=dict(type='InternImageFSDP', use_orig_params=True),
        state_dict_cfg=full_state_dict_cfg(),
        activation_checkpointing=dict(check_fn='internimage_activation_checkpointing'))
    given = dict(cfg.get('strategy') or {})
    strategy['model_wrapper'].update(given.pop('model_wrapper', None) or {})
    strategy.update(given)
    if sharded_checkpoints:
        strategy['sharded_checkpoints'] = True
    if strategy.get('activation_checkpointing') is None:
        strategy.pop('activation_checkpointing', None)
    cfg.strategy = strategy
    cfg.runner_type = 'FlexibleRunner'
    cfg.pop('model_wrapper_cfg', None)  # the DDP wrapper; FSDPStrategy takes strategy.model_wrapper
    return cfg
