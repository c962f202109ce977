"""The DCNv3 and DCNv4 cores exported as standard ONNX DeformConv (ops_dcnv3.onnx), run in ONNX Runtime
and in OpenVINO (internimage.deploy.openvino_extension), against the float64 reference: both exporters,
kernels 1-7 and non-square, strides, pads, dilations, groups, offset_scale, remove_center, samples outside
the image. And ONNX DeformConv nodes beyond what DCNv3 exports (bias, dense groups, no mask) in OpenVINO
against ONNX Runtime."""
import io

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from ops_dcnv3.functions import dcnv3_core_pytorch, dcnv4_core_pytorch, pack_offset_mask
from ops_dcnv3.onnx import custom_translation_table


class Core(torch.nn.Module):
    def __init__(self, params):
        super().__init__()
        self.params = params

    def forward(self, x, offset, mask):
        return torch.ops.ops_dcnv3.dcnv3_forward(x, offset, mask, *self.params)


class CoreV4(Core):
    def forward(self, x, offset_mask):
        return torch.ops.ops_dcnv3.dcnv4_forward(x, offset_mask, *self.params)


def out_size(size, kernel, stride, pad, dilation):
    return (size + 2 * pad - (dilation * (kernel - 1) + 1)) // stride + 1


def make_case(kernel, stride, pad, dilation, group, group_channels, scale, remove_center, h=9, w=11, seed=0):
    gen = torch.Generator().manual_seed(seed)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, pad, dilation
    h_out, w_out = out_size(h, kh, sh, ph, dh), out_size(w, kw, sw, pw, dw)
    points = kh * kw - remove_center
    x = torch.randn(2, h, w, group * group_channels, generator=gen)
    offset = torch.randn(2, h_out, w_out, group * points * 2, generator=gen) * 4  # many samples land outside
    logits = torch.randn(2, h_out, w_out, group, points, generator=gen) * 2
    mask = logits.softmax(-1).reshape(2, h_out, w_out, group * points)  # normalised, as DCNv3 feeds it
    params = (kh, kw, sh, sw, ph, pw, dh, dw, group, group_channels, float(scale), remove_center)
    return x, offset, mask, params


def outside_fraction(x, offset, params):
    """Fraction of sampling points entirely outside the image (docs/en/advanced_guides/dcnv3_spec.md, geometry)."""
    kh, kw, sh, sw, ph, pw, dh, dw, group, _, scale, remove_center = params
    from ops_dcnv3.functions.reference import regular_grid
    grid = regular_grid(kh, kw, dh, dw, remove_center, 'cpu', torch.float32)
    n, h_out, w_out, _ = offset.shape
    off = offset.reshape(n, h_out, w_out, group, -1, 2)
    px = (torch.arange(w_out) * sw - pw + (dw * (kw - 1)) // 2).view(1, 1, w_out, 1, 1) + (grid[:, 0] + off[..., 0]) * scale
    py = (torch.arange(h_out) * sh - ph + (dh * (kh - 1)) // 2).view(1, h_out, 1, 1, 1) + (grid[:, 1] + off[..., 1]) * scale
    outside = (px <= -1) | (px >= x.shape[2]) | (py <= -1) | (py >= x.shape[1])
    return outside.float().mean().item()


def export(params, inputs, dynamo, core=Core):
    if dynamo:
        program = torch.onnx.export(core(params).eval(), inputs, dynamo=True, opset_version=19,
                                    custom_translation_table=custom_translation_table())
        return program.model_proto
    buffer = io.BytesIO()
    torch.onnx.export(core(params), inputs, buffer, dynamo=False, opset_version=19,
                      input_names=['x', 'offset', 'mask'][:len(inputs)])
    return onnx.load_from_string(buffer.getvalue())


def run_ort(model, inputs):
    session = ort.InferenceSession(model.SerializeToString(), providers=['CPUExecutionProvider'])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, {name: np.asarray(t) for name, t in zip(names, inputs)})[0]


def run_openvino(model, inputs, tmp_path):
    """The ONNX file in OpenVINO (f32) with the DeformConv conversion extension."""
    import openvino as ov
    from internimage.deploy.openvino_extension import deform_conv_extension
    path = str(tmp_path / 'model.onnx')
    onnx.save(model, path)
    core = ov.Core()
    core.add_extension(deform_conv_extension())
    ov_model = core.read_model(path)
    assert 'DeformableConvolution' in {op.get_type_name() for op in ov_model.get_ops()}
    compiled = core.compile_model(ov_model, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    names = [i.get_any_name() for i in ov_model.inputs]
    return compiled({name: np.asarray(t) for name, t in zip(names, inputs)})[0]


def check_against_reference(params_case, dynamo, tmp_path, dcnv4=False):
    """DCNv3 with a softmaxed mask, or DCNv4 (``dcnv4``) with a raw mask packed into offset_mask
    (its padding channels random: they must be ignored)."""
    x, offset, mask, params = make_case(*params_case)
    if dcnv4:
        offset_mask = pack_offset_mask(offset, mask * 3 - 1, params[8])
        offset_mask[..., offset.shape[-1] + mask.shape[-1]:] = torch.randn(1).item() * 100
        inputs, core = (x, offset_mask), CoreV4
        expected = dcnv4_core_pytorch(x.double(), offset_mask.double(), *params).numpy()
    else:
        inputs, core = (x, offset, mask), Core
        expected = dcnv3_core_pytorch(x.double(), offset.double(), mask.double(), *params).numpy()
    model = export(params, inputs, dynamo, core)
    onnx.checker.check_model(model, full_check=True)
    assert {node.domain for node in model.graph.node} <= {'', 'ai.onnx'}
    assert any(node.op_type == 'DeformConv' for node in model.graph.node)
    got = run_ort(model, inputs)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert np.abs(got - expected).max() <= 1e-5
    assert np.abs(expected).max() > 0.1  # a real signal, not zeros everywhere
    assert outside_fraction(x, offset, params) > 0.02
    if not dynamo:  # the same graph either way: OpenVINO once per case
        assert np.abs(run_openvino(model, inputs, tmp_path) - expected).max() <= 1e-5


# (kernel, stride, pad, dilation, group, group_channels, offset_scale, remove_center)
CASES = [
    ((1, 1), (1, 1), (0, 0), (1, 1), 1, 4, 1.0, 0),
    ((3, 3), (1, 1), (1, 1), (1, 1), 4, 8, 1.0, 0),
    ((3, 3), (1, 1), (1, 1), (1, 1), 4, 4, 1.0, 1),
    ((3, 3), (2, 2), (1, 1), (1, 1), 2, 3, 2.0, 0),
    ((3, 3), (3, 3), (0, 0), (2, 2), 8, 2, 0.5, 1),
    ((5, 5), (1, 1), (2, 2), (1, 1), 3, 2, 1.5, 1),
    ((5, 5), (2, 1), (3, 1), (2, 1), 2, 4, 1.0, 0),
    ((7, 7), (1, 1), (3, 3), (1, 1), 2, 2, 1.0, 1),
    ((7, 7), (1, 2), (1, 0), (1, 1), 1, 3, 0.75, 0),
    ((3, 5), (1, 1), (1, 2), (1, 1), 5, 2, 1.0, 0),
    ((5, 3), (2, 3), (0, 2), (1, 2), 6, 1, 2.0, 0),
    ((2, 4), (1, 2), (1, 1), (2, 1), 4, 2, 1.25, 0),
    ((1, 3), (3, 1), (2, 0), (1, 3), 7, 1, 1.0, 0),
]


@pytest.mark.parametrize('case', CASES, ids=lambda c: 'k{}x{}_s{}{}_p{}{}_d{}{}_g{}x{}_os{}_rc{}'.format(
    *c[0], *c[1], *c[2], *c[3], *c[4:]))
def test_torchscript_export_matches_reference(case, tmp_path):
    check_against_reference(case, dynamo=False, tmp_path=tmp_path)


# The dynamo exporter is slower (about a second a case): a spread of the same cases.
@pytest.mark.parametrize('case', CASES[2:6] + CASES[9:11], ids=lambda c: 'k{}x{}_s{}{}_os{}_rc{}'.format(
    *c[0], *c[1], c[6], c[7]))
def test_dynamo_export_matches_reference(case, tmp_path):
    check_against_reference(case, dynamo=True, tmp_path=tmp_path)


# DCNv4: the same translation from offset_mask, raw mask; a spread of the cases in both exporters.
@pytest.mark.parametrize('dynamo', [False, True], ids=['torchscript', 'dynamo'])
@pytest.mark.parametrize('case', [CASES[1], CASES[4], CASES[5], CASES[9]], ids=lambda c: 'k{}x{}_s{}{}_os{}_rc{}'.format(
    *c[0], *c[1], c[6], c[7]))
def test_dcnv4_export_matches_reference(case, dynamo, tmp_path):
    check_against_reference(case, dynamo, tmp_path, dcnv4=True)


def test_layout_constants_follow_the_spec():
    """Point (i, j) of ONNX's row-major kernel is DCNv3's x-major point j * kh + i, (y, x) swapped."""
    from ops_dcnv3.onnx import deform_conv_layout
    offset_index, bias, mask_index = deform_conv_layout(2, 3, 1, 1, 1, 1.0, 0)
    assert bias is None
    assert mask_index.tolist() == [0, 2, 4, 1, 3, 5]
    assert offset_index[:4].tolist() == [1, 0, 5, 4]  # point (0, 0) -> DCNv3 0, point (0, 1) -> DCNv3 2
    _, _, mask_index = deform_conv_layout(3, 3, 1, 1, 2, 2.0, 1)
    assert mask_index[4] == mask_index[13] == 16  # both groups' centres read the appended zero channel
    # DCNv4: group g's offsets from g * 3P, its mask from g * 3P + 2P; the zero channel after K_pad.
    offset_index, _, mask_index = deform_conv_layout(2, 3, 1, 1, 2, 1.0, 0, fused=True)
    assert mask_index.tolist() == [12, 14, 16, 13, 15, 17, 30, 32, 34, 31, 33, 35]
    assert offset_index[:4].tolist() == [1, 0, 5, 4] and offset_index[12:14].tolist() == [19, 18]
    _, _, mask_index = deform_conv_layout(3, 3, 1, 1, 2, 1.0, 1, fused=True)
    assert mask_index[4] == mask_index[13] == 48  # K_pad of 3 x 2 x 8


def test_opset_below_19_is_refused_with_a_reason():
    x, offset, mask, params = make_case((3, 3), (1, 1), (1, 1), (1, 1), 1, 2, 1.0, 0)
    with pytest.raises(Exception, match='DeformConv, which needs opset >= 19'):
        torch.onnx.export(Core(params), (x, offset, mask), io.BytesIO(), dynamo=False, opset_version=17)


def deform_conv_node(kernel, stride, pad, dilation, group, offset_group, channels, bias, mask, h=9, w=11, seed=0):
    """A one-node ONNX DeformConv graph (W, B constant) and its inputs (X, offset[, mask])."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (c_in, c_out) = kernel, stride, pad, dilation, channels
    h_out, w_out = out_size(h, kh, sh, ph, dh), out_size(w, kw, sw, pw, dw)
    feed = {'X': rng.standard_normal((2, c_in, h, w)),
            'offset': rng.standard_normal((2, offset_group * kh * kw * 2, h_out, w_out)) * 4}
    if mask:
        feed['mask'] = rng.random((2, offset_group * kh * kw, h_out, w_out))
    feed = {name: value.astype(np.float32) for name, value in feed.items()}
    weights = [numpy_helper.from_array(rng.standard_normal((c_out, c_in // group, kh, kw)).astype(np.float32), 'W')]
    if bias:
        weights.append(numpy_helper.from_array(rng.standard_normal(c_out).astype(np.float32), 'B'))
    inputs = ['X', 'W', 'offset'] + (['B'] if bias else [''] if mask else []) + (['mask'] if mask else [])
    node = helper.make_node('DeformConv', inputs, ['Y'], dilations=[dh, dw], group=group, offset_group=offset_group,
                            pads=[ph, pw, ph, pw], strides=[sh, sw], kernel_shape=[kh, kw])
    graph = helper.make_graph(
        [node], 'deform_conv', [helper.make_tensor_value_info(name, TensorProto.FLOAT, value.shape)
                                for name, value in feed.items()],
        [helper.make_tensor_value_info('Y', TensorProto.FLOAT, None)], weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid('', 19)]), list(feed.values())


# (kernel, stride, pad, dilation, group, offset_group, (C_in, C_out), bias, mask)
NODES = [((3, 3), (1, 1), (1, 1), (1, 1), 1, 1, (3, 5), True, True),
         ((3, 3), (2, 2), (1, 1), (1, 1), 2, 2, (4, 6), True, False),
         ((5, 3), (2, 3), (0, 2), (1, 2), 6, 3, (6, 6), False, True),
         ((1, 3), (3, 1), (2, 0), (1, 3), 7, 7, (7, 7), True, True),
         ((7, 7), (1, 1), (3, 3), (1, 1), 2, 2, (2, 4), False, True)]


@pytest.mark.parametrize('case', NODES, ids=lambda c: 'k{}x{}_g{}_og{}_bias{}_mask{}'.format(*c[0], *c[4:6], *c[7:]))
def test_openvino_deform_conv_matches_onnxruntime(case, tmp_path):
    """OpenVINO's DeformableConvolution (bilinear interpolation "pad" mode) computes what ONNX Runtime's
    DeformConv computes, samples outside the image included (offsets of several pixels)."""
    model, inputs = deform_conv_node(*case)
    expected = run_ort(model, inputs)
    got = run_openvino(model, inputs, tmp_path)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max()
