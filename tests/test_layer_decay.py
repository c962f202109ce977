"""CustomLayerDecayOptimizerConstructor: lr and weight decay per parameter."""
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from torch import nn

import mmdet_custom  # noqa: F401  (registers the constructor)
from internimage import InternImage
from internimage.layer_decay import layer_id_of

DEPTHS = [1, 1, 2, 1]


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = InternImage(channels=16, depths=DEPTHS, groups=[1, 2, 4, 8], layer_scale=1.0)
        self.neck = nn.Conv2d(128, 8, 1)


def build(offset_lr_scale=1.0, rate=0.5):
    cfg = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05),
               constructor='CustomLayerDecayOptimizerConstructor',
               paramwise_cfg=dict(num_layers=5, layer_decay_rate=rate, depths=DEPTHS,
                                  offset_lr_scale=offset_lr_scale))
    model = Detector()
    with DefaultScope.overwrite_default_scope('mmdet'):  # as the Runner of an mmdet config does
        wrapper = build_optim_wrapper(model, cfg)
    by_name = {}
    for group in wrapper.optimizer.param_groups:
        for name in group['param_names']:
            by_name[name] = (group['lr'], group['weight_decay'])
    return model, by_name


def test_layer_ids():
    assert layer_id_of('backbone.patch_embed.conv1.weight', 7, DEPTHS) == 0
    assert layer_id_of('backbone.levels.0.blocks.0.dcn.offset.weight', 7, DEPTHS) == 1
    assert layer_id_of('backbone.levels.0.downsample.conv.weight', 7, DEPTHS) == 2
    assert layer_id_of('backbone.levels.2.blocks.1.mlp.fc1.weight', 7, DEPTHS) == 4
    assert layer_id_of('backbone.levels.3.blocks.0.mlp.fc1.weight', 7, DEPTHS) == 5
    assert layer_id_of('backbone.levels.3.norm.0.weight', 7, DEPTHS) == 5
    assert layer_id_of('neck.weight', 7, DEPTHS) == 6


@pytest.mark.parametrize('offset_lr_scale', [1.0, 0.1])
def test_lr_and_weight_decay_per_parameter(offset_lr_scale):
    model, groups = build(offset_lr_scale)
    names = {n for n, p in model.named_parameters()}
    assert set(groups) == names  # every trainable parameter is in exactly one group
    # num_layers 5 + 2 = 7 layer ids; lr = 0.5 ** (6 - id).
    expected = {
        'backbone.patch_embed.conv1.weight': (0.5 ** 6, 0.05),
        'backbone.patch_embed.conv1.bias': (0.5 ** 6, 0.0),
        'backbone.levels.0.blocks.0.gamma1': (0.5 ** 5, 0.0),
        'backbone.levels.0.blocks.0.norm1.0.weight': (0.5 ** 5, 0.0),
        'backbone.levels.0.blocks.0.mlp.fc1.weight': (0.5 ** 5, 0.05),
        'backbone.levels.0.blocks.0.dcn.offset.weight': (0.5 ** 5 * offset_lr_scale, 0.05),
        'backbone.levels.0.blocks.0.dcn.mask.bias': (0.5 ** 5 * offset_lr_scale, 0.0),
        'backbone.levels.0.blocks.0.dcn.input_proj.weight': (0.5 ** 5, 0.05),
        'backbone.levels.0.downsample.conv.weight': (0.5 ** 4, 0.05),
        'backbone.levels.2.blocks.1.dcn.output_proj.weight': (0.5 ** 2, 0.05),
        'backbone.levels.3.blocks.0.mlp.fc2.weight': (0.5 ** 1, 0.05),
        'neck.weight': (1.0, 0.05),
        'neck.bias': (1.0, 0.0),
    }
    for name, (lr, wd) in expected.items():
        assert groups[name][0] == pytest.approx(lr), name
        assert groups[name][1] == wd, name


def test_missing_setting_is_named():
    cfg = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1.0),
               constructor='CustomLayerDecayOptimizerConstructor', paramwise_cfg=dict(num_layers=5))
    with pytest.raises(KeyError, match='layer_decay_rate'), DefaultScope.overwrite_default_scope('mmdet'):
        build_optim_wrapper(Detector(), cfg)
