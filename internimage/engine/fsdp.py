"""Sharded (FSDP) training of the giant models through mmengine's ``FlexibleRunner`` and
``FSDPStrategy``: only what mmengine does not provide for InternImage.

- ``InternImageFSDP``, the model wrapper: mmengine's ``MMFullyShardedDataParallel`` that also runs on
  CPUs (mmengine passes the CUDA device ``LOCAL_RANK``; FSDP on CPUs needs ``torch.device('cpu')``; SyncBN
  becomes BatchNorm there, as with DDP), that clips gradients by the norm over all shards (mmengine's
  ``OptimWrapper`` would clip each rank's shard by its own norm), and that records each parameter's
  unsharded shape before sharding: with ``use_orig_params`` the optimizer constructor sees flat shards,
  and the layer-decay rules (no weight decay for 1-d parameters) read the recorded shape.
- ``InternImageFSDPStrategy``: mmengine's ``FSDPStrategy``, whose resuming of the optimizer
  passes its arguments to torch's ``optim_state_dict_to_load`` in the order of torch < 2.1.
- ``internimage_wrap_policy``: one FSDP unit per InternImage block and per transformer encoder /
  decoder layer of the heads (DINO, Mask2Former). Modules reached through methods other than
  ``forward`` (a head's ``loss`` / ``predict``) cannot be units of their own: FSDP gathers a unit's
  parameters in its ``forward``. Everything else (stem, downsampling, norms, neck, convolutional heads)
  is the root unit, sharded as well.
- ``internimage_activation_checkpointing``: the ``check_fn`` for ``FSDPStrategy``'s
  ``activation_checkpointing``: recomputes each block in backward, as the published ``with_cp``
  (blocks already built with ``with_cp=True`` checkpoint themselves and are left alone).
- ``use_fsdp(cfg)``: what ``tools/train.py --fsdp`` does to a config.
"""
import torch
from mmengine._strategy import FSDPStrategy
from mmengine.model import MMFullyShardedDataParallel
from mmengine.registry import FUNCTIONS, MODEL_WRAPPERS, STRATEGIES
from torch.distributed.fsdp import FullyShardedDataParallel

from ..models.backbone import InternImageLayer
from .cpu_ddp import cpu_module
from .param_names import FULL_SHAPE


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


@STRATEGIES.register_module()
class InternImageFSDPStrategy(FSDPStrategy):
    """mmengine's FSDPStrategy; see the module docstring."""

    def load_optim_state_dict(self, state_dict):
        optimizer = self.optim_wrapper.optimizer
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


def use_fsdp(cfg):
    """Train ``cfg`` sharded: mmengine's FlexibleRunner with (InternImage)FSDPStrategy and ``InternImageFSDP``
    (a unit per block and per transformer layer, each block recomputed in backward, original
    parameters for the layer-decay constructors), saving full checkpoints (the plain model's keys;
    resumed into the sharded model). Settings already in ``cfg.strategy`` are kept."""
    strategy = dict(
        type='InternImageFSDPStrategy',
        model_wrapper=dict(type='InternImageFSDP', use_orig_params=True),
        state_dict_cfg=full_state_dict_cfg(),
        activation_checkpointing=dict(check_fn='internimage_activation_checkpointing'))
    given = dict(cfg.get('strategy') or {})
    strategy['model_wrapper'].update(given.pop('model_wrapper', None) or {})
    strategy.update(given)
    if strategy.get('activation_checkpointing') is None:
        strategy.pop('activation_checkpointing', None)
    cfg.strategy = strategy
    cfg.runner_type = 'FlexibleRunner'
    cfg.pop('model_wrapper_cfg', None)  # the DDP wrapper; FSDPStrategy takes strategy.model_wrapper
    return cfg
