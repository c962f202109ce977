"""Published classification checkpoints load strictly through mmpretrain's init_model."""
import ast
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

KEYS_DIR = Path(__file__).resolve().parents[2] / 'shared' / 'reference' / 'checkpoint_keys'
CONFIGS = Path(__file__).resolve().parents[1] / 'configs' / 'imagenet'


def published_checkpoint(name, path):
    """A checkpoint in the published layout, with random weights of the published shapes."""
    gen = torch.Generator().manual_seed(0)
    state = {}
    for line in (KEYS_DIR / f'internimage_{name}_cls_keys.txt').read_text().splitlines():
        key, shape = line.split('\t')
        shape = ast.literal_eval(shape)
        if key.endswith('num_batches_tracked'):
            state[key] = torch.tensor(7)
        elif key.endswith('running_var'):
            state[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            state[key] = torch.randn(shape, generator=gen) * 0.02
    torch.save({'model': state, 'epoch': 299, 'max_accuracy': 83.5}, path)
    return state



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
    """An H-style model (clip-projector head, centre feature scale, res-post-norm) at a small size."""
    import mmcls_custom  # noqa: F401
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS
    cfg = dict(
        type='InternImageClassifier',
        backbone=dict(type='InternImage', channels=32, depths=[1, 1, 3, 1], groups=[2, 4, 8, 16],
                      dw_kernel_size=5, res_post_norm=True, level2_post_norm=True,
                      level2_post_norm_block_ids=[1], center_feature_scale=True, out_indices=(2, 3)),
        head=dict(type='InternImageClipHead', in_channels=256, num_classes=10, clip_embed_dim=64,
                  attn_pool_num_heads=4, out_dim=48))
    source = MODELS.build(cfg)
    published = {k.split('.', 1)[1]: v for k, v in source.state_dict().items()}  # drop backbone./head.
    assert 'clip_projector.cross_dcn.q_bias' in published and 'dcnv3_head_x4.0.weight' in published
    torch.save({'model': published}, tmp_path / 'h_style.pth')
    model = MODELS.build(cfg)
    load_checkpoint(model, str(tmp_path / 'h_style.pth'), map_location='cpu', strict=True)
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
