"""InternImage: one implementation of the published backbone for every variant (T..G), and of
FlashInternImage (T..L: the same network on the DCNv4 core op, see ``FlashInternImage``).

Module and parameter names follow the published checkpoints (see
tests/data/published/checkpoint_keys): ``patch_embed``, ``levels.<i>.blocks.<j>``,
``levels.<i>.norm``, ``levels.<i>.post_norms``, ``levels.<i>.downsample``.
Features are channels-last inside; ``forward`` returns NCHW maps.
"""
import functools

import torch
import torch.utils.checkpoint as checkpoint
from mmcv.cnn.bricks import DropPath
from mmengine.logging import print_log
from mmengine.model import BaseModule, constant_init, trunc_normal_init
from torch import nn

from ops_dcnv3 import modules as dcnv3_modules
from ops_dcnv3.modules import build_act_layer, build_norm_layer, linear, residual_sum

from ..checkpoint.loading import load_backbone_checkpoint
from .arch_settings import ARCH_SETTINGS, FLASH_ARCH_SETTINGS, with_arch

CORE_OPS = {'DCNv3': dcnv3_modules.DCNv3, 'DCNv3_pytorch': dcnv3_modules.DCNv3_pytorch,
            'DCNv4': dcnv3_modules.DCNv4, 'DCNv4_pytorch': dcnv3_modules.DCNv4_pytorch}
DCNV4_OPS = ('DCNv4', 'DCNv4_pytorch')


class StemLayer(nn.Module):
    """Two stride-2 3x3 convolutions: 3 -> C/2 -> C; NCHW in, channels-last out."""

    def __init__(self, in_chans=3, out_chans=96, act_layer='GELU', norm_layer='BN'):
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, out_chans // 2, kernel_size=3, stride=2, padding=1)
        self.norm1 = build_norm_layer(out_chans // 2, norm_layer, 'channels_first', 'channels_first')
        self.act = build_act_layer(act_layer)
        self.conv2 = nn.Conv2d(out_chans // 2, out_chans, kernel_size=3, stride=2, padding=1)
        self.norm2 = build_norm_layer(out_chans, norm_layer, 'channels_first', 'channels_last')

    def forward(self, x):
        return self.norm2(self.conv2(self.act(self.norm1(self.conv1(x)))))


class DownsampleLayer(nn.Module):
    """Stride-2 3x3 convolution doubling the channels; channels-last in and out."""

    def __init__(self, channels, norm_layer='LN'):
        super().__init__()
        self.conv = nn.Conv2d(channels, 2 * channels, kernel_size=3, stride=2, padding=1, bias=False)
        self.norm = build_norm_layer(2 * channels, norm_layer, 'channels_first', 'channels_last')

    def forward(self, x):
        return self.norm(self.conv(x.permute(0, 3, 1, 2)))


class MLPLayer(nn.Module):
    def __init__(self, in_features, hidden_features, act_layer='GELU', drop=0.0, fc2_bias=True):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = build_act_layer(act_layer)
        self.fc2 = nn.Linear(hidden_features, in_features, bias=fc2_bias)
        self.drop = nn.Dropout(drop)

    def forward(self, x, residual=None, scale=None):
        """MLP(x), times ``scale`` (C,) and plus ``residual`` if given (a block's layer scale and residual)."""
        if type(self.act) is nn.GELU and self.act.approximate == 'none' and not self.training:
            # fc1 + GELU and fc2 + scale + residual as matmuls with epilogues where possible (ops_dcnv3's linear).
            hidden = linear(x, self.fc1.weight, self.fc1.bias, gelu=True)
            return linear(hidden, self.fc2.weight, self.fc2.bias, residual=residual, scale=scale)
        return residual_sum(self.drop(self.fc2(self.drop(self.act(self.fc1(x))))), residual, scale)


class InternImageLayer(nn.Module):
    """One block: DCNv3 / DCNv4 then MLP, each residual, with pre-, post- or res-post-norm."""

    def __init__(self, core_op, channels, groups, mlp_ratio=4.0, drop=0.0, drop_path=0.0, act_layer='GELU',
                 norm_layer='LN', post_norm=False, layer_scale=None, offset_scale=1.0, with_cp=False,
                 dw_kernel_size=None, res_post_norm=False, center_feature_scale=False, remove_center=False,
                 dcn_output_bias=True, mlp_fc2_bias=True):
        super().__init__()
        self.post_norm = post_norm
        self.res_post_norm = res_post_norm
        self.with_cp = with_cp
        self.norm1 = build_norm_layer(channels, 'LN')
        # DCNv4 layers have an optional output bias; DCNv3's always has one.
        bias = {} if dcn_output_bias is True else dict(output_bias=dcn_output_bias)
        self.dcn = core_op(channels=channels, kernel_size=3, stride=1, pad=1, dilation=1, group=groups,
                           offset_scale=offset_scale, act_layer=act_layer, norm_layer=norm_layer,
                           dw_kernel_size=dw_kernel_size, center_feature_scale=center_feature_scale,
                           remove_center=remove_center, **bias)
        # DCNv4 layers take tokens (N, H * W, C) and the spatial shape; DCNv3 layers (N, H, W, C).
        self.dcn_takes_tokens = isinstance(self.dcn, dcnv3_modules.DCNv4)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = build_norm_layer(channels, 'LN')
        self.mlp = MLPLayer(channels, int(channels * mlp_ratio), act_layer, drop, fc2_bias=mlp_fc2_bias)
        self.layer_scale = layer_scale is not None
        if self.layer_scale:
            self.gamma1 = nn.Parameter(layer_scale * torch.ones(channels))
            self.gamma2 = nn.Parameter(layer_scale * torch.ones(channels))
        if res_post_norm:
            self.res_post_norm1 = build_norm_layer(channels, 'LN')
            self.res_post_norm2 = build_norm_layer(channels, 'LN')

    def _dcn(self, x, residual=None, scale=None):
        """The core-op layer on channels-last ``x`` (N, H, W, C), times ``scale`` and plus ``residual`` if
        given."""
        if not self.dcn_takes_tokens:
            return self.dcn(x, residual=residual, output_scale=scale)
        n, h, w, c = x.shape
        tokens = None if residual is None else residual.reshape(n, h * w, c)
        return self.dcn(x.reshape(n, h * w, c), (h, w), residual=tokens, output_scale=scale).reshape(n, h, w, c)

    def _branch(self, x, norm, fn, res_norm, gamma):
        if self.post_norm:
            y = norm(fn(x))
        else:
            y = fn(norm(x))
            if self.res_post_norm:
                y = res_norm(y)
        return self.drop_path(y if gamma is None else gamma * y)

    def _forward(self, x):
        gamma1, gamma2 = (self.gamma1, self.gamma2) if self.layer_scale else (None, None)
        if not (self.training or self.post_norm or self.res_post_norm):
            # Inference, pre-norm (drop path is the identity): each branch's layer scale and
            # residual sum come out of its last matmul.
            x = self._dcn(self.norm1(x), residual=x, scale=gamma1)
            return self.mlp(self.norm2(x), residual=x, scale=gamma2)
        x = x + self._branch(x, self.norm1, self._dcn, getattr(self, 'res_post_norm1', None), gamma1)
        x = x + self._branch(x, self.norm2, self.mlp, getattr(self, 'res_post_norm2', None), gamma2)
        return x

    def forward(self, x):
        if self.with_cp and x.requires_grad:
            return checkpoint.checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)


class InternImageBlock(nn.Module):
    """One stage ("level"): blocks, optional stage norm and post-norms, optional downsampling."""

    def __init__(self, core_op, channels, depth, groups, downsample=True, mlp_ratio=4.0, drop=0.0,
                 drop_path=0.0, act_layer='GELU', norm_layer='LN', post_norm=False, offset_scale=1.0,
                 layer_scale=None, with_cp=False, dw_kernel_size=None, post_norm_block_ids=None,
                 res_post_norm=False, center_feature_scale=False, remove_center=False, dcn_output_bias=True,
                 mlp_fc2_bias=True):
        super().__init__()
        drop_paths = drop_path if isinstance(drop_path, (list, tuple)) else [drop_path] * depth
        self.blocks = nn.ModuleList([
            InternImageLayer(core_op, channels, groups, mlp_ratio, drop, drop_paths[i], act_layer, norm_layer,
                             post_norm, layer_scale, offset_scale, with_cp, dw_kernel_size, res_post_norm,
                             center_feature_scale, remove_center, dcn_output_bias, mlp_fc2_bias)
            for i in range(depth)])
        # The published models keep a stage norm unless post-norm already ends each block.
        self.has_norm = not post_norm or center_feature_scale
        if self.has_norm:
            self.norm = build_norm_layer(channels, 'LN')
        self.post_norm_block_ids = list(post_norm_block_ids or [])
        if self.post_norm_block_ids:
            self.post_norms = nn.ModuleList(build_norm_layer(channels, 'LN', eps=1e-6)
                                            for _ in self.post_norm_block_ids)
        self.downsample = DownsampleLayer(channels, norm_layer) if downsample else None

    def forward(self, x):
        """Returns (stage output before downsampling, input of the next stage)."""
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.post_norm_block_ids:
                x = self.post_norms[self.post_norm_block_ids.index(i)](x)
        if self.has_norm:
            x = self.norm(x)
        return x, (self.downsample(x) if self.downsample is not None else x)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_arguments(name, core_op, channels, depths, groups, mlp_ratio, drop_path_type, layer_scale, offset_scale,
                    dw_kernel_size, out_indices, use_dcn_v4_op, dcn_output_bias, flags):
    """Raise ValueError naming the first bad constructor argument, before anything is built (a bad
    ``--cfg-options`` value fails here, not deep inside a layer; an unknown name is only logged, see
    ``InternImage``'s ``**kwargs``)."""
    def bad(argument, expected, value):
        raise ValueError(f'{name}: {argument} must be {expected}, got {value!r}')

    if core_op not in CORE_OPS:
        bad('core_op', f'one of {sorted(CORE_OPS)}', core_op)
    if not _is_int(channels) or channels <= 0:
        bad('channels', 'a positive integer', channels)
    for argument, value in (('depths', depths), ('groups', groups)):
        if not isinstance(value, (list, tuple)) or not value or not all(_is_int(v) and v > 0 for v in value):
            bad(argument, 'a non-empty list of positive integers', value)
    if len(depths) != len(groups):
        raise ValueError(f'{name}: depths {list(depths)} and groups {list(groups)} differ in length')
    for i, group in enumerate(groups):
        width = channels * 2 ** i
        if width % group:
            raise ValueError(f'{name}: groups[{i}] = {group} does not divide the {width} channels of level {i} '
                             f'(channels={channels} doubled at each level)')
    if not _is_number(mlp_ratio) or mlp_ratio <= 0 or int(channels * mlp_ratio) <= 0:
        bad('mlp_ratio', 'a positive number', mlp_ratio)
    if drop_path_type not in ('linear', 'uniform'):
        bad('drop_path_type', "'linear' or 'uniform'", drop_path_type)
    if layer_scale is not None and not _is_number(layer_scale):
        bad('layer_scale', 'None or a number', layer_scale)
    if not _is_number(offset_scale):
        bad('offset_scale', 'a number', offset_scale)
    if dw_kernel_size is not None and (not _is_int(dw_kernel_size) or dw_kernel_size <= 0 or dw_kernel_size % 2 == 0):
        bad('dw_kernel_size', 'None or a positive odd integer', dw_kernel_size)
    if (not isinstance(out_indices, (list, tuple)) or not out_indices
            or not all(_is_int(i) and 0 <= i < len(depths) for i in out_indices)):
        bad('out_indices', f'a non-empty list of level indices in 0..{len(depths) - 1}', out_indices)
    for argument, value in flags.items():
        if not isinstance(value, bool):
            bad(argument, 'True or False', value)
    if use_dcn_v4_op and core_op in DCNV4_OPS:
        raise ValueError(f'{name}: use_dcn_v4_op (DCNv3 layers on the DCNv4 kernel) needs a DCNv3 core_op, '
                         f'got {core_op!r}')
    if not dcn_output_bias and core_op not in DCNV4_OPS:
        raise ValueError(f'{name}: dcn_output_bias=False needs a DCNv4 core_op (DCNv3 layers always have an '
                         f'output bias), got {core_op!r}')


class InternImage(BaseModule):
    """InternImage backbone; the arguments carry the published names, the defaults are InternImage-T (the
    published code's defaults, groups of 3 on 64 channels, could not run).

    Returns a tuple of NCHW feature maps, one per entry of ``out_indices``. Each argument is checked before
    anything is built: a bad value raises ValueError naming the argument.

    Args:
        arch: a published size, ``'t'``, ``'s'``, ``'b'``, ``'l'``, ``'xl'``, ``'h'`` or ``'g'``
            (``ARCH_SETTINGS`` in ``internimage.models.arch_settings``), filling in the arguments that define
            it (channels, depths, groups, offset_scale, post_norm, layer_scale and H/G's flags). Arguments
            given explicitly win over the size's values (e.g. ``arch='l', layer_scale=1.0``, as the
            detection and segmentation configs set). None: the explicit arguments alone.
        core_op: the deformable convolution of each block: ``'DCNv3'`` (compiled op), ``'DCNv3_pytorch'``
            (the pure-PyTorch reference), ``'DCNv4'`` or ``'DCNv4_pytorch'``.
        channels: channels of the first stage; each stage doubles them.
        depths: blocks per stage.
        groups: DCN groups per stage; ``groups[i]`` must divide stage i's ``channels * 2 ** i``.
        mlp_ratio: hidden width of each block's MLP over its channels.
        drop_rate: dropout after the stem and inside the MLPs.
        drop_path_rate: stochastic depth of the last block.
        drop_path_type: ``'linear'`` (0 at the first block, rising to ``drop_path_rate`` at the last) or
            ``'uniform'`` (``drop_path_rate`` everywhere).
        act_layer: activation of the stem, the MLPs and DCNv3's offset branch (``'GELU'``, ``'ReLU'``).
        norm_layer: norm of the stem, the downsampling layers and DCNv3's offset branch (``'LN'``, ``'BN'``);
            the blocks' own norms are always LayerNorm.
        layer_scale: initial value of the per-channel scales (``gamma1``, ``gamma2``) of each block's two
            branches; None: no layer scale.
        offset_scale: scale of the learned sampling offsets.
        post_norm: normalise each branch's output (post-norm) instead of its input (pre-norm).
        with_cp: recompute each block in the backward pass (gradient checkpointing) to save memory.
        dw_kernel_size: kernel of the depthwise convolution that feeds the offsets; DCNv3: None means 3 (the
            DCN kernel), DCNv4: None means no such convolution.
        level2_post_norm: add a LayerNorm after each block of stage 2 listed in ``level2_post_norm_block_ids``
            (H and G).
        level2_post_norm_block_ids: those blocks' indices within stage 2.
        res_post_norm: pre-norm blocks with a LayerNorm on each branch's output before the residual sum (H).
        center_feature_scale: DCNv3's centre feature scaling: a learned per-group blend of the DCN output and
            the projected input (H and G).
        remove_center: sample without the kernel's centre point.
        use_dcn_v4_op: DCNv3 layers (parameters, softmaxed mask) run on the DCNv4 kernel, as the published
            ``mask_rcnn_internimage_t_fpn_1x_coco_with_dcnv4`` config does; needs a DCNv3 ``core_op``.
        dcn_output_bias: a bias on the DCN layers' output projection; False needs a DCNv4 ``core_op``.
        mlp_fc2_bias: a bias on the MLPs' second Linear.
        out_indices: the stages whose outputs ``forward`` returns.
        frozen_stages: freeze the stem and stages ``0 .. frozen_stages - 1`` (0: the stem only; -1: nothing).
        init_cfg: mmengine's initialisation config. ``dict(type='Pretrained', checkpoint=...)`` accepts the
            published classification checkpoints (weights under ``model``), detection or segmentation
            checkpoints (``state_dict`` with keys under ``backbone.``) and plain state dicts.
        **kwargs: other arguments are ignored with one log line naming them: the published configs carry
            flags that have no effect here (the classifier's ``use_clip_projector``, ``cls_scale``). A
            misspelled argument name lands here too, so read that line: only values are checked.
    """

    @with_arch(ARCH_SETTINGS)
    def __init__(self, core_op='DCNv3', channels=64, depths=(4, 4, 18, 4), groups=(4, 8, 16, 32),
                 mlp_ratio=4.0, drop_rate=0.0, drop_path_rate=0.2, drop_path_type='linear', act_layer='GELU',
                 norm_layer='LN', layer_scale=None, offset_scale=1.0, post_norm=False, with_cp=False,
                 dw_kernel_size=None, level2_post_norm=False, level2_post_norm_block_ids=None,
                 res_post_norm=False, center_feature_scale=False, remove_center=False, use_dcn_v4_op=False,
                 dcn_output_bias=True, mlp_fc2_bias=True, out_indices=(0, 1, 2, 3), frozen_stages=-1,
                 init_cfg=None, **kwargs):
        super().__init__(init_cfg=init_cfg)
        if kwargs:
            # Published configs carry a few flags with no effect here (e.g. use_clip_projector,
            # cls_scale of the classifier); accept them, but say so. A misspelled name also ends here:
            # only the values of the known arguments are checked.
            print_log(f'{type(self).__name__}: ignoring arguments {sorted(kwargs)}', logger='current')
        check_arguments(type(self).__name__, core_op=core_op, channels=channels, depths=depths, groups=groups,
                        mlp_ratio=mlp_ratio, drop_path_type=drop_path_type, layer_scale=layer_scale,
                        offset_scale=offset_scale, dw_kernel_size=dw_kernel_size, out_indices=out_indices,
                        use_dcn_v4_op=use_dcn_v4_op, dcn_output_bias=dcn_output_bias,
                        flags=dict(post_norm=post_norm, with_cp=with_cp, level2_post_norm=level2_post_norm,
                                   res_post_norm=res_post_norm, center_feature_scale=center_feature_scale,
                                   remove_center=remove_center, use_dcn_v4_op=use_dcn_v4_op,
                                   dcn_output_bias=dcn_output_bias, mlp_fc2_bias=mlp_fc2_bias))
        self.num_levels = len(depths)
        self.depths = list(depths)
        self.channels = channels
        self.num_features = int(channels * 2 ** (self.num_levels - 1))
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.level2_post_norm_block_ids = level2_post_norm_block_ids

        self.patch_embed = StemLayer(3, channels, act_layer, norm_layer)
        self.pos_drop = nn.Dropout(p=drop_rate)
        total = sum(depths)
        if drop_path_type == 'uniform':
            rates = [drop_path_rate] * total
        else:
            rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]  # linear from 0
        # use_dcn_v4_op (published): the same DCNv3 layers and parameters, the DCNv4 kernel underneath.
        layer_op = functools.partial(CORE_OPS[core_op], use_dcn_v4_op=True) if use_dcn_v4_op else CORE_OPS[core_op]
        self.levels = nn.ModuleList()
        for i in range(self.num_levels):
            start = sum(depths[:i])
            self.levels.append(InternImageBlock(
                core_op=layer_op, channels=int(channels * 2 ** i), depth=depths[i], groups=groups[i],
                downsample=i < self.num_levels - 1, mlp_ratio=mlp_ratio, drop=drop_rate,
                drop_path=rates[start:start + depths[i]], act_layer=act_layer, norm_layer=norm_layer,
                post_norm=post_norm, offset_scale=offset_scale, layer_scale=layer_scale, with_cp=with_cp,
                dw_kernel_size=dw_kernel_size,
                post_norm_block_ids=level2_post_norm_block_ids if (i == 2 and level2_post_norm) else None,
                res_post_norm=res_post_norm, center_feature_scale=center_feature_scale,
                remove_center=remove_center, dcn_output_bias=dcn_output_bias, mlp_fc2_bias=mlp_fc2_bias))
        self._freeze_stages()

    def init_weights(self):
        """From the ``Pretrained`` checkpoint of ``init_cfg``; without one, as the published backbone
        initialises itself: Linear weights trunc-normal (std 0.02) with zero biases, LayerNorms 1 / 0,
        then each DCNv3 / DCNv4 layer's own reset (zero offset and mask projections, xavier input / value
        and output projections), as the published classification code does (the published FlashInternImage
        det/seg ``init_weights`` draws every Linear trunc-normal after that reset, offset_mask included, when
        it has no checkpoint). Convolutions keep PyTorch's default."""
        if self.init_cfg is not None and self.init_cfg.get('type') == 'Pretrained':
            load_backbone_checkpoint(self, self.init_cfg['checkpoint'], logger='current')
            self._is_init = True
            return
        if self.init_cfg is not None:  # another mmengine initialiser, as configured
            super().init_weights()
            return
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_init(module, std=0.02, bias=0.0)
            elif isinstance(module, nn.LayerNorm):
                constant_init(module, 1.0, bias=0.0)
        for module in self.modules():
            if isinstance(module, tuple(CORE_OPS.values())):
                module._reset_parameters()
        self._is_init = True

    def _freeze_stages(self):
        """frozen_stages=k freezes the stem and stages 0..k-1 (0: stem only; -1: nothing)."""
        if self.frozen_stages < 0:
            return
        frozen = [self.patch_embed] + [self.levels[i] for i in range(min(self.frozen_stages, self.num_levels))]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode=True):
        super().train(mode)
        self._freeze_stages()
        return self

    def forward_levels(self, x):
        """All stages' outputs (channels-last, before downsampling)."""
        return self.levels_from_stem(self.pos_drop(self.patch_embed(x)))

    def levels_from_stem(self, x):
        """All stages' outputs (channels-last, before downsampling) from the stem's output ``x``."""
        outs = []
        for level in self.levels:
            out, x = level(x)
            outs.append(out)
        return outs

    def forward(self, x):
        outs = self.forward_levels(x)
        return tuple(outs[i].permute(0, 3, 1, 2).contiguous() for i in self.out_indices)


class FlashInternImage(InternImage):
    """FlashInternImage (the DCNv4 paper): InternImage on the DCNv4 core op, under the published name and
    with the published defaults: ``core_op='DCNv4'``, ``offset_scale=0.5``, no DCN output bias and no bias
    in the MLP's second Linear (the L variant turns both on). The depthwise convolution that feeds the
    offsets is optional and bare (``dw_kernel_size``: none for T, 3 for S/B/L). Everything else,
    parameter names included, is InternImage's.

    Args:
        arch: a published size, ``'t'``, ``'s'``, ``'b'`` or ``'l'`` (``FLASH_ARCH_SETTINGS`` in
            ``internimage.models.arch_settings``); arguments given explicitly win over its values, as for
            ``InternImage``.
        core_op: ``'DCNv4'``, or ``'DCNv4_pytorch'`` (the reference); a DCNv3 op needs
            ``dcn_output_bias=True``.
        offset_scale: scale of the learned sampling offsets.
        dcn_output_bias: a bias on the DCNv4 layers' output projection.
        mlp_fc2_bias: a bias on the MLPs' second Linear.
        **kwargs: ``InternImage``'s other arguments.
    """

    @with_arch(FLASH_ARCH_SETTINGS)
    def __init__(self, core_op='DCNv4', offset_scale=0.5, dcn_output_bias=False, mlp_fc2_bias=False, **kwargs):
        super().__init__(core_op=core_op, offset_scale=offset_scale, dcn_output_bias=dcn_output_bias,
                         mlp_fc2_bias=mlp_fc2_bias, **kwargs)
