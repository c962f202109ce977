"""Without a checkpoint, InternImage initialises as the published backbone does, through mmengine's
init_weights(): Linear weights truncated-normal (std 0.02, cut at +-2, i.e. a plain normal at this std)
with zero biases, LayerNorms 1 / 0, then each DCNv3 layer's own reset (zero offset and mask
projections, xavier-uniform input and output projections with zero biases)."""
import math
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from torch import nn

import mmdet_custom  # noqa: F401
from internimage import InternImage
from ops_dcnv3.modules import DCNv3

SMALL = dict(channels=32, depths=[1, 1, 2, 1], groups=[2, 4, 8, 16], layer_scale=1.0, init_cfg=None)


def check_published_init(backbone):
    dcn_layers = [m for m in backbone.modules() if isinstance(m, DCNv3)]
    dcn_projections = {id(layer) for dcn in dcn_layers
                       for layer in (dcn.offset, dcn.mask, dcn.input_proj, dcn.output_proj)}
    others = [m for m in backbone.modules() if isinstance(m, nn.Linear) and id(m) not in dcn_projections]
    weights = torch.cat([m.weight.detach().flatten() for m in others])
    assert abs(weights.std().item() - 0.02) < 0.02 * 0.03, weights.std()  # PyTorch's default: ~0.07 here
    assert abs(weights.mean().item()) < 0.02 * 0.02
    beyond_two_sigma = (weights.abs() > 0.04).double().mean().item()
    assert 0.040 < beyond_two_sigma < 0.051  # a normal distribution's 4.6%: no truncation at 2 sigma
    assert all(torch.all(m.bias == 0) for m in others)
    norms = [m for m in backbone.modules() if isinstance(m, nn.LayerNorm)]
    assert norms and all(torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in norms)
    for dcn in dcn_layers:
        for layer in (dcn.offset, dcn.mask):
            assert torch.all(layer.weight == 0) and torch.all(layer.bias == 0)
        for layer in (dcn.input_proj, dcn.output_proj):
            fan_out, fan_in = layer.weight.shape
            bound = math.sqrt(6 / (fan_in + fan_out))
            assert layer.weight.abs().max() <= bound and layer.weight.std() > 0.9 * bound / math.sqrt(3)
            assert torch.all(layer.bias == 0)


def test_backbone_init_weights_follows_the_published_rule():
    backbone = InternImage(**SMALL)
    backbone.init_weights()
    check_published_init(backbone)


def test_detector_init_weights_initialises_the_backbone_as_published():
    from mmdet.registry import MODELS
    cfg = Config.fromfile(str(Path(__file__).resolve().parents[1] / 'configs/coco/mask_rcnn_internimage_t_fpn_1x_coco.py'))
    cfg.model.backbone.update(SMALL)
    cfg.model.neck.in_channels = [32, 64, 128, 256]
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()  # mmengine's recursive initialisation, as the Runner calls it
    check_published_init(model.backbone)
