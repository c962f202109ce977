"""The learnable DCNv3 layer: published parameter names, shapes and behaviour."""
import warnings

import pytest
import torch

import ops_dcnv3
from ops_dcnv3.modules import DCNv3, DCNv3_pytorch


def test_parameter_names_and_shapes_match_published_layer():
    layer = DCNv3(channels=64, group=4)
    shapes = {name: tuple(p.shape) for name, p in layer.state_dict().items()}
    assert shapes == {
        'dw_conv.0.weight': (64, 1, 3, 3), 'dw_conv.0.bias': (64,),
        'dw_conv.1.1.weight': (64,), 'dw_conv.1.1.bias': (64,),
        'offset.weight': (72, 64), 'offset.bias': (72,),
        'mask.weight': (36, 64), 'mask.bias': (36,),
        'input_proj.weight': (64, 64), 'input_proj.bias': (64,),
        'output_proj.weight': (64, 64), 'output_proj.bias': (64,),
    }


def test_h_style_layer_has_centre_feature_scale_and_dw_kernel_5():
    layer = DCNv3(channels=320, group=10, dw_kernel_size=5, center_feature_scale=True)
    shapes = {name: tuple(p.shape) for name, p in layer.state_dict().items()}
    assert shapes['center_feature_scale_proj_weight'] == (10, 320)
    assert shapes['center_feature_scale_proj_bias'] == (10,)
    assert shapes['dw_conv.0.weight'] == (320, 1, 5, 5)
    assert shapes['offset.weight'] == (180, 320)


def test_remove_center_has_eight_points():
    layer = DCNv3(channels=32, group=2, remove_center=True)
    assert layer.offset.out_features == 2 * 8 * 2 and layer.mask.out_features == 2 * 8


def test_initialisation():
    layer = DCNv3(channels=32, group=2, center_feature_scale=True)
    for name in ('offset', 'mask'):
        assert torch.count_nonzero(getattr(layer, name).weight) == 0
        assert torch.count_nonzero(getattr(layer, name).bias) == 0
    assert torch.count_nonzero(layer.input_proj.bias) == 0 and torch.count_nonzero(layer.output_proj.bias) == 0
    assert torch.count_nonzero(layer.center_feature_scale_proj_weight) == 0
    bound = (6 / (32 + 32)) ** 0.5  # xavier-uniform
    assert layer.input_proj.weight.abs().max() <= bound and layer.input_proj.weight.std() > bound / 4


@pytest.mark.parametrize('kwargs', [
    dict(channels=32, group=2), dict(channels=48, group=3, offset_scale=2.0),
    dict(channels=40, group=2, dw_kernel_size=5, center_feature_scale=True),
    dict(channels=32, group=4, remove_center=True)])
def test_compiled_and_pytorch_layers_agree(kwargs):
    torch.manual_seed(0)
    fast = DCNv3(**kwargs).double()
    for p in fast.parameters():  # move off the zero initialisation so offsets matter
        p.data.normal_(0, 0.3)
    slow = DCNv3_pytorch(**kwargs).double()
    slow.load_state_dict(fast.state_dict())
    x = torch.randn(2, 9, 11, kwargs['channels'], dtype=torch.float64, requires_grad=True)
    out_fast, out_slow = fast(x), slow(x)
    assert out_fast.shape == x.shape
    torch.testing.assert_close(out_fast, out_slow)
    g_fast = torch.autograd.grad(out_fast.sum(), [x, *fast.parameters()])
    g_slow = torch.autograd.grad(out_slow.sum(), [x, *slow.parameters()])
    for a, b in zip(g_fast, g_slow):
        torch.testing.assert_close(a, b)


def test_bad_construction_and_input_are_named():
    with pytest.raises(ValueError, match=r'channels \(30\) must be divisible by group \(4\)'):
        DCNv3(channels=30, group=4)
    with pytest.raises(ValueError, match='remove_center needs an odd kernel_size'):
        DCNv3(channels=32, group=4, kernel_size=4, remove_center=True)
    with pytest.raises(ValueError, match=r'expected input \(N, H, W, 32\)'):
        DCNv3(channels=32, group=4)(torch.randn(1, 32, 8, 8))


def test_falls_back_to_reference_with_one_warning(monkeypatch):
    from ops_dcnv3 import _extension
    from ops_dcnv3.functions import dcnv3_func
    monkeypatch.setattr(_extension, '_BACKENDS', frozenset())
    monkeypatch.setattr(_extension, 'IMPORT_ERROR', ImportError('simulated missing build'))
    monkeypatch.setattr(dcnv3_func, '_warned', set())
    assert ops_dcnv3.backends() == set()
    layer = DCNv3(channels=16, group=2)
    x = torch.randn(1, 5, 5, 16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        out1, out2 = layer(x), layer(x)
    messages = [str(w.message) for w in caught if 'ops_dcnv3' in str(w.message)]
    assert len(messages) == 1 and 'simulated missing build' in messages[0] and 'reference' in messages[0]
    reference_layer = DCNv3_pytorch(channels=16, group=2)
    reference_layer.load_state_dict(layer.state_dict())
    torch.testing.assert_close(out1, reference_layer(x))
    torch.testing.assert_close(out2, out1)
