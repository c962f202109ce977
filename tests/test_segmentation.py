"""Segmentation configs (configs/ade20k): they build with the published sizes, UPerNet-T and a
Mask2Former with a reduced backbone train and test one step, and bad label maps are named."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image

import mmseg_custom  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
# (FlashInternImage's build on the meta device with the published counts to the unit in test_published_models.py)
CONFIGS = sorted(c for c in (ROOT / 'configs' / 'ade20k').glob('*.py') if 'flash' not in c.name)
PUBLISHED_M = {'upernet_internimage_t': 59, 'upernet_internimage_s': 80, 'upernet_internimage_b': 128,
               'upernet_internimage_l': 256, 'upernet_internimage_xl': 368, 'upernet_internimage_h': 1120,
               'mask2former_internimage_h': 1310, 'upernet_internimage_g': 3112.68}  # G: params.tsv (none published)
REDUCED_BACKBONE = dict(channels=16, depths=[1, 1, 2, 1], groups=[1, 2, 4, 8], init_cfg=None)


def build(cfg, meta=False):
    from mmseg.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmseg'):
        if meta:
            with torch.device('meta'):
                return MODELS.build(cfg.model)
        model = MODELS.build(cfg.model)
        model.init_weights()
        return model


@pytest.mark.parametrize('config', CONFIGS, ids=lambda c: c.stem)
def test_config_builds_with_published_size(config):
    cfg = Config.fromfile(str(config))
    model = build(cfg, meta=True)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    published = PUBLISHED_M['_'.join(config.stem.split('_')[:3])]
    assert abs(params - published) / published < 0.02, params
    assert cfg.optim_wrapper.constructor == 'CustomLayerDecayOptimizerConstructor'
    assert 'CheckSegLabels' in [t['type'] for t in cfg.train_dataloader.dataset.pipeline]


def seg_batch(size, num_classes):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    gen = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(2):
        inputs.append(torch.randint(0, 255, (3, *size), dtype=torch.uint8, generator=gen))
        sample = SegDataSample(metainfo=dict(img_shape=size, ori_shape=size, pad_shape=size))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, *size), generator=gen))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('name,reduce', [('upernet_internimage_t_512_160k_ade20k', False),
                                         ('mask2former_internimage_h_896_80k_cocostuff2ade20k_ss', True)])
def test_one_train_step_and_one_test_step(name, reduce):
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(str(ROOT / 'configs' / 'ade20k' / f'{name}.py'))
    size = (64, 64)
    cfg.model.data_preprocessor.size = size
    cfg.model.backbone.init_cfg = None
    if reduce:
        cfg.model.backbone.update(REDUCED_BACKBONE, dw_kernel_size=5, level2_post_norm_block_ids=[1])
        cfg.model.decode_head.in_channels = [16, 32, 64, 128]
    model = build(cfg)
    with DefaultScope.overwrite_default_scope('mmseg'):
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    losses = model.train_step(seg_batch(size, 150), optim_wrapper)
    assert losses and all(torch.isfinite(v).all() for v in losses.values())
    model.eval()
    with torch.no_grad():
        results = model.test_step(seg_batch(size, 150))
    assert [tuple(r.pred_sem_seg.data.shape) for r in results] == [(1, *size)] * 2


def load(tmp_path, image_size, label_size, labels):
    from mmseg.datasets.transforms import LoadAnnotations
    from mmseg_custom.transforms import CheckSegLabels
    Image.fromarray(np.zeros((*image_size, 3), np.uint8)).save(tmp_path / 'a.jpg')
    Image.fromarray(np.full(label_size, labels, np.uint8)).save(tmp_path / 'a.png')
    results = dict(img_path=str(tmp_path / 'a.jpg'), seg_map_path=str(tmp_path / 'a.png'), ori_shape=image_size,
                   reduce_zero_label=True, seg_fields=[])
    return CheckSegLabels(num_classes=150)(LoadAnnotations(reduce_zero_label=True)(results))


def test_label_map_of_another_size_is_named(tmp_path):
    with pytest.raises(ValueError, match=r'a\.png: label map is 40x30 but its image .*a\.jpg is 48x32'):
        load(tmp_path, (32, 48), (30, 40), 3)


def test_labels_outside_the_classes_are_named(tmp_path):
    with pytest.raises(ValueError, match=r'a\.png: labels \[199\] are outside the 150 classes'):
        load(tmp_path, (32, 48), (32, 48), 200)  # 200 - 1 after reduce_zero_label


def test_valid_label_map_passes(tmp_path):
    results = load(tmp_path, (32, 48), (32, 48), 0)  # 0 becomes the ignore index
    assert (results['gt_seg_map'] == 255).all()


def test_raw_weights_deformable_attention():
    """CustomMultiScaleDeformableAttention: with use_softmax it is mmcv's attention; without, its output is
    linear in the attention-weight Linear (softmaxed weights are not); the _nsmx config's pixel decoder uses it."""
    from mmcv.ops import MultiScaleDeformableAttention

    from mmseg_custom.msda import CustomMultiScaleDeformableAttention
    torch.manual_seed(0)
    shapes = torch.tensor([[6, 8], [3, 4]])
    starts = torch.tensor([0, 48])
    query = torch.randn(2, 60, 32)
    points = torch.rand(2, 60, 2, 2)
    kwargs = dict(embed_dims=32, num_heads=4, num_levels=2, num_points=2, batch_first=True, dropout=0.0)
    stock = MultiScaleDeformableAttention(**kwargs)
    for module in stock.modules():
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=0.3)
            torch.nn.init.normal_(module.bias, std=0.3)
    args = dict(reference_points=points, spatial_shapes=shapes, level_start_index=starts)
    ours = CustomMultiScaleDeformableAttention(**kwargs)
    ours.load_state_dict(stock.state_dict())
    torch.testing.assert_close(ours(query, **args), stock(query, **args))
    raw = CustomMultiScaleDeformableAttention(**kwargs, use_softmax=False)
    raw.load_state_dict(stock.state_dict())
    bias = raw.output_proj.bias
    once = raw(query, **args) - query - bias
    with torch.no_grad():
        raw.attention_weights.weight.mul_(2)
        raw.attention_weights.bias.mul_(2)
    torch.testing.assert_close(raw(query, **args) - query - bias, 2 * once, rtol=1e-4, atol=1e-5)
    assert (once - (stock(query, **args) - query - bias)).abs().max() > 1e-2  # not the softmaxed output

    cfg = Config.fromfile(str(ROOT / 'configs/ade20k/mask2former_flash_internimage_s_640_160k_ade20k_ss_nsmx.py'))
    model = build(cfg, meta=True)
    attentions = [layer.self_attn for layer in model.decode_head.pixel_decoder.encoder.layers]
    assert len(attentions) == 6 and all(isinstance(a, CustomMultiScaleDeformableAttention) and not a.use_softmax
                                        for a in attentions)


def test_mask2former_trains_and_tests_in_bfloat16():
    """FlashInternImage-T Mask2Former (DCNv4 backbone, the op package's deformable attention in the pixel
    decoder) under --amp on a CPU: one step through BFloat16OptimWrapper, from the same weights, seed and
    batch as a float32 step: the backbone and pixel decoder run in bfloat16, the losses not float32's but
    within 2% of them (class losses 5%), the float32 weights updated; then a test step under autocast."""
    import copy
    from mmengine.optim import build_optim_wrapper
    from mmengine.runner.amp import autocast

    import internimage.engine.mixed_precision  # noqa: F401  (registers BFloat16OptimWrapper, as tools/train.py does)
    cfg = Config.fromfile(str(ROOT / 'configs' / 'ade20k' / 'mask2former_flash_internimage_t_512_160k_ade20k_ss.py'))
    size = (64, 64)
    cfg.model.data_preprocessor.size = size
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    models = {'float32': build(cfg)}
    models['bfloat16'] = copy.deepcopy(models['float32'])
    seen, losses = set(), {}
    for mode, model in models.items():
        wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
        wrapper_cfg.type = 'BFloat16OptimWrapper' if mode == 'bfloat16' else 'OptimWrapper'
        with DefaultScope.overwrite_default_scope('mmseg'):
            optim_wrapper = build_optim_wrapper(model, wrapper_cfg)
        hooks = [module.register_forward_hook(lambda module, args, out: seen.add((mode, out.dtype))) for module in
                 (model.backbone.levels[1].blocks[0].mlp, model.decode_head.pixel_decoder.encoder.layers[0].self_attn)]
        model.train()
        before = model.backbone.levels[1].blocks[0].mlp.fc1.weight.detach().clone()
        torch.manual_seed(1)  # Mask2Former's loss samples points at random
        losses[mode] = {k: v.item() for k, v in model.train_step(seg_batch(size, 150), optim_wrapper).items()}
        for hook in hooks:
            hook.remove()
    assert seen == {('float32', torch.float32), ('bfloat16', torch.bfloat16)}
    assert losses['bfloat16'].keys() == losses['float32'].keys() and losses['bfloat16'] != losses['float32']
    for key, value in losses['float32'].items():
        # The class losses (100 queries x 151 classes of bfloat16 logits) moved by up to 3.5%; the total
        # and the mask and dice losses by under 0.6%.
        rel = 0.05 if key.endswith('loss_cls') else 0.02
        assert losses['bfloat16'][key] == pytest.approx(value, rel=rel, abs=1e-3), key
    fc1 = model.backbone.levels[1].blocks[0].mlp.fc1.weight  # the bfloat16 step's model
    assert fc1.dtype == torch.float32 and not torch.equal(before, fc1)
    model.eval()
    with torch.no_grad(), autocast(dtype=torch.bfloat16):
        results = model.test_step(seg_batch(size, 150))
    assert [tuple(r.pred_sem_seg.data.shape) for r in results] == [(1, *size)] * 2
