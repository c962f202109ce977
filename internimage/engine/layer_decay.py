"""Layer-wise learning-rate decay for InternImage models, as an mmengine
optimizer-wrapper constructor usable from mmdet, mmseg and mmpretrain configs::

    optim_wrapper = dict(
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        constructor='CustomLayerDecayOptimizerConstructor',
        paramwise_cfg=dict(num_layers=30, layer_decay_rate=0.9, depths=[4, 4, 18, 4],
                           offset_lr_scale=1.0))

Layer ids run from 0 (stem) through one per block to ``num_layers + 1`` (everything
outside the backbone: necks and heads). A parameter of layer id ``i`` gets
``lr = base_lr * layer_decay_rate ** (num_layers + 1 - i)``. Norms, biases,
layer-scale gammas and other 1-d parameters get no weight decay. Names and shapes are the plain
model's also when it is wrapped (DDP, or FSDP with ``use_orig_params``: ``internimage.engine.fsdp``).

What ``offset_lr_scale`` scales, and a few placements, follow the published code of each
task, so each plugin registers its own under the one name:
- classification (mmpretrain), the published ``lr_decay_keywords`` rule: the last block shares the
  head's lr (block ``g`` of ``n`` gets ``layer_decay_rate ** (n - 1 - g)``), the stem takes the first
  block's, a stage's downsampling and norm the next stage's first block's, everything else (the last
  stage's norm, post-norms, the head) the base lr; ``offset_lr_scale`` scales every parameter whose
  name holds ``offset`` or ``center_feature_scale_proj`` (the DCNv3 offsets, not its mask); only
  1-d parameters and biases go without weight decay;
- detection (mmdet): the deformable attentions' ``sampling_offsets`` (which also take no weight
  decay), any ``reference_points`` and DCNv4's fused offset / mask projection ``offset_mask`` (not the
  depthwise convolution ``offset_mask_dw`` before it; the FlashInternImage constructor); DINO's ``level_embed`` sits at layer 0; a stage's
  ``post_norms.<j>`` share the layer of its block j;
- segmentation (mmseg): as detection, but ``offset_lr_scale`` only inside the backbone, and
  Mask2Former's query, class, mask and level embeddings sit at layer 0.
"""
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor

from .param_names import full_ndim, unwrapped_name


def layer_id_of(name, num_layers, depths, post_norms_by_block=False):
    """Layer id of a parameter named as in a model whose backbone is ``backbone``."""
    if name.startswith('backbone.patch_embed'):
        return 0
    if name.startswith('backbone.levels.'):
        parts = name.split('.')
        stage = int(parts[2])
        if parts[3] == 'blocks' or (post_norms_by_block and parts[3] == 'post_norms'):
            return 1 + sum(depths[:stage]) + int(parts[4])
        # Stage norm, post-norms and downsampling sit on top of the stage's last block.
        return 1 + sum(depths[:min(stage + 1, 3)])
    return num_layers - 1


def takes_no_weight_decay(name, param):
    leaf = name.rsplit('.', 1)[-1]
    return full_ndim(param) == 1 or leaf == 'bias' or 'norm' in name or leaf.startswith('gamma')


class CustomLayerDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """mmengine optimizer-wrapper constructor with InternImage's layer-wise lr decay: layer ids
    from :func:`layer_id_of`, ``offset_lr_scale`` on the DCNv3 offsets. The subclasses below hold
    each task's published rules; each plugin registers its task's under this name."""

    # Besides the stem, parameters placed at layer 0 (name prefixes / substrings).
    layer0_prefixes = ()
    layer0_substrings = ()
    # Besides 1-d parameters, biases, norms and gammas: substrings of names without weight decay.
    no_decay_substrings = ()
    post_norms_by_block = False

    def scaled_by_offset_lr(self, name):
        return '.dcn.offset.' in name

    def layer_id(self, name, num_layers, depths):
        if name.startswith(self.layer0_prefixes) or any(part in name for part in self.layer0_substrings):
            return 0
        return layer_id_of(name, num_layers, depths, self.post_norms_by_block)

    def no_weight_decay(self, name, param):
        return takes_no_weight_decay(name, param) or any(part in name for part in self.no_decay_substrings)

    def add_params(self, params, module, **kwargs):
        cfg = self.paramwise_cfg
        for key in ('num_layers', 'layer_decay_rate', 'depths'):
            if key not in cfg:
                raise KeyError(f'CustomLayerDecayOptimizerConstructor: paramwise_cfg needs {key!r}, got {dict(cfg)}')
        num_layers = cfg['num_layers'] + 2
        decay_rate = cfg['layer_decay_rate']
        depths = list(cfg['depths'])
        offset_lr_scale = cfg.get('offset_lr_scale', 1.0)

        groups = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            name = unwrapped_name(name)  # wrapped for distributed training: DDP, FSDP units, checkpointing
            layer_id = self.layer_id(name, num_layers, depths)
            no_decay = self.no_weight_decay(name, param)
            offset = self.scaled_by_offset_lr(name)
            lr_scale = decay_rate ** (num_layers - 1 - layer_id) * (offset_lr_scale if offset else 1.0)
            group_name = f'layer_{layer_id}_{"no_decay" if no_decay else "decay"}{"_offset" if offset else ""}'
            group = groups.setdefault(group_name, {
                'params': [], 'param_names': [], 'group_name': group_name, 'layer_id': layer_id,
                'lr_scale': lr_scale, 'lr': self.base_lr * lr_scale,
                'weight_decay': 0.0 if no_decay else self.base_wd})
            group['params'].append(param)
            group['param_names'].append(name)
        params.extend(groups.values())
        print_log(f'CustomLayerDecayOptimizerConstructor: {len(groups)} parameter groups, '
                  f'layer decay {decay_rate} over {num_layers} layers, offset lr x{offset_lr_scale}',
                  logger='current')


class ClassificationLayerDecayOptimizerConstructor(CustomLayerDecayOptimizerConstructor):
    """The rules of the published classification code (its model's ``lr_decay_keywords`` and its
    optimizer's ``dcn_lr_mul``), registered as CustomLayerDecayOptimizerConstructor in mmpretrain's
    registry."""

    def layer_id(self, name, num_layers, depths):
        # Block g of n sits at num_layers - n + g: the last block at the head's id, num_layers - 1.
        def block(index):
            return num_layers - sum(depths) + index
        if name.startswith('backbone.patch_embed'):
            return block(0)
        if name.startswith('backbone.levels.'):
            parts = name.split('.')
            stage = int(parts[2])
            if parts[3] == 'blocks':
                return block(sum(depths[:stage]) + int(parts[4]))
            if parts[3] in ('downsample', 'norm') and stage < 3:
                return block(sum(depths[:stage + 1]))
        return num_layers - 1

    def scaled_by_offset_lr(self, name):
        return 'offset' in name or 'center_feature_scale_proj' in name

    def no_weight_decay(self, name, param):
        return full_ndim(param) == 1 or name.endswith('.bias')


class DetectionLayerDecayOptimizerConstructor(CustomLayerDecayOptimizerConstructor):
    """The rules of the published detection constructor (registered as CustomLayerDecayOptimizerConstructor
    in mmdet's registry)."""
    layer0_substrings = ('level_embed', )  # DINO's (the published name: level_embeds)
    no_decay_substrings = ('sampling_offsets', )
    post_norms_by_block = True

    def scaled_by_offset_lr(self, name):
        return 'sampling_offsets' in name or 'reference_points' in name or '.offset_mask.' in name


class SegmentationLayerDecayOptimizerConstructor(DetectionLayerDecayOptimizerConstructor):
    """The rules of the published segmentation constructor (registered as
    CustomLayerDecayOptimizerConstructor in mmseg's registry)."""
    layer0_prefixes = tuple(f'decode_head.{name}' for name in
                            ('mask_embed', 'cls_embed', 'level_embed', 'query_embed', 'query_feat'))
    layer0_substrings = ('level_embeds', )

    def scaled_by_offset_lr(self, name):
        return super().scaled_by_offset_lr(name) and 'backbone' in name
