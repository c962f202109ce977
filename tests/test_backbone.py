"""InternImage backbone: published sizes and keys, checkpoints, freezing, checkpointing."""
import ast
import copy
import logging

import pytest
import torch
from torch import nn

from internimage import InternImage
from internimage.models.arch_settings import ARCH_SETTINGS, CLIP_HEAD_VARIANTS, FLASH_ARCH_SETTINGS
from published import KEYS_DIR

# tests/data/published/MODELS.md, "Measured from the published architecture": (classifier, backbone) parameters.
MEASURED = {'t': (29.92, 28.75), 's': (50.08, 48.50), 'b': (97.46, 94.91), 'l': (223.33, 218.95),
            'xl': (334.82, 328.97), 'h': (1089.64, 1073.12), 'g': (3076.37, 3052.78)}
TINY = dict(channels=16, depths=[1, 1, 2, 1], groups=[1, 2, 4, 8])


def published_keys(name):
    keys = {}
    for line in (KEYS_DIR / f'internimage_{name}_cls_keys.txt').read_text().splitlines():
        key, shape = line.split('\t')
        keys[key] = tuple(ast.literal_eval(shape))
    return keys


def build_classifier_parts(name):
    import mmcls_custom  # noqa: F401
    from mmcls_custom.models import InternImageClipHead, InternImageClsHead
    with torch.device('meta'):
        backbone = InternImage(**ARCH_SETTINGS[name])
        head_type = InternImageClipHead if name in CLIP_HEAD_VARIANTS else InternImageClsHead
        head = head_type(in_channels=backbone.num_features, num_classes=1000)
    return backbone, head


@pytest.mark.parametrize('name', list(ARCH_SETTINGS))
def test_published_sizes_and_keys(name):
    backbone, head = build_classifier_parts(name)
    n_backbone = sum(p.numel() for p in backbone.parameters())
    n_total = n_backbone + sum(p.numel() for p in head.parameters())
    whole, backbone_only = MEASURED[name]
    assert round(n_backbone / 1e6, 2) == backbone_only
    assert round(n_total / 1e6, 2) == whole
    ours = {k: tuple(v.shape) for k, v in {**backbone.state_dict(), **head.state_dict()}.items()}
    assert ours == published_keys(name)


def test_defaults_are_internimage_t():
    default, t = InternImage(), InternImage(**ARCH_SETTINGS['t'])
    assert {k: v.shape for k, v in default.state_dict().items()} == {k: v.shape for k, v in t.state_dict().items()}


def shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize('name', list(ARCH_SETTINGS))
def test_arch_is_the_published_size(name):
    """``arch=`` builds the size's model: the same parameters as its explicit arguments."""
    with torch.device('meta'):
        assert shapes(InternImage(arch=name)) == shapes(InternImage(**ARCH_SETTINGS[name]))


@pytest.mark.parametrize('name', list(FLASH_ARCH_SETTINGS))
def test_flash_arch_is_the_published_size(name):
    from internimage import FlashInternImage
    with torch.device('meta'):
        by_arch, explicit = FlashInternImage(arch=name), FlashInternImage(**FLASH_ARCH_SETTINGS[name])
    assert shapes(by_arch) == shapes(explicit)
    block = by_arch.levels[0].blocks[0]
    assert (block.mlp.fc2.bias is not None) == (name == 'l')  # L turns the fc2 bias on against the default
    assert block.dcn.offset_scale == FLASH_ARCH_SETTINGS[name]['offset_scale']


def test_explicit_arguments_win_over_arch():
    """As a config's own keys over its base's: S with the detection configs' layer scale and pre-norm,
    the core op given positionally; everything else is S's."""
    with torch.device('meta'):
        model = InternImage('DCNv3_pytorch', arch='s', layer_scale=1.0, post_norm=False)
        expected = InternImage(**{**ARCH_SETTINGS['s'], 'core_op': 'DCNv3_pytorch', 'layer_scale': 1.0,
                                  'post_norm': False})
    assert shapes(model) == shapes(expected)
    block = model.levels[0].blocks[0]
    assert model.channels == 80 and not block.post_norm and type(block.dcn).__name__ == 'DCNv3_pytorch'
    assert torch.equal(InternImage(**TINY, layer_scale=1.0).levels[0].blocks[0].gamma1, torch.ones(16))
    assert block.gamma1.shape == (80, )


def test_composite_arch():
    from internimage.models.composite import CBInternImage
    with torch.device('meta'):
        model = CBInternImage(arch='t', depths=[1, 1, 2, 1])
    assert [m.channels for m in model.cb_modules] == [64, 64]
    assert model.cb_modules[1].levels[3].blocks[0].dcn.group == 32  # T's groups
    assert [len(level.blocks) for level in model.cb_modules[0].levels] == [1, 1, 2, 1]


def test_unknown_arch_is_named():
    from internimage import FlashInternImage
    with pytest.raises(ValueError, match=r"^InternImage: arch must be one of \['t', 's', 'b', 'l', 'xl', 'h', 'g'\], "
                                         r"got 'm'$"):
        InternImage(arch='m')
    with pytest.raises(ValueError, match=r"^FlashInternImage: arch must be one of \['t', 's', 'b', 'l'\], got 'xl'$"):
        FlashInternImage(arch='xl')


def test_arch_is_in_the_signature():
    import inspect
    parameters = inspect.signature(InternImage).parameters
    assert parameters['arch'].default is None and parameters['channels'].default == 64
    assert list(parameters)[-2:] == ['arch', 'kwargs']


def test_forward_shapes_and_out_indices():
    model = InternImage(**TINY, out_indices=(0, 1, 2, 3)).eval()
    feats = model(torch.randn(2, 3, 64, 96))
    assert [tuple(f.shape) for f in feats] == [(2, 16, 16, 24), (2, 32, 8, 12), (2, 64, 4, 6), (2, 128, 2, 3)]
    model = InternImage(**TINY, out_indices=(1, 3)).eval()
    assert [f.shape[1] for f in model(torch.randn(1, 3, 64, 64))] == [32, 128]
    with pytest.raises(ValueError, match='out_indices'):
        InternImage(**TINY, out_indices=(4,))


@pytest.mark.parametrize('core_op, flags', [('DCNv3', {}), ('DCNv4', dict(dw_kernel_size=3, offset_scale=0.5)),
                                            ('DCNv4', dict(dcn_output_bias=False, mlp_fc2_bias=False))])
def test_pytorch_core_matches_compiled_core(core_op, flags):
    fast = InternImage(**TINY, core_op=core_op, **flags).eval()
    slow = InternImage(**TINY, core_op=f'{core_op}_pytorch', **flags).eval()
    slow.load_state_dict(fast.state_dict())
    x = torch.randn(1, 3, 64, 64)
    for a, b in zip(fast(x), slow(x)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('core_op', ['DCNv3', 'DCNv4'])
def test_inference_path_equals_training_path(core_op):
    """Pre-norm without layer scale: inference fuses each residual sum into its branch's last matmul."""
    model = InternImage(**TINY, core_op=core_op, drop_path_rate=0.0)
    for module in model.modules():  # non-zero offsets and masks (they start at zero)
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.2)
    x = torch.randn(2, 3, 32, 48)
    with torch.no_grad():
        trained, inferred = model.train()(x), model.eval()(x)
    for a, b in zip(trained, inferred):  # random raw DCNv4 masks amplify float32 rounding: a loose bound
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize('flags', [dict(), dict(post_norm=True, layer_scale=1e-5),
                                   dict(core_op='DCNv4', dw_kernel_size=3, post_norm=True, layer_scale=1.0,
                                        dcn_output_bias=False),
                                   dict(res_post_norm=True, center_feature_scale=True, dw_kernel_size=5,
                                        level2_post_norm=True, level2_post_norm_block_ids=[1])])
def test_with_cp_gives_same_output_and_gradients(flags):
    model = InternImage(**TINY, **flags, drop_path_rate=0.0).train()
    cp = InternImage(**TINY, **flags, drop_path_rate=0.0, with_cp=True).train()
    cp.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    outs = [sum(f.square().sum() for f in m(x)) for m in (model, cp)]
    grads = [torch.autograd.grad(o, [x, *m.parameters()]) for o, m in zip(outs, (model, cp))]
    torch.testing.assert_close(outs[0], outs[1])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_frozen_stages():
    model = InternImage(**TINY, frozen_stages=2)
    model.train()
    frozen = [model.patch_embed, model.levels[0], model.levels[1]]
    assert all(not m.training for m in frozen) and model.levels[2].training
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    before = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    feats = model(torch.randn(2, 3, 32, 32))
    sum((f * torch.randn_like(f)).sum() for f in feats).backward()
    assert all(p.grad is None for m in frozen for p in m.parameters())
    assert all(p.grad is not None for p in model.levels[2].parameters())
    optimizer.step()
    after = model.state_dict()
    frozen_prefixes = ('patch_embed.', 'levels.0.', 'levels.1.')
    for key in before:  # parameters and BatchNorm statistics of frozen stages stay put
        if key.startswith(frozen_prefixes):
            assert torch.equal(before[key], after[key]), key
    assert not torch.equal(before['levels.2.blocks.0.mlp.fc1.weight'], after['levels.2.blocks.0.mlp.fc1.weight'])


def save_layouts(model, tmp_path):
    """The model's weights in the three published layouts."""
    state = model.state_dict()
    paths = {
        'classification': (tmp_path / 'cls.pth', {'model': {**state, 'head.weight': torch.zeros(10, 128)}}),
        'detection': (tmp_path / 'det.pth', {'state_dict': {**{f'backbone.{k}': v for k, v in state.items()},
                                                            'neck.conv.weight': torch.zeros(1)},
                                             'meta': {'epoch': 12}}),
        'plain': (tmp_path / 'plain.pth', state),
    }
    for path, content in paths.values():
        torch.save(content, path)
    return {name: path for name, (path, _) in paths.items()}


@pytest.mark.parametrize('layout', ['classification', 'detection', 'plain'])
def test_pretrained_init_accepts_published_layouts(layout, tmp_path, caplog):
    source = InternImage(**TINY)
    path = save_layouts(source, tmp_path)[layout]
    model = InternImage(**TINY, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    for key, value in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, msg=key)


def test_load_log_reports_missing_gammas_and_unused_keys(tmp_path):
    from mmengine.logging import MMLogger
    source = InternImage(**TINY)  # no layer scale: its checkpoint has no gammas
    path = save_layouts(source, tmp_path)['classification']
    model = InternImage(**TINY, layer_scale=1.0, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    logger = MMLogger.get_instance('test_backbone_load', log_file=str(tmp_path / 'load.log'))
    from internimage.checkpoint.loading import load_backbone_checkpoint
    missing, unexpected = load_backbone_checkpoint(model, str(path), logger=logger)
    assert sorted(missing) == sorted(k for k in model.state_dict() if k.endswith(('gamma1', 'gamma2')))
    assert unexpected == []
    assert all(torch.all(model.state_dict()[k] == 1.0) for k in missing)
    lines = [line for line in (tmp_path / 'load.log').read_text().splitlines() if 'InternImage: loaded' in line]
    assert len(lines) == 1
    line = lines[0]
    assert 'missing: 10 [levels.*.blocks.*.gamma1 (x5), levels.*.blocks.*.gamma2 (x5)]' in line
    assert 'keep their configured value' in line and 'unused): 1 [head.weight]' in line


def test_wrong_variant_fails_naming_the_key_and_nothing_is_loaded(tmp_path):
    source = InternImage(channels=24, depths=[1, 1, 2, 1], groups=[1, 2, 4, 8])
    path = save_layouts(source, tmp_path)['detection']
    model = InternImage(**TINY, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(ValueError, match=r"'patch_embed.conv1.weight': checkpoint \(12, 3, 3, 3\) vs model "
                                         r"\(8, 3, 3, 3\)"):
        model.init_weights()
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])


def test_checkpoint_without_backbone_weights_is_named(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': {'neck.conv.weight': torch.zeros(1)}}, path)
    model = InternImage(**TINY, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(ValueError, match='other.pth: no InternImage backbone weights'):
        model.init_weights()


def test_saved_model_reloads_strictly(tmp_path):
    source = InternImage(**TINY, layer_scale=1e-5, post_norm=True)
    torch.save(source.state_dict(), tmp_path / 'own.pth')
    model = InternImage(**TINY, layer_scale=1e-5, post_norm=True)
    result = model.load_state_dict(torch.load(tmp_path / 'own.pth'), strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_url_checkpoints_load_weights_only(monkeypatch):
    """mmengine loads URLs through torch.hub, whose default is weights_only=False."""
    from mmengine.runner.checkpoint import CheckpointLoader

    from internimage.checkpoint.safe_loading import allow_mmengine_checkpoints
    calls = []
    monkeypatch.setattr(torch.hub, 'load_state_dict_from_url', lambda url, **kw: calls.append((url, kw)) or {})
    allow_mmengine_checkpoints()
    CheckpointLoader.load_checkpoint('https://example.invalid/internimage_t_1k_224.pth', map_location='cpu')
    assert calls and calls[0][1]['weights_only'] is True
