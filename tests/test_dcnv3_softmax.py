"""CPU fast paths: the DCNv3 op variant taking mask logits (softmax fused into the kernel), the
layer's path through it (one matmul for offset and mask), the published group widths' kernels,
and the backbone's inference path (oneDNN matmuls with bias, GELU and residual epilogues)."""
import pytest
import torch

from ops_dcnv3.functions import DCNv3Function, dcnv3_core_pytorch, dcnv3_softmax_core, mask_softmax
from internimage import InternImage
from ops_dcnv3.modules import DCNv3, DCNv3_pytorch


def make_case(n=1, h=6, w=7, group=2, group_channels=3, kernel=3, stride=1, pad=1, dilation=1,
              remove_center=0, dtype=torch.float64, seed=0):
    """Input, and offset and mask logits as column slices of one tensor (as the layer makes them)."""
    gen = torch.Generator().manual_seed(seed)
    h_out = (h + 2 * pad - (dilation * (kernel - 1) + 1)) // stride + 1
    w_out = (w + 2 * pad - (dilation * (kernel - 1) + 1)) // stride + 1
    points = kernel * kernel - remove_center
    x = torch.randn(n, h, w, group * group_channels, generator=gen, dtype=dtype)
    projected = torch.randn(n, h_out, w_out, group * points * 3, generator=gen, dtype=dtype) * 2
    offset, logits = projected.split([group * points * 2, group * points], dim=-1)
    params = (kernel, kernel, stride, stride, pad, pad, dilation, dilation, group, group_channels)
    return x, offset, logits, params


def fused(x, offset, logits, params, scale=1.0, remove_center=0):
    return dcnv3_softmax_core(x, offset, logits, *params, scale, remove_center)


def reference(x, offset, logits, params, scale=1.0, remove_center=0):
    mask = mask_softmax(logits, params[8])
    return dcnv3_core_pytorch(x, offset, mask, *params, scale, remove_center)


CASES = [dict(), dict(group_channels=16, stride=2, remove_center=1), dict(group=1, group_channels=32, kernel=5, pad=2),
         dict(n=2, group=3, group_channels=5, dilation=2, pad=2)]


@pytest.mark.parametrize('case', CASES)
def test_softmax_op_is_exact_in_float64(case):
    x, offset, logits, params = make_case(**case)
    assert not offset.is_contiguous() and not logits.is_contiguous()
    rc = case.get('remove_center', 0)
    torch.testing.assert_close(fused(x, offset, logits, params, 1.5, rc), reference(x, offset, logits, params, 1.5, rc),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5), (torch.bfloat16, 3e-2)])
def test_softmax_op_low_precision(dtype, tol):
    x, offset, logits, params = make_case(2, 9, 8, 4, 16, seed=1)
    got = fused(x.to(dtype), offset.to(dtype), logits.to(dtype), params)
    assert got.dtype == dtype
    torch.testing.assert_close(got.double(), reference(x, offset, logits, params), rtol=tol, atol=tol * 4)


@pytest.mark.parametrize('case', [CASES[0], CASES[1]])
def test_softmax_op_gradcheck(case):
    x, offset, logits, params = make_case(**{**case, 'h': 5, 'w': 5, 'seed': 2})
    rc = case.get('remove_center', 0)
    inputs = [t.detach().clone().requires_grad_() for t in (x, offset, logits)]
    assert torch.autograd.gradcheck(lambda *a: fused(*a, params, 0.8, rc), inputs)


@pytest.mark.parametrize('group_channels', [16, 32])
@pytest.mark.parametrize('softmax', [False, True])
def test_gradients_at_published_group_widths_match_reference(group_channels, softmax):
    """Widths 16 and 32 run kernels specialised at compile time; offsets reach past the border."""
    x, offset, logits, params = make_case(2, 9, 11, 2, group_channels, seed=3)
    mask = mask_softmax(logits, 2)
    grads = []
    for run in ('compiled', 'reference'):
        inputs = [t.detach().clone().requires_grad_() for t in (x, offset, logits if softmax else mask)]
        if run == 'reference':
            m = mask_softmax(inputs[2], 2) if softmax else inputs[2]
            out = dcnv3_core_pytorch(inputs[0], inputs[1], m, *params, 1.0)
        elif softmax:
            out = fused(*inputs, params)
        else:
            out = DCNv3Function.apply(*inputs, *params, 1.0)
        grads.append(torch.autograd.grad(out, inputs, torch.cos(out.detach())))
    for got, expected in zip(*grads):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_opcheck_softmax_op():
    x, offset, logits, params = make_case(1, 6, 7, 2, 4, dtype=torch.float32)
    for args in ((x, offset, logits), (x, offset.contiguous(), logits.contiguous())):
        torch.library.opcheck(torch.ops.ops_dcnv3.dcnv3_softmax_forward.default, (*args, *params, 1.0, 0))
    torch.library.opcheck(torch.ops.ops_dcnv3.dcnv3_forward.default, (x, offset, logits, *params, 1.0, 0))


def ops_called(fn):
    """{op name: number of calls} of fn()."""
    with torch.profiler.profile() as prof:
        fn()
    return {event.key: event.count for event in prof.key_averages()}


def test_layer_cpu_path_is_one_matmul_and_the_fused_op(monkeypatch):
    torch.manual_seed(0)
    layer = DCNv3(channels=32, group=2)
    for p in layer.parameters():
        p.data.normal_(0, 0.3)
    published = DCNv3_pytorch(channels=32, group=2)
    published.load_state_dict(layer.state_dict())
    x = torch.randn(1, 6, 6, 32)
    names = ops_called(lambda: layer(x))
    assert 'ops_dcnv3::dcnv3_softmax_forward' in names and 'aten::_softmax' not in names
    assert names['aten::addmm'] == 3  # input, offset + mask, output projections
    torch.testing.assert_close(layer(x), published(x), rtol=1e-5, atol=1e-5)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        low = layer(x)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), published(x), rtol=5e-2, atol=5e-2)
    # ONNX export knows the published op only: the layer falls back to softmax + dcnv3_forward.
    monkeypatch.setattr(torch.onnx, 'is_in_onnx_export', lambda: True)
    names = ops_called(lambda: layer(x))
    assert 'ops_dcnv3::dcnv3_forward' in names and 'ops_dcnv3::dcnv3_softmax_forward' not in names
    torch.testing.assert_close(layer(x), published(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('flags', [dict(), dict(layer_scale=1.0), dict(layer_scale=1.0, center_feature_scale=True)])
def test_backbone_inference_path_matches_training_path(flags):
    """Without dropout or drop path, training mode computes the same function the plain way. In inference
    each branch's layer scale (folded into the weights) and residual come out of its last matmul: no
    separate additions but the centre feature scale's."""
    torch.manual_seed(0)
    model = InternImage(channels=16, depths=[1, 1, 2, 1], groups=[1, 2, 4, 8], drop_path_rate=0.0, **flags)
    for p in model.parameters():
        p.data.add_(torch.randn_like(p) * 0.1)
    x = torch.randn(2, 3, 64, 48)
    expected = model.train()(x)
    with torch.no_grad():
        names = ops_called(lambda: model.eval()(x))
        got = model(x)
    assert names['mkldnn::_linear_pointwise'] == 5 * 5  # 5 blocks: value, offset + mask, output, fc1, fc2
    if not flags.get('center_feature_scale'):
        assert 'aten::addmm' not in names and 'aten::add' not in names
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('epilogue', ['none', 'gelu', 'residual', 'scaled_residual'])
def test_linear_under_bfloat16_autocast_runs_in_bfloat16(epilogue):
    """Autocast does not reach oneDNN's op: ``linear`` casts as autocast casts ``F.linear`` (bfloat16 matmul and
    GELU; a float32 residual added after, in float32), rather than silently staying in float32."""
    from ops_dcnv3.modules.layers import linear
    generator = torch.Generator().manual_seed(0)
    x, weight, bias = (torch.randn(*shape, generator=generator) for shape in ((2, 50, 32), (48, 32), (48, )))
    residual = torch.randn(2, 50, 48, generator=generator)
    scale = torch.rand(48, generator=generator) + 0.5 if epilogue == 'scaled_residual' else None
    kwargs = dict(gelu=epilogue == 'gelu', residual=residual if epilogue.endswith('residual') else None, scale=scale)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        names = ops_called(lambda: linear(x, weight, bias, **kwargs))
        got = linear(x, weight, bias, **kwargs)
        expected = torch.nn.functional.linear(x, weight, bias)  # autocast's bfloat16 matmul
        expected = torch.nn.functional.gelu(expected) if kwargs['gelu'] else expected
        expected = expected if scale is None else scale * expected
        expected = residual + expected if epilogue.endswith('residual') else expected
    assert 'mkldnn::_linear_pointwise' in names
    assert got.dtype == expected.dtype == (torch.float32 if epilogue.endswith('residual') else torch.bfloat16)
    torch.testing.assert_close(got.float(), expected.float(), rtol=1.6e-2, atol=1e-2)
    exact = torch.nn.functional.linear(x.double(), weight.double(), bias.double())
    exact = torch.nn.functional.gelu(exact) if kwargs['gelu'] else exact
    exact = exact if scale is None else scale.double() * exact
    exact = residual.double() + exact if epilogue.endswith('residual') else exact
    assert 1e-4 < (got.double() - exact).abs().max() < 0.1  # bfloat16's rounding, not float32's
