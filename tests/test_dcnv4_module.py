"""The DCNv4 layer (published names, shapes and initialisation), and the published kernel swap:
``use_dcn_v4_op=True`` keeps DCNv3's layers and weights and samples with the DCNv4 op."""
from pathlib import Path

import pytest
import torch
from mmengine.registry import DefaultScope

from internimage import InternImage
from ops_dcnv3.modules import DCNv3, DCNv3_pytorch, DCNv4, DCNv4_pytorch

from test_dcnv3_softmax import ops_called

ROOT = Path(__file__).resolve().parents[1]


def shapes_of(layer):
    return {name: tuple(p.shape) for name, p in layer.state_dict().items()}


def test_parameter_names_and_shapes_match_published_layer():
    assert shapes_of(DCNv4(channels=64, group=4)) == {
        'offset_mask.weight': (112, 64), 'offset_mask.bias': (112,),  # 3 x 4 x 9 = 108, padded to 112
        'value_proj.weight': (64, 64), 'value_proj.bias': (64,),
        'output_proj.weight': (64, 64), 'output_proj.bias': (64,)}
    shapes = shapes_of(DCNv4(channels=64, group=4, dw_kernel_size=3, center_feature_scale=True,
                             output_bias=False, remove_center=True))
    assert shapes['offset_mask_dw.weight'] == (64, 1, 3, 3) and shapes['offset_mask_dw.bias'] == (64,)
    assert shapes['offset_mask.weight'] == (96, 64)  # 3 x 4 x 8
    assert 'output_proj.bias' not in shapes
    assert shapes['center_feature_scale_proj_weight'] == (4, 64) and shapes['center_feature_scale_proj_bias'] == (4,)
    assert sorted(shapes_of(DCNv4(channels=32, group=2, without_pointwise=True))) == [
        'offset_mask.bias', 'offset_mask.weight']


def test_initialisation():
    layer = DCNv4(channels=32, group=2)
    assert torch.count_nonzero(layer.offset_mask.weight) == 0 and torch.count_nonzero(layer.offset_mask.bias) == 0
    assert torch.count_nonzero(layer.value_proj.bias) == 0 and torch.count_nonzero(layer.output_proj.bias) == 0
    bound = (6 / (32 + 32)) ** 0.5  # xavier-uniform
    for proj in (layer.value_proj, layer.output_proj):
        assert proj.weight.abs().max() <= bound and proj.weight.std() > bound / 4


@pytest.mark.parametrize('kwargs', [
    dict(channels=64, group=4), dict(channels=32, group=2, dw_kernel_size=3, center_feature_scale=True),
    dict(channels=36, group=3, kernel_size=5, pad=2, offset_scale=0.5, remove_center=True),  # beyond 3x3, width 12
    dict(channels=16, group=2, without_pointwise=True, output_bias=False)])
def test_compiled_and_pytorch_layers_agree(kwargs):
    torch.manual_seed(0)
    fast = DCNv4(**kwargs).double()
    for p in fast.parameters():  # off the zero initialisation so offsets matter
        p.data.normal_(0, 0.3)
    slow = DCNv4_pytorch(**kwargs).double()
    slow.load_state_dict(fast.state_dict())
    x = torch.randn(2, 7 * 9, kwargs['channels'], dtype=torch.float64, requires_grad=True)
    out_fast, out_slow = fast(x, (7, 9)), slow(x, (7, 9))
    assert out_fast.shape == x.shape
    torch.testing.assert_close(out_fast, out_slow)
    for a, b in zip(torch.autograd.grad(out_fast.sum(), [x, *fast.parameters()]),
                    torch.autograd.grad(out_slow.sum(), [x, *slow.parameters()])):
        torch.testing.assert_close(a, b)


def test_square_token_count_without_shape_and_bad_input():
    layer = DCNv4(channels=32, group=2)
    assert layer(torch.randn(1, 36, 32)).shape == (1, 36, 32)
    with pytest.raises(ValueError, match='not a square'):
        layer(torch.randn(1, 35, 32))
    with pytest.raises(ValueError, match=r'expected input \(N, L, 32\)'):
        layer(torch.randn(1, 6, 6, 32))
    with pytest.raises(ValueError, match=r'channels \(30\) must be divisible by group \(4\)'):
        DCNv4(channels=30, group=4)


def randomised(model, std=0.1):
    torch.manual_seed(0)
    for p in model.parameters():  # off the zero initialisation, so offsets and mask matter
        p.data.add_(torch.randn_like(p) * std)
    return model


@pytest.mark.parametrize('layer_type', [DCNv3, DCNv3_pytorch])
def test_dcnv3_layer_with_the_dcnv4_op_is_the_same_function(layer_type):
    kwargs = dict(channels=32, group=2, center_feature_scale=True)
    plain = randomised(layer_type(**kwargs))
    swapped = layer_type(**kwargs, use_dcn_v4_op=True)
    swapped.load_state_dict(plain.state_dict())
    x = torch.randn(2, 6, 7, 32, requires_grad=True)
    torch.testing.assert_close(swapped(x), plain(x), rtol=1e-5, atol=1e-5)
    for a, b in zip(torch.autograd.grad(swapped(x).sum(), [x, *swapped.parameters()]),
                    torch.autograd.grad(plain(x).sum(), [x, *plain.parameters()])):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    if layer_type is DCNv3:
        with torch.no_grad():
            names = ops_called(lambda: swapped(x))
        assert 'ops_dcnv3::dcnv4_forward' in names and 'ops_dcnv3::dcnv3_softmax_forward' not in names


def test_backbone_swap_gives_the_same_features():
    tiny = dict(channels=16, depths=[1, 1, 2, 1], groups=[1, 2, 4, 8], drop_path_rate=0.0, layer_scale=1.0)
    plain = randomised(InternImage(**tiny))
    swapped = InternImage(**tiny, use_dcn_v4_op=True)
    swapped.load_state_dict(plain.state_dict())  # the same parameters
    assert all(layer.dcn.use_dcn_v4_op for level in swapped.levels for layer in level.blocks)
    x = torch.randn(1, 3, 64, 48)
    for mode in ('train', 'eval'):
        for a, b in zip(getattr(swapped, mode)()(x), getattr(plain, mode)()(x)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # The FLOP count sees the DCNv4 op (its points from the kernel, not the padded offset_mask).
    from internimage.analysis.flops import flop_analyzer
    assert flop_analyzer(swapped, (x,)).total() == flop_analyzer(plain, (x,)).total()


def test_published_swap_config_gives_the_dcnv3_configs_outputs():
    """mask_rcnn_internimage_t_fpn_1x_coco_with_dcnv4 (fewer blocks: time) on the DCNv3 config's weights."""
    import mmdet_custom  # noqa: F401
    from mmdet.registry import MODELS
    from mmengine.config import Config
    outputs = []
    for name in ('mask_rcnn_internimage_t_fpn_1x_coco', 'mask_rcnn_internimage_t_fpn_1x_coco_with_dcnv4'):
        cfg = Config.fromfile(str(ROOT / 'configs' / 'coco' / f'{name}.py'))
        cfg.model.backbone.update(init_cfg=None, depths=[1, 1, 2, 1])
        with DefaultScope.overwrite_default_scope('mmdet'):
            model = MODELS.build(cfg.model).eval()
        assert model.backbone.levels[0].blocks[0].dcn.use_dcn_v4_op == name.endswith('dcnv4')
        if outputs:
            model.load_state_dict(state)
        else:
            state = randomised(model, 0.02).state_dict()
        with torch.no_grad():
            outputs.append(model.extract_feat(torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))))
    for a, b in zip(*outputs):  # float32 rounding (the DCNv3 path fuses the softmax): 1e-5 of the scale
        assert (a - b).abs().max() <= 1e-5 * a.abs().max()


def test_falls_back_to_reference_with_one_warning(monkeypatch):
    import warnings
    from ops_dcnv3 import _extension
    from ops_dcnv3.functions import dcnv3_func
    monkeypatch.setattr(_extension, '_BACKENDS', frozenset())
    monkeypatch.setattr(_extension, 'IMPORT_ERROR', ImportError('simulated missing build'))
    monkeypatch.setattr(dcnv3_func, '_warned', set())
    layer = randomised(DCNv4(channels=16, group=2))
    x = torch.randn(1, 25, 16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        out1, out2 = layer(x), layer(x)
    assert len([w for w in caught if 'ops_dcnv3' in str(w.message)]) == 1
    reference_layer = DCNv4_pytorch(channels=16, group=2)
    reference_layer.load_state_dict(layer.state_dict())
    torch.testing.assert_close(out1, reference_layer(x))
    torch.testing.assert_close(out2, out1)
