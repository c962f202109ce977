"""Layer-wise learning-rate decay for InternImage models, as an mmengine
optimizer-wrapper constructor usable from mmdet, mmseg and mmpretrain configs::

    optim_wrapper = dict(
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        constructor='CustomLayerDecayOptimizerConstructor',
        paramwise_cfg=dict(num_layers=30, layer_decay_rate=0.9, depths=[4, 4, 18, 4],
                           offset_lr_scale=1.0))

Layer ids run from 0 (stem) through one per block to ``num_layers + 1`` (everything
outside the backbone: necks and heads). A parameter of layer id ``i`` gets
``lr = base_lr * layer_decay_rate ** (num_layers + 1 - i)``; the DCNv3 offset and
mask projections are further scaled by ``offset_lr_scale``. Norms, biases,
layer-scale gammas and other 1-d parameters get no weight decay.
"""
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor


def layer_id_of(name, num_layers, depths):
    """Layer id of a parameter named as in a model whose backbone is ``backbone``."""
    if name.startswith('backbone.patch_embed'):
        return 0
    if name.startswith('backbone.levels.'):
        parts = name.split('.')
        stage = int(parts[2])
        if parts[3] == 'blocks':
            return 1 + sum(depths[:stage]) + int(parts[4])
        # Stage norm, post-norms and downsampling sit on top of the stage's last block.
        return 1 + sum(depths[:min(stage + 1, 3)])
    return num_layers - 1


def takes_no_weight_decay(name, param):
    leaf = name.rsplit('.', 1)[-1]
    return param.ndim == 1 or leaf == 'bias' or 'norm' in name or leaf.startswith('gamma')


def is_offset_or_mask(name):
    return '.dcn.offset.' in name or '.dcn.mask.' in name


class CustomLayerDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """mmengine optimizer-wrapper constructor with InternImage's layer-wise lr decay."""

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
            if name.startswith('module.'):  # wrapped for distributed training
                name = name[len('module.'):]
            layer_id = layer_id_of(name, num_layers, depths)
            no_decay = takes_no_weight_decay(name, param)
            offset = is_offset_or_mask(name)
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
