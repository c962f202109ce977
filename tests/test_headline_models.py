"""The headline models (CB-InternImage-H DINO, DINO-H/G on Objects365, UperNet-G, Mask2Former-H ms).

CB-InternImage-H DINO computes the published outputs (bundle ``cbdino_h_reduced``) from a checkpoint in
the published layout loaded by ``init_detector``, and trains one step, both backbones learning; the
multi-scale / flip test path (``tools/test.py --tta``) of the Mask2Former-H ms and CB-InternImage-H DINO
configs runs end to end on generated data. Their published layouts and parameter counts are checked in
test_published_models.py, their settings in test_published_configs.py (all configs of published names).
"""
import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmdet_custom  # noqa: F401
import mmseg_custom  # noqa: F401
from published_outputs import BUNDLES, load_bundle, published_weights
from test_published_models import FP32_TOL, FP64_TOL, compare, dino_outputs, load_log  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools/misc'))
from make_shapes_dataset import CLASSES, SEMANTIC_CLASSES, make_dataset  # noqa: E402

CB_DINO = ROOT / 'configs' / 'coco' / 'dino_4scale_cbinternimage_h_objects365_coco_ss.py'
MASK2FORMER_MS = ROOT / 'configs' / 'ade20k' / 'mask2former_internimage_h_896_80k_cocostuff2ade20k_ms.py'


def reduced_cb_dino(cfg):
    """The bundle's CB-InternImage-H DINO: the H backbone flags, smaller sizes (published_outputs/README.md;
    its config also asks for 100 denoising queries, where the published one asks for 1000)."""
    cfg.model.backbone.update(channels=64, depths=[2, 2, 6, 2], groups=[4, 8, 16, 32],
                              level2_post_norm_block_ids=[1, 3, 5], with_cp=False, init_cfg=None)
    cfg.model.neck.in_channels = [128, 256, 512]
    cfg.model.dn_cfg.group_cfg.num_dn_queries = 100
    return cfg


def build(cfg, scope):
    from mmengine.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def test_cb_dino_computes_the_published_outputs(tmp_path, load_log):  # noqa: F811
    from mmdet.apis import init_detector
    bundle = load_bundle('cbdino_h_reduced')
    cfg = reduced_cb_dino(Config.fromfile(str(CB_DINO)))
    checkpoint = tmp_path / 'cbdino_h_reduced.pth'
    torch.save(published_weights(BUNDLES / bundle['layout_file'], bundle['seed']), checkpoint)
    model = init_detector(cfg, str(checkpoint), device='cpu')
    entries = bundle['n_state_dict_entries']
    assert any(f'loaded {entries}/{entries} tensors; missing: none; unexpected: none; shape mismatch: none' in line
               for line in load_log), load_log
    stride, metas = bundle['feature_channel_stride'], [dict(meta) for meta in bundle['img_metas']]
    with torch.no_grad():
        img = bundle['img']
        # float32: both sub-backbones' features (the assistant's, then the lead's) and the neck's on the
        # lead's (what extract_feat gives, without running the backbone twice)
        assistant, lead = model.backbone(img)
        ours = dict(backbone_feats=[f[:, ::stride] for f in (*assistant, *lead)],
                    neck_feats=[f[:, ::stride] for f in model.neck(lead)])
        published_backbone_feats = [f for feats in bundle['fp32']['backbone_feats'] for f in feats]
        reference = dict(bundle['fp32'], backbone_feats=published_backbone_feats)
        compare(ours, reference, FP32_TOL)
        # float64: the detector's outputs (top-k query selection, boxes, labels)
        model.double()
        compare(dino_outputs(model, img.double(), metas), bundle['fp64'], FP64_TOL)


def one_image_batch(size):
    """The published batch (one image per GPU), with two boxes."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    image = torch.randint(0, 255, (3, *size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    sample = DetDataSample(metainfo=dict(img_id=0, img_shape=size, ori_shape=size, scale_factor=(1.0, 1.0)))
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[10., 12., 60., 70.], [30., 20., 120., 150.]]),
                                       labels=torch.tensor([0, 2]))
    return dict(inputs=[image], data_samples=[sample])


def test_cb_dino_trains_one_step():
    """Both sub-backbones, the composition and the gammas get gradients (the assistant's features go
    through the head too, as published), the losses are finite, and one optimizer step runs."""
    from mmengine.optim import build_optim_wrapper
    cfg = reduced_cb_dino(Config.fromfile(str(CB_DINO)))
    model = build(cfg, 'mmdet')
    with DefaultScope.overwrite_default_scope('mmdet'):
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    data = model.data_preprocessor(one_image_batch((192, 256)), True)
    losses = model(**data, mode='loss')
    assert {'loss_cls0_w0.5', 'loss_cls1', 'enc_loss_iou0_w0.5', 'dn_loss_bbox1', 'd4.loss_iou1'} <= set(losses)
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    optim_wrapper.backward(loss)
    backbone = model.backbone
    assistant, lead = backbone.cb_modules
    for name, param in (('assistant stem', assistant.patch_embed.conv1.weight),
                        ('assistant', assistant.levels[0].blocks[0].mlp.fc1.weight),
                        ('lead', lead.levels[0].blocks[0].mlp.fc1.weight), ('gamma', lead.gamma0)):
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    before = lead.gamma2.detach().clone()
    optim_wrapper.step()
    assert not torch.equal(before, lead.gamma2)

    # The two copies' losses, on identical features: the assistant's are half the lead's.
    with torch.no_grad():
        lead = model.extract_feat(data['inputs'])
        head_inputs = model.forward_transformer([torch.cat([f, f]) for f in lead], data['data_samples'] * 2)
        losses = model.bbox_head.loss(**head_inputs, batch_data_samples=data['data_samples'])
    for key in ('loss_cls', 'loss_bbox', 'enc_loss_cls', 'd2.loss_iou'):
        torch.testing.assert_close(losses[f'{key}0_w0.5'], 0.5 * losses[f'{key}1'])


# ----------------------------------------------------------------------------------- tools/test.py --tta
@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp('shapes'), train=1, val=2, size=96, seed=2)


def small_mask2former_ms(cfg, data):
    """The Mask2Former-H ms config with a tiny backbone and head, the published augmentations at 1/7 of
    the published scale, on the generated ADE-style data."""
    cfg.model.backbone.update(channels=16, depths=[1, 1, 2, 1], groups=[1, 2, 4, 8], level2_post_norm_block_ids=[1])
    head = cfg.model.decode_head
    num_classes = len(SEMANTIC_CLASSES)
    head.update(in_channels=[16, 32, 64, 128], feat_channels=64, out_channels=64, num_queries=10,
                num_classes=num_classes)
    head.loss_cls.class_weight = [1.0] * num_classes + [0.1]
    for layer in (head.pixel_decoder.encoder.layer_cfg, head.transformer_decoder.layer_cfg):
        for attention in ('self_attn_cfg', 'cross_attn_cfg'):
            if attention in layer:
                layer[attention].update(embed_dims=64, num_heads=4)
        layer.ffn_cfg.update(embed_dims=64, feedforward_channels=128)
    head.pixel_decoder.positional_encoding.num_feats = head.positional_encoding.num_feats = 32
    resize, _, flips, _, check, pack = cfg.tta_pipeline[1].transforms
    assert [t.type for t in resize] == ['Resize'] * 5 and len(flips) == 2
    for t in resize:
        t.scale = tuple(side // 7 for side in t.scale)
    check[0].num_classes = num_classes
    cfg.test_dataloader = dict(
        batch_size=2, num_workers=0, persistent_workers=False, sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='BaseSegDataset', data_root=str(data / 'ade'), img_suffix='.jpg', seg_map_suffix='.png',
                     reduce_zero_label=True, metainfo=dict(classes=SEMANTIC_CLASSES),
                     data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
                     pipeline=cfg.test_pipeline))
    return 'mmseg', 'SegTTAModel', 'mIoU'


def small_cb_dino(cfg, data):
    """The CB-InternImage-H DINO config reduced as in the bundle, 100 queries, our augmentations at 1/8
    of their scale, on the generated COCO-format data."""
    reduced_cb_dino(cfg)
    cfg.model.update(num_queries=100, test_cfg=dict(max_per_img=100))
    cfg.model.bbox_head.num_classes = len(CLASSES)
    cfg.tta_model.tta_cfg.max_per_img = 100
    resize, flips, _, _ = cfg.tta_pipeline[1].transforms
    assert [t.type for t in resize] == ['Resize'] * 3 and len(flips) == 2
    for t in resize:
        t.scale = tuple(side // 8 for side in t.scale)
    annotations = str(data / 'coco' / 'annotations' / 'instances_val.json')
    cfg.test_dataloader = dict(
        batch_size=2, num_workers=0, persistent_workers=False, sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='CocoDataset', data_root=str(data / 'coco'), ann_file=annotations,
                     data_prefix=dict(img='val/'), metainfo=dict(classes=CLASSES), pipeline=cfg.test_pipeline))
    cfg.test_evaluator = dict(type='CocoMetric', ann_file=annotations, metric='bbox')
    return 'mmdet', 'DetTTAModel', 'coco/bbox_mAP'


@pytest.mark.parametrize('config,shrink', [(MASK2FORMER_MS, small_mask2former_ms), (CB_DINO, small_cb_dino)],
                         ids=['mask2former_h_ms', 'cbdino_h'])
def test_multiscale_flip_testing_end_to_end(config, shrink, shapes, tmp_path):
    cfg = Config.fromfile(str(config))
    scope, tta_model, metric = shrink(cfg, shapes)
    cfg.model.backbone.init_cfg = None
    small = tmp_path / 'small.py'
    cfg.dump(str(small))
    checkpoint = tmp_path / 'small.pth'
    torch.save({'state_dict': build(copy.deepcopy(cfg), scope).state_dict(), 'meta': {}}, checkpoint)
    result = subprocess.run([sys.executable, 'tools/test.py', str(small), str(checkpoint), '--tta', '--work-dir',
                             str(tmp_path / 'work')], cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED='1'))
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert f"type='{tta_model}'" in log and metric in log, log[-4000:]
    assert 'loaded' in log and 'missing: none; unexpected: none; shape mismatch: none' in log, log[-4000:]
