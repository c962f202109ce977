"""Detection configs (configs/coco): they build, train and test one step each, have the
published sizes, and run end to end through tools/train.py and tools/test.py."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmdet_custom  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / 'configs' / 'coco').glob('*.py'))
# The Objects365 headline models (1.1B-3.1B parameters) build on the meta device in test_published_models.py
# and train (CB-InternImage-H, reduced) in test_headline_models.py.
CONFIGS = [c for c in CONFIGS if 'objects365' not in c.name]
# FlashInternImage's configs build on the meta device with the published counts to the unit
# (test_published_models.py); its structure trains in the demo config (test_tools_e2e.py).
CONFIGS = [c for c in CONFIGS if 'flash' not in c.name]
# Published sizes (tests/data/published/MODELS.md; DINO: the published layouts' counts,
# tests/data/published/checkpoint_keys/det_seg/params.tsv).
PUBLISHED_M = {'mask_rcnn_internimage_t': 49, 'mask_rcnn_internimage_s': 69, 'mask_rcnn_internimage_b': 115,
               'cascade_internimage_l': 277, 'cascade_internimage_xl': 387, 'dino_4scale_internimage_t': 48.74,
               'dino_4scale_internimage_l': 241.03}
# One config per distinct model (the 3x configs differ from 1x in data and schedule only, the DINO-L
# 0.1x-backbone-lr config from the layer-wise one in its optimizer only).
STEP_CONFIGS = [c for c in CONFIGS if '_1x_' in c.name and '0.1x_backbone_lr' not in c.name]


def build(config, init=False):
    """The config's model; with ``init``, initialised as for training (the backbone from scratch:
    the published weights are a download away), and, for two-stage detectors, with fewer proposals
    and sampled RoIs (the published Cascade box heads convolve every RoI: 3 stages x 512 RoIs x 4 convs
    would take minutes on CPU)."""
    from mmdet.registry import MODELS
    cfg = Config.fromfile(str(config))
    if init:
        cfg.model.backbone.init_cfg = None
        if 'rpn_proposal' in cfg.model.train_cfg:
            cfg.model.train_cfg.rpn_proposal.max_per_img = 64
            cfg.model.test_cfg.rpn.max_per_img = 64
            rcnn = cfg.model.train_cfg.rcnn
            for stage in (rcnn if isinstance(rcnn, list) else [rcnn]):
                stage.sampler.num = 32
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
        if init:
            model.init_weights()
    return cfg, model


def det_batch(size=(96, 128)):
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    gen = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for i in range(2):
        inputs.append(torch.randint(0, 255, (3, *size), dtype=torch.uint8, generator=gen))
        sample = DetDataSample(metainfo=dict(img_id=i, img_shape=size, ori_shape=size, scale_factor=(1.0, 1.0)))
        boxes = torch.tensor([[10., 12., 60., 70.], [30., 20., 90., 80.]])
        masks = np.zeros((2, *size), np.uint8)
        for k, (x0, y0, x1, y1) in enumerate(boxes.int().tolist()):
            masks[k, y0:y1, x0:x1] = 1
        sample.gt_instances = InstanceData(bboxes=boxes, labels=torch.tensor([0, 2]),
                                           masks=BitmapMasks(masks, *size))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('config', CONFIGS, ids=lambda c: c.stem)
def test_config_builds(config):
    cfg, model = build(config)
    name = config.stem.rsplit('_fpn', 1)[0].rsplit('_1x', 1)[0]
    params = sum(p.numel() for p in model.parameters()) / 1e6
    if name in PUBLISHED_M:
        assert abs(params - PUBLISHED_M[name]) / PUBLISHED_M[name] < 0.02, params
    assert cfg.model.backbone.type == 'InternImage'
    if '0.1x_backbone_lr' in config.name:
        assert cfg.optim_wrapper.paramwise_cfg.custom_keys.backbone.lr_mult == 0.1
    else:
        assert cfg.optim_wrapper.constructor == 'CustomLayerDecayOptimizerConstructor'
    assert cfg.model.backbone.init_cfg.checkpoint.endswith('.pth')


@pytest.mark.parametrize('config', STEP_CONFIGS, ids=lambda c: c.stem)
def test_one_train_step_and_one_test_step(config):
    from mmengine.optim import build_optim_wrapper
    cfg, model = build(config, init=True)
    with DefaultScope.overwrite_default_scope('mmdet'):
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    # DINO selects 900 queries among the encoder's tokens: it needs an input of >= 900 tokens.
    size = (256, 256) if 'DINO' in cfg.model.type else (96, 128)
    before = model.backbone.levels[1].blocks[0].mlp.fc1.weight.detach().clone()
    losses = model.train_step(det_batch(size), optim_wrapper)
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert not torch.equal(before, model.backbone.levels[1].blocks[0].mlp.fc1.weight)
    model.eval()
    with torch.no_grad():
        results = model.test_step(det_batch(size))
    assert len(results) == 2 and all('pred_instances' in r for r in results)
    if 'DINO' in cfg.model.type:
        assert len(results[0].pred_instances) == cfg.model.test_cfg.max_per_img


def test_3x_configs_use_the_multiscale_crop_augmentation():
    cfg = Config.fromfile(str(ROOT / 'configs/coco/mask_rcnn_internimage_t_fpn_3x_coco.py'))
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert [t['type'] for t in pipeline][2:4] == ['RandomFlip', 'RandomChoice']
    assert cfg.train_cfg.max_epochs == 36 and cfg.param_scheduler[1].milestones == [27, 33]


def test_fpn_vitdet_normalises_each_convolution_over_channels():
    """FPN_vitdet (FlashInternImage's Mask R-CNN / Cascade neck): lateral and output convolutions without
    bias, each followed by a LayerNorm over the channels; top-down sums; max-pooled extra level."""
    import torch.nn.functional as F

    from mmdet_custom.fpn_vitdet import FPN_vitdet
    torch.manual_seed(0)
    neck = FPN_vitdet(in_channels=[4, 8], out_channels=6, num_outs=3, norm_cfg=dict(type='LN', requires_grad=True))
    for module in neck.modules():
        if isinstance(module, torch.nn.LayerNorm):
            torch.nn.init.normal_(module.weight)
            torch.nn.init.normal_(module.bias)
    feats = [torch.randn(2, 4, 8, 10), torch.randn(2, 8, 4, 5)]

    def conv_ln(block, x, padding):
        assert block.conv.bias is None
        y = F.conv2d(x, block.conv.weight, padding=padding).permute(0, 2, 3, 1)
        return F.layer_norm(y, (6,), block.ln.weight, block.ln.bias, eps=1e-5).permute(0, 3, 1, 2)

    laterals = [conv_ln(block, x, 0) for block, x in zip(neck.lateral_convs, feats)]
    laterals[0] = laterals[0] + F.interpolate(laterals[1], size=(8, 10), mode='nearest')
    expected = [conv_ln(block, x, 1) for block, x in zip(neck.fpn_convs, laterals)]
    expected.append(F.max_pool2d(expected[-1], 1, stride=2))
    for ours, theirs in zip(neck(feats), expected, strict=True):
        torch.testing.assert_close(ours, theirs)
    with pytest.raises(ValueError, match='use_residual=False'):
        FPN_vitdet(in_channels=[4, 8], out_channels=6, num_outs=3, use_residual=False)


def test_dino_trains_and_tests_in_bfloat16():
    """DINO-T (the op package's deformable attention in its encoder and decoder) under --amp on a CPU: one step
    through BFloat16OptimWrapper (forward in bfloat16, float32 weights and gradients) and one test step under
    MixedPrecisionTestLoop's autocast, its boxes handed over in float32."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.runner.amp import autocast
    from internimage.engine.mixed_precision import BFloat16OptimWrapper
    from internimage.models.float32 import float32
    config = ROOT / 'configs' / 'coco' / 'dino_4scale_internimage_t_1x_coco_layer_wise_lr.py'
    cfg, model = build(config, init=True)
    cfg.optim_wrapper.type = 'BFloat16OptimWrapper'
    with DefaultScope.overwrite_default_scope('mmdet'):
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert isinstance(optim_wrapper, BFloat16OptimWrapper)
    seen = set()
    hook = model.backbone.levels[1].blocks[0].mlp.register_forward_hook(
        lambda module, args, out: seen.add(out.dtype))
    model.train()
    before = model.backbone.levels[1].blocks[0].mlp.fc1.weight.detach().clone()
    losses = model.train_step(det_batch((256, 256)), optim_wrapper)
    hook.remove()
    assert seen == {torch.bfloat16}
    assert all(torch.isfinite(v).all() for v in losses.values())
    weight = model.backbone.levels[1].blocks[0].mlp.fc1.weight
    assert weight.dtype == torch.float32 and not torch.equal(before, weight)
    model.eval()
    with torch.no_grad(), autocast(dtype=torch.bfloat16):
        results = float32(model.test_step(det_batch((256, 256))))
    boxes = results[0].pred_instances.bboxes
    assert boxes.dtype == torch.float32 and len(boxes) == cfg.model.test_cfg.max_per_img
    assert torch.isfinite(boxes).all()
