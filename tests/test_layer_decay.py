"""CustomLayerDecayOptimizerConstructor: lr and weight decay per parameter, with the published rules of
each task (classification, detection, segmentation) where they differ."""
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from torch import nn

import mmcls_custom  # noqa: F401  (each registers its task's constructor)
import mmdet_custom  # noqa: F401
import mmseg_custom  # noqa: F401
from internimage import FlashInternImage, InternImage
from internimage.engine.layer_decay import layer_id_of

DEPTHS = [1, 1, 2, 1]


class Detector(nn.Module):
    def __init__(self, backbone=InternImage):
        super().__init__()
        self.backbone = backbone(channels=16, depths=DEPTHS, groups=[1, 2, 4, 8], layer_scale=1.0, dw_kernel_size=3)
        self.neck = nn.Conv2d(128, 8, 1)
        # Names of head parameters the published det/seg constructors single out.
        self.encoder = nn.Module()
        self.encoder.sampling_offsets = nn.Linear(8, 4)
        self.level_embed = nn.Parameter(torch.zeros(4, 8))
        self.decode_head = nn.Module()
        self.decode_head.query_embed = nn.Embedding(3, 8)


def build(offset_lr_scale=1.0, rate=0.5, scope='mmdet', backbone=InternImage):
    cfg = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05),
               constructor='CustomLayerDecayOptimizerConstructor',
               paramwise_cfg=dict(num_layers=5, layer_decay_rate=rate, depths=DEPTHS,
                                  offset_lr_scale=offset_lr_scale))
    model = Detector(backbone)
    with DefaultScope.overwrite_default_scope(scope):  # as the Runner of a config of that scope does
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
    # A stage's post-norms: on top of the stage, or with their block (detection/segmentation).
    assert layer_id_of('backbone.levels.2.post_norms.1.0.weight', 7, DEPTHS) == 5
    assert layer_id_of('backbone.levels.2.post_norms.1.0.weight', 7, DEPTHS, post_norms_by_block=True) == 4


def published_classification_lr(name, depths, rate, dcn_lr_mul):
    """The published classification recipe's lr ratio of a parameter, computed its way: a table of name
    fragments (blocks from the last, which gets 1.0, backwards; the stem as the first block; a stage's
    downsampling and norm as the next stage's first block), the first fragment found in the name wins,
    no match is 1.0; then x dcn_lr_mul for names holding 'offset' or 'center_feature_scale_proj'."""
    table, index = {}, 0
    for stage in reversed(range(4)):
        for block in reversed(range(depths[stage])):
            table[f'levels.{stage}.blocks.{block}.'] = rate ** index
            index += 1
    table['patch_embed'] = table['levels.0.blocks.0.']
    for stage in range(3):
        table[f'levels.{stage}.downsample'] = table[f'levels.{stage}.norm'] = table[f'levels.{stage + 1}.blocks.0.']
    ratio = next((value for fragment, value in table.items() if fragment in name), 1.0)
    if 'offset' in name or 'center_feature_scale_proj' in name:
        ratio *= dcn_lr_mul
    return ratio


@pytest.mark.parametrize('offset_lr_scale', [1.0, 0.1])
def test_classification_follows_the_published_rule(offset_lr_scale):
    model, groups = build(offset_lr_scale, scope='mmpretrain')
    assert set(groups) == {n for n, p in model.named_parameters()}
    for name, param in model.named_parameters():
        lr, wd = groups[name]
        assert lr == pytest.approx(published_classification_lr(name, DEPTHS, 0.5, offset_lr_scale)), name
        assert wd == (0.0 if param.ndim == 1 or name.endswith('.bias') else 0.05), name
    # A few by hand: the last block shares the head's lr, the DCNv3 mask is not scaled, the stem is the first block.
    assert groups['backbone.levels.3.blocks.0.mlp.fc2.weight'][0] == groups['neck.weight'][0] == 1.0
    assert groups['backbone.levels.0.blocks.0.dcn.mask.weight'][0] == pytest.approx(0.5 ** 4)
    assert groups['backbone.levels.0.blocks.0.dcn.offset.weight'][0] == pytest.approx(0.5 ** 4 * offset_lr_scale)
    assert groups['backbone.patch_embed.conv1.weight'][0] == pytest.approx(0.5 ** 4)
    assert groups['backbone.levels.0.downsample.conv.weight'][0] == pytest.approx(0.5 ** 3)


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
@pytest.mark.parametrize('offset_lr_scale', [1.0, 0.1])
def test_lr_and_weight_decay_per_parameter(offset_lr_scale, scope):
    model, groups = build(offset_lr_scale, scope=scope)
    names = {n for n, p in model.named_parameters()}
    assert set(groups) == names  # every trainable parameter is in exactly one group
    # num_layers 5 + 2 = 7 layer ids; lr = 0.5 ** (6 - id).
    expected = {
        'backbone.patch_embed.conv1.weight': (0.5 ** 6, 0.05),
        'backbone.patch_embed.conv1.bias': (0.5 ** 6, 0.0),
        'backbone.levels.0.blocks.0.gamma1': (0.5 ** 5, 0.0),
        'backbone.levels.0.blocks.0.norm1.0.weight': (0.5 ** 5, 0.0),
        'backbone.levels.0.blocks.0.mlp.fc1.weight': (0.5 ** 5, 0.05),
        'backbone.levels.0.blocks.0.dcn.offset.weight': (0.5 ** 5, 0.05),
        'backbone.levels.0.blocks.0.dcn.mask.bias': (0.5 ** 5, 0.0),
        'backbone.levels.0.blocks.0.dcn.input_proj.weight': (0.5 ** 5, 0.05),
        'backbone.levels.0.downsample.conv.weight': (0.5 ** 4, 0.05),
        'backbone.levels.2.blocks.1.dcn.output_proj.weight': (0.5 ** 2, 0.05),
        'backbone.levels.3.blocks.0.mlp.fc2.weight': (0.5 ** 1, 0.05),
        'neck.weight': (1.0, 0.05),
        'neck.bias': (1.0, 0.0),
        # Detection: deformable attention's sampling offsets scaled and without weight decay, DINO's level
        # embedding at layer 0. Segmentation: the offset scale only inside the backbone, Mask2Former's
        # embeddings at layer 0.
        'encoder.sampling_offsets.weight': {'mmdet': (offset_lr_scale, 0.0), 'mmseg': (1.0, 0.0)}[scope],
        'level_embed': {'mmdet': (0.5 ** 6, 0.05), 'mmseg': (1.0, 0.05)}[scope],
        'decode_head.query_embed.weight': {'mmdet': (1.0, 0.05), 'mmseg': (0.5 ** 6, 0.05)}[scope],
    }
    for name, (lr, wd) in expected.items():
        assert groups[name][0] == pytest.approx(lr), name
        assert groups[name][1] == wd, name


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_flash_offsets_follow_the_published_rule(scope):
    """FlashInternImage (DCNv4): the fused offset / mask projection takes offset_lr_scale in every task; the
    depthwise convolution before it only in classification (its rule: 'offset' anywhere in the name)."""
    _, groups = build(0.1, scope=scope, backbone=FlashInternImage)
    block = 0.5 ** 4 if scope == 'mmpretrain' else 0.5 ** 5  # levels.0.blocks.0
    for name in ('offset_mask.weight', 'offset_mask.bias'):
        assert groups[f'backbone.levels.0.blocks.0.dcn.{name}'][0] == pytest.approx(block * 0.1), name
    dw_scale = 0.1 if scope == 'mmpretrain' else 1.0
    assert groups['backbone.levels.0.blocks.0.dcn.offset_mask_dw.weight'][0] == pytest.approx(block * dw_scale)
    assert groups['backbone.levels.0.blocks.0.dcn.value_proj.weight'][0] == pytest.approx(block)


def test_missing_setting_is_named():
    cfg = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1.0),
               constructor='CustomLayerDecayOptimizerConstructor', paramwise_cfg=dict(num_layers=5))
    with pytest.raises(KeyError, match='layer_decay_rate'), DefaultScope.overwrite_default_scope('mmdet'):
        build_optim_wrapper(Detector(), cfg)
