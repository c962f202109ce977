"""ONNX export of the DCNv3 core as the standard ``DeformConv`` (opset >= 19).

DCNv3's core is a depthwise modulated deformable convolution with unit weights,
so it maps onto ONNX ``DeformConv`` with ``group = C``, ``W = ones(C, 1, kh, kw)``
and ``offset_group = G`` once offsets and masks are rearranged
(docs/en/advanced_guides/dcnv3_spec.md against the ONNX operator's definition):

- points: DCNv3 enumerates them x-major (k = a * kh + b, a along x), ONNX row-major
  (i * kw + j, i along y); DCNv3 offsets are (x, y) pairs, ONNX (y, x) pairs. One
  constant ``Gather`` on the channel axis does both.
- ``remove_center``: ONNX has no such point list; the centre becomes a point with
  mask 0 (a zero channel appended to the mask, gathered there).
- ``offset_scale`` s: DCNv3 samples at ``centre + (grid - centre) * s + offset * s``,
  ONNX at ``grid + offset``, so the ONNX offset is ``s * offset + (grid - centre) * (s - 1)``
  (a ``Mul`` and an ``Add`` of constants, emitted only when s != 1).
- layout: DCNv3 is channels-last, ``DeformConv`` channels-first: ``Transpose`` around it.

DCNv4 (``ops_dcnv3::dcnv4_forward``) is the same translation with the raw mask, its
offsets and mask gathered from the one ``offset_mask`` tensor (``fused=True``).

Only ``ai.onnx`` operators are emitted. The graph is built once by
:func:`dcnv3_to_deform_conv` against a small builder interface, so each exporter
(TorchScript: :func:`register_torchscript_symbolic`; dynamo:
:func:`custom_translation_table`) is a thin adapter, and an op variant that takes
raw mask logits only has to prepend :func:`softmax_over_points`.
"""
import numpy as np
import torch

from .functions.checks import padded_offset_mask_channels

MIN_OPSET = 19  # DeformConv appeared in opset 19
OP_NAME = 'ops_dcnv3::dcnv3_forward'
DCNV4_OP_NAME = 'ops_dcnv3::dcnv4_forward'

NHWC_TO_NCHW = [0, 3, 1, 2]
NCHW_TO_NHWC = [0, 2, 3, 1]


def deform_conv_layout(kernel_h, kernel_w, dilation_h, dilation_w, group, offset_scale, remove_center,
                       fused=False):
    """Constants that turn DCNv3's offset / mask channels (``fused``: DCNv4's offset_mask channels)
    into DeformConv's.

    Returns ``(offset_index, offset_bias, mask_index)``:

    - ``offset_index`` (G*kh*kw*2,): the DCNv3 offset channel for each ONNX offset channel
      ``((g*kh + i)*kw + j)*2 + d`` (d = 0: y, 1: x);
    - ``offset_bias`` (G*kh*kw*2,) float32: the constant term ``(grid - centre) * (s - 1)``,
      or None when ``offset_scale == 1``;
    - ``mask_index`` (G*kh*kw,): the DCNv3 mask channel for each ONNX point, where index
      ``G*P`` (``fused``: K_pad) is the zero channel appended for the removed centre.
    """
    points = kernel_h * kernel_w - (1 if remove_center else 0)
    if fused:  # group g's 2P offsets, then its P mask values, from g * 3P; K_pad channels
        def offset_channel(source, d):
            return (source // points) * 3 * points + 2 * (source % points) + d

        def mask_channel(source):
            return (source // points) * 3 * points + 2 * points + source % points
        zero_channel = padded_offset_mask_channels(group, points)  # K_pad
    else:
        def offset_channel(source, d):
            return source * 2 + d

        def mask_channel(source):
            return source
        zero_channel = group * points
    centre_point = (kernel_w // 2) * kernel_h + kernel_h // 2  # x-major index of the centre
    centre_y = (dilation_h * (kernel_h - 1)) // 2
    centre_x = (dilation_w * (kernel_w - 1)) // 2
    offset_index, offset_bias, mask_index = [], [], []
    for g in range(group):
        for i in range(kernel_h):  # ONNX kernel row (y)
            for j in range(kernel_w):  # ONNX kernel column (x)
                k = j * kernel_h + i  # the same point in DCNv3's x-major order
                removed = remove_center and k == centre_point
                if remove_center and k > centre_point:
                    k -= 1
                source = g * points + k
                mask_index.append(zero_channel if removed else mask_channel(source))
                # The removed centre's offset is irrelevant (its mask is 0): take any real channel.
                source = g * points if removed else source
                # ONNX wants (y, x), DCNv3 gives (x, y)
                offset_index += [offset_channel(source, 1), offset_channel(source, 0)]
                offset_bias += [(i * dilation_h - centre_y) * (offset_scale - 1),
                                (j * dilation_w - centre_x) * (offset_scale - 1)]
    bias = None if offset_scale == 1 else np.asarray(offset_bias, dtype=np.float32)
    return np.asarray(offset_index, dtype=np.int64), bias, np.asarray(mask_index, dtype=np.int64)


def dcnv3_to_deform_conv(builder, input, offset, mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                         dilation_h, dilation_w, group, group_channels, offset_scale, remove_center, fused=False):
    """Emit the DCNv3 core through ``builder`` (see ``_TorchScriptBuilder``); returns the output value.

    Arguments are those of ``torch.ops.ops_dcnv3.dcnv3_forward``: channels-last
    ``input`` (N, H, W, C), ``offset`` (N, Ho, Wo, G*P*2), ``mask`` (N, Ho, Wo, G*P); with
    ``fused``, ``offset`` and ``mask`` are both DCNv4's ``offset_mask`` (N, Ho, Wo, K_pad).
    """
    channels = group * group_channels
    offset_index, offset_bias, mask_index = deform_conv_layout(
        kernel_h, kernel_w, dilation_h, dilation_w, group, offset_scale, remove_center, fused)

    offset = builder.op('Gather', offset, builder.const(offset_index), axis=3)
    if offset_bias is not None:
        scale = np.full((1,), offset_scale, dtype=np.float32)
        offset = builder.op('Mul', offset, builder.op('CastLike', builder.const(scale), offset))
        offset = builder.op('Add', offset, builder.op('CastLike', builder.const(offset_bias), offset))
    if remove_center:
        append_zero = np.array([0, 0, 0, 0, 0, 0, 0, 1], dtype=np.int64)  # one zero channel at the end
        mask = builder.op('Pad', mask, builder.const(append_zero))
    mask = builder.op('Gather', mask, builder.const(mask_index), axis=3)

    weight = builder.op('CastLike', builder.const(np.ones((channels, 1, kernel_h, kernel_w), np.float32)), input)
    output = builder.op(
        'DeformConv',
        builder.op('Transpose', input, perm=NHWC_TO_NCHW), weight,
        builder.op('Transpose', offset, perm=NHWC_TO_NCHW), builder.absent(),
        builder.op('Transpose', mask, perm=NHWC_TO_NCHW),
        dilations=[dilation_h, dilation_w], group=channels, kernel_shape=[kernel_h, kernel_w],
        offset_group=group, pads=[pad_h, pad_w, pad_h, pad_w], strides=[stride_h, stride_w])
    return builder.op('Transpose', output, perm=NCHW_TO_NHWC)


def dcnv4_to_deform_conv(builder, value, offset_mask, *params):
    """Emit the DCNv4 core (arguments of ``torch.ops.ops_dcnv3.dcnv4_forward``) through ``builder``."""
    return dcnv3_to_deform_conv(builder, value, offset_mask, offset_mask, *params, fused=True)


def softmax_over_points(builder, mask_logits, group):
    """Softmax of channels-last mask logits (N, H, W, G*P) over the P points of each group,
    for an op variant that takes logits rather than the normalised mask."""
    grouped = builder.op('Reshape', mask_logits, builder.const(np.array([0, 0, 0, group, -1], np.int64)))
    normalised = builder.op('Softmax', grouped, axis=-1)
    return builder.op('Reshape', normalised, builder.const(np.array([0, 0, 0, -1], np.int64)))


def _check_opset(opset, op_name=OP_NAME):
    if opset < MIN_OPSET:
        raise RuntimeError(f'{op_name} exports as ONNX DeformConv, which needs opset >= {MIN_OPSET}; '
                           f'this export asked for opset {opset} (pass opset_version={MIN_OPSET} or later)')


# --- TorchScript exporter (torch.onnx.export(..., dynamo=False)) -------------------------------

class _TorchScriptBuilder:
    """Builder over a TorchScript ``GraphContext``: ``g.op`` wants typed attribute names."""

    def __init__(self, g):
        self.g = g

    def op(self, op_type, *inputs, **attributes):
        typed = {}
        for name, value in attributes.items():
            kind = 'f' if isinstance(value, float) or (isinstance(value, list) and isinstance(value[0], float)) else 'i'
            typed[f'{name}_{kind}'] = value
        return self.g.op(op_type, *inputs, **typed)

    def const(self, array):
        return self.g.op('Constant', value_t=torch.from_numpy(array))

    def absent(self):
        # An omitted optional input (DeformConv's bias), as torch's own symbolics spell it.
        value = self.g.op('prim::Constant')
        value.setType(torch._C.OptionalType.ofTensor())
        return value


def _torchscript_symbolic_of(op_name, translate, tensors):
    def symbolic(g, *args):
        _check_opset(g.opset, op_name)
        from torch.onnx import symbolic_helper
        # The op's int / float arguments arrive as graph constants.
        kinds = ['i'] * 10 + ['f', 'i']
        values = [symbolic_helper._maybe_get_const(p, kind) for p, kind in zip(args[tensors:], kinds)]
        return translate(_TorchScriptBuilder(g), *args[:tensors], *values)
    return symbolic


_torchscript_symbolic = _torchscript_symbolic_of(OP_NAME, dcnv3_to_deform_conv, 3)
_torchscript_symbolic_dcnv4 = _torchscript_symbolic_of(DCNV4_OP_NAME, dcnv4_to_deform_conv, 2)


_registered = False


def register_torchscript_symbolic():
    """Register the DeformConv translation with the TorchScript exporter (idempotent)."""
    global _registered
    if not _registered:
        # Registered from opset 1 so that an export below 19 ends in _check_opset's message.
        torch.onnx.register_custom_op_symbolic(OP_NAME, _torchscript_symbolic, 1)
        torch.onnx.register_custom_op_symbolic(DCNV4_OP_NAME, _torchscript_symbolic_dcnv4, 1)
        _registered = True


# --- dynamo exporter (torch.onnx.export(..., dynamo=True)) -------------------------------------

class _OnnxscriptBuilder:
    """Builder over onnxscript's opset, as traced by the dynamo exporter."""

    def __init__(self):
        import onnx_ir
        from onnxscript import opset19
        self.opset = opset19
        self._tensor = onnx_ir.tensor

    def op(self, op_type, *inputs, **attributes):
        return getattr(self.opset, op_type)(*inputs, **attributes)

    def const(self, array):
        return self.opset.Constant(value=self._tensor(array))

    def absent(self):
        return None


def _dynamo_translation(input, offset, mask, kernel_h: int, kernel_w: int, stride_h: int, stride_w: int,
                        pad_h: int, pad_w: int, dilation_h: int, dilation_w: int, group: int,
                        group_channels: int, offset_scale: float, remove_center: int):
    # The annotations matter: the exporter passes annotated int / float arguments as attributes.
    return dcnv3_to_deform_conv(_OnnxscriptBuilder(), input, offset, mask, kernel_h, kernel_w, stride_h,
                                stride_w, pad_h, pad_w, dilation_h, dilation_w, group, group_channels,
                                offset_scale, remove_center)


def _dynamo_translation_dcnv4(value, offset_mask, kernel_h: int, kernel_w: int, stride_h: int, stride_w: int,
                              pad_h: int, pad_w: int, dilation_h: int, dilation_w: int, group: int,
                              group_channels: int, offset_scale: float, remove_center: int):
    return dcnv4_to_deform_conv(_OnnxscriptBuilder(), value, offset_mask, kernel_h, kernel_w, stride_h, stride_w,
                                pad_h, pad_w, dilation_h, dilation_w, group, group_channels, offset_scale,
                                remove_center)


def custom_translation_table():
    """``{torch.ops.ops_dcnv3.dcnv3_forward.default: translation, ...dcnv4_forward...}`` for
    ``torch.onnx.export(..., dynamo=True, custom_translation_table=...)``; empty when the
    compiled op is not loaded (the model then runs, and exports, the pure-PyTorch reference)."""
    from ._extension import IMPORT_ERROR
    if IMPORT_ERROR is not None:
        return {}
    return {torch.ops.ops_dcnv3.dcnv3_forward.default: _dynamo_translation,
            torch.ops.ops_dcnv3.dcnv4_forward.default: _dynamo_translation_dcnv4}
