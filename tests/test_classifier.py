"""Published classification checkpoints load strictly through mmpretrain's init_model."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from published import KEYS_DIR, published_checkpoint

CONFIGS = Path(__file__).resolve().parents[1] / 'configs' / 'imagenet'


def test_published_t_checkpoint_loads_strictly_through_init_model(tmp_path):
    from mmengine.runner import load_checkpoint
    from mmpretrain.apis import init_model
    state = published_checkpoint('t', tmp_path / 'internimage_t_1k_224.pth')
    model = init_model(str(CONFIGS / 'internimage_t_1k_224.py'), device='cpu')
    # strict=True raises on any missing or unexpected key.
    load_checkpoint(model, str(tmp_path / 'internimage_t_1k_224.pth'), map_location='cpu', strict=True)
    ours = model.state_dict()
    for key, value in state.items():
        target = ('backbone.' if key.startswith(('patch_embed.', 'levels.')) else 'head.') + key
        assert torch.equal(ours[target], value), key
    # and init_model with the checkpoint reports nothing missing
    model = init_model(str(CONFIGS / 'internimage_t_1k_224.py'), str(tmp_path / 'internimage_t_1k_224.pth'),
                       device='cpu')
    assert torch.equal(model.state_dict()['head.head.weight'], state['head.weight'])


def test_reduced_h_style_classifier_loads_published_layout_strictly(tmp_path):
    """The H config (clip-projector head, centre feature scale, res-post-norm) at a small size."""
    from mmengine.runner import load_checkpoint
    from mmpretrain.apis import init_model
    config = tmp_path / 'h_small.py'
    config.write_text(
        f"_base_ = ['{CONFIGS / 'internimage_h_22kto1k_640.py'}']\n"
        "model = dict(backbone=dict(channels=32, depths=[1, 1, 3, 1], groups=[2, 4, 8, 16],\n"
        "                           level2_post_norm_block_ids=[1], with_cp=False),\n"
        "             head=dict(in_channels=256, num_classes=10, clip_embed_dim=64, attn_pool_num_heads=4,\n"
        "                       out_dim=48))\n")
    source = init_model(str(config), device='cpu')
    published = {k.split('.', 1)[1]: v for k, v in source.state_dict().items()}  # drop backbone./head.
    assert 'clip_projector.cross_dcn.q_bias' in published and 'dcnv3_head_x4.0.weight' in published
    assert 'levels.2.blocks.0.dcn.center_feature_scale_proj_weight' in published
    assert 'levels.2.blocks.0.res_post_norm1.0.weight' in published and 'levels.2.post_norms.0.0.weight' in published
    torch.save({'model': published}, tmp_path / 'h_style.pth')
    model = init_model(str(config), device='cpu')
    load_checkpoint(model, str(tmp_path / 'h_style.pth'), map_location='cpu', strict=True)
    model = init_model(str(config), str(tmp_path / 'h_style.pth'), device='cpu')
    model.eval()
    source.eval()
    x = torch.randn(2, 3, 64, 64)
    logits = model(x, mode='tensor')
    assert logits.shape == (2, 10)
    torch.testing.assert_close(logits, source(x, mode='tensor'))


def test_own_checkpoint_reloads_strictly(tmp_path):
    import mmcls_custom  # noqa: F401
    from mmengine.runner import load_checkpoint, save_checkpoint
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(str(CONFIGS / 'internimage_t_1k_224.py')).model
    cfg.backbone.update(channels=16, depths=[1, 1, 1, 1], groups=[1, 2, 4, 8])
    cfg.head.in_channels = 128
    model = MODELS.build(cfg)
    save_checkpoint(model.state_dict(), str(tmp_path / 'own.pth'))
    other = MODELS.build(cfg)
    load_checkpoint(other, str(tmp_path / 'own.pth'), strict=True)
    for key, value in model.state_dict().items():
        assert torch.equal(other.state_dict()[key], value)


@pytest.mark.parametrize('name', ['t', 's', 'b', 'l', 'xl', 'h', 'g'])
def test_every_config_builds_with_published_size(name):
    import mmcls_custom  # noqa: F401
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    measured = {'t': 29.92, 's': 50.08, 'b': 97.46, 'l': 223.33, 'xl': 334.82, 'h': 1089.64, 'g': 3076.37}
    config = next(CONFIGS.glob(f'internimage_{name}_*.py'))
    cfg = Config.fromfile(str(config))
    with DefaultScope.overwrite_default_scope('mmpretrain'), torch.device('meta'):
        model = MODELS.build(cfg.model)
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == measured[name]


def test_feature_extraction_gives_four_stages():
    """The documented recipe (docs/en/user_guides/train_test.md): mmpretrain's FeatureExtractor with
    out_indices (0, 1, 2, 3)."""
    import numpy as np
    from mmpretrain.apis import FeatureExtractor
    cfg = Config.fromfile(str(CONFIGS / 'internimage_t_1k_224.py'))
    cfg.model.backbone.out_indices = (0, 1, 2, 3)
    extractor = FeatureExtractor(cfg, device='cpu')
    image = (np.random.default_rng(0).random((240, 320, 3)) * 255).astype(np.uint8)
    feats = extractor(image, stage='backbone')[0]
    assert [tuple(f.shape) for f in feats] == [(64, 56, 56), (128, 28, 28), (256, 14, 14), (512, 7, 7)]


FLASH_KEYS = KEYS_DIR / 'flash'


@pytest.mark.parametrize('name', ['flash_intern_image_t_1k_224', 'flash_intern_image_s_1k_224',
                                  'flash_intern_image_b_1k_224', 'flash_intern_image_l_22kto1k_384'])
def test_flash_published_layout_loads_strictly_with_published_size(name):
    """The published FlashInternImage classifiers' state dicts (no prefix, as in their checkpoints) load
    strictly into our config of the same name, with the published parameter count."""
    import warnings

    import mmcls_custom  # noqa: F401
    from mmengine.registry import DefaultScope
    from mmengine.runner.checkpoint import load_state_dict
    from mmpretrain.registry import MODELS
    from published_outputs import read_layout
    params = {line.split('\t')[0]: int(line.split('\t')[1])
              for line in (FLASH_KEYS / 'params.tsv').read_text().splitlines()[1:]}
    with DefaultScope.overwrite_default_scope('mmpretrain'), torch.device('meta'):
        model = MODELS.build(Config.fromfile(str(CONFIGS / f'{name}.py')).model)
    assert sum(p.numel() for p in model.parameters()) == params[name]
    layout = read_layout(FLASH_KEYS / f'{name}.txt')
    state = {key: torch.zeros(()).expand(shape) for key, shape in layout}
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='.*copying from a non-meta parameter')
        load_state_dict(model, state, strict=True)  # raises on any missing, unexpected or mis-shaped key
    assert len(model.state_dict()) == len(layout)
