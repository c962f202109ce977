"""Small layers shared by DCNv3 and the InternImage backbone.

Norms are wrapped in ``nn.Sequential`` with explicit layout permutes so that
parameter names match the published checkpoints (e.g. ``dw_conv.1.1.weight``,
``norm1.0.weight``, ``patch_embed.norm1.1.weight``).
"""
import torch
import torch.nn.functional as F
from torch import nn


class to_channels_first(nn.Module):  # noqa: N801  (published name)
    """(N, H, W, C) -> (N, C, H, W)."""

    def forward(self, x):
        return x.permute(0, 3, 1, 2)


class to_channels_last(nn.Module):  # noqa: N801  (published name)
    """(N, C, H, W) -> (N, H, W, C)."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1)


def build_norm_layer(dim, norm_layer, in_format='channels_last', out_format='channels_last', eps=1e-6):
    """'LN' (LayerNorm over channels) or 'BN' (BatchNorm2d), with layout permutes as needed."""
    layers = []
    if norm_layer == 'LN':
        if in_format == 'channels_first':
            layers.append(to_channels_last())
        layers.append(nn.LayerNorm(dim, eps=eps))
        if out_format == 'channels_first':
            layers.append(to_channels_first())
    elif norm_layer == 'BN':
        if in_format == 'channels_last':
            layers.append(to_channels_first())
        layers.append(nn.BatchNorm2d(dim))
        if out_format == 'channels_last':
            layers.append(to_channels_last())
    else:
        raise ValueError(f"norm_layer must be 'LN' or 'BN', got {norm_layer!r}")
    return nn.Sequential(*layers)


def build_act_layer(act_layer):
    """'ReLU', 'SiLU' or 'GELU'."""
    layers = {'ReLU': lambda: nn.ReLU(inplace=True), 'SiLU': lambda: nn.SiLU(inplace=True), 'GELU': nn.GELU}
    if act_layer not in layers:
        raise ValueError(f'act_layer must be one of {sorted(layers)}, got {act_layer!r}')
    return layers[act_layer]()


def _cpu_bfloat16_autocast():
    return torch.is_autocast_enabled('cpu') and torch.get_autocast_dtype('cpu') == torch.bfloat16


def _onednn_inference(x, weight):
    """True where :func:`linear` may call oneDNN: CPU float32 inference in eager mode, or float32 / bfloat16
    inputs under bfloat16 autocast."""
    dtypes = (torch.float32, torch.bfloat16) if _cpu_bfloat16_autocast() else (torch.float32, )
    return (x.device.type == 'cpu' and x.dtype in dtypes and weight.dtype == torch.float32
            and not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))
            and not torch.jit.is_tracing() and not torch.jit.is_scripting() and not torch.compiler.is_compiling()
            and not torch.onnx.is_in_onnx_export() and torch.backends.mkldnn.is_available())


def residual_sum(out, residual=None, scale=None):
    """``residual + scale * out`` (a block branch's layer scale and residual connection), either left
    out where None."""
    out = out if scale is None else scale * out
    return out if residual is None else residual + out


def linear(x, weight, bias=None, gelu=False, residual=None, scale=None):
    """``F.linear(x, weight, bias)``, then the exact GELU if ``gelu``, or ``residual + scale *`` it
    (``scale``: a layer scale over the output channels, or None).

    For CPU inference in eager mode this is one oneDNN matmul with the bias and the GELU or
    the residual addition applied in its epilogue (the ops inductor uses for these patterns),
    instead of an MKL matmul that first copies the bias into the output, then a separate pass:
    same values, measurably faster for the narrow matmuls of InternImage; a layer scale is folded
    into the weight and bias (float rounding). Training, tracing, torch.compile and export take the
    plain path.

    Under CPU bfloat16 autocast (which does not reach oneDNN's op) the matmul and its GELU run in
    bfloat16, as autocast runs ``F.linear``; a scale and a residual are applied after, as autocast
    would: the float32 scale promotes the sum to float32, and a residual keeps its own precision.
    (Folding the scale into bfloat16 weights and keeping the residual stream in bfloat16 made
    InternImage-T's detection backbone 1.1x faster but its error against float32 3x larger.)
    """
    if gelu and (residual is not None or scale is not None):
        raise ValueError('linear: gelu cannot be combined with a residual or a scale')
    if _onednn_inference(x, weight) and (residual is None or residual.shape[:-1] == x.shape[:-1]):
        if _cpu_bfloat16_autocast():
            x, weight = x.to(torch.bfloat16), weight.to(torch.bfloat16)
            bias = None if bias is None else bias.to(torch.bfloat16)
            out = torch.ops.mkldnn._linear_pointwise(x, weight, bias, 'gelu' if gelu else 'none', [],
                                                     'none' if gelu else '')
            return residual_sum(out, residual, scale)
        if scale is not None:
            weight = weight * scale[:, None]
            bias = None if bias is None else bias * scale
        if residual is not None:
            return torch.ops.mkldnn._linear_pointwise.binary(x, residual.contiguous(), weight, bias, 'add')
        if gelu:
            return torch.ops.mkldnn._linear_pointwise(x, weight, bias, 'gelu', [], 'none')
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, 'none', [], '')
    out = F.linear(x, weight, bias)
    return F.gelu(out) if gelu else residual_sum(out, residual, scale)


def published_linear(layer, x, residual=None, scale=None):
    """``residual + scale * layer(x)`` computed as published (the ``*_pytorch`` layers' projections)."""
    return residual_sum(layer(x), residual, scale)


def core_params(layer):
    """The scalar arguments (kernel_h .. offset_scale) of a DCNv3 / DCNv4 layer's core."""
    k = layer.kernel_size
    return (k, k, layer.stride, layer.stride, layer.pad, layer.pad, layer.dilation, layer.dilation, layer.group,
            layer.group_channels, layer.offset_scale)


def set_core_attributes(layer, name, channels, kernel_size, stride, pad, dilation, group, offset_scale,
                        center_feature_scale, remove_center):
    """Check a DCNv3 / DCNv4 layer's geometry (errors prefixed with ``name``) and store it on the layer
    under the published attribute names; returns the number of sampling points per group."""
    if channels % group != 0:
        raise ValueError(f'{name}: channels ({channels}) must be divisible by group ({group})')
    if remove_center and kernel_size % 2 == 0:
        raise ValueError(f'{name}: remove_center needs an odd kernel_size, got {kernel_size}')
    layer.channels = channels
    layer.kernel_size = kernel_size
    layer.stride = stride
    layer.pad = pad
    layer.dilation = dilation
    layer.group = group
    layer.group_channels = channels // group
    layer.offset_scale = offset_scale
    layer.center_feature_scale = center_feature_scale
    layer.remove_center = int(remove_center)
    return kernel_size * kernel_size - layer.remove_center
