"""The learnable DCNv4 layer, with the published parameter names, shapes and initialisation.

Tokens (N, L, C) in and out, with the spatial shape (H, W) given (or L a square). One
Linear ``offset_mask`` projects each token to its offsets and raw mask (K_pad values, see
``ops_dcnv3.functions.DCNv4Function``), optionally after a depthwise convolution
``offset_mask_dw``; ``value_proj`` and ``output_proj`` are the pointwise projections
(absent with ``without_pointwise``). Unlike the published layer, any kernel size and any
group width work (the published CUDA kernel needs 3x3 and a group width that is a multiple
of 16).
"""
import torch
import torch.nn.functional as F
from torch import nn

from ..functions import DCNv4Function, dcnv4_core_pytorch
from ..functions.checks import padded_offset_mask_channels
from .layers import core_params, linear, published_linear, residual_sum, set_core_attributes


class DCNv4(nn.Module):
    """DCNv4 with the compiled core (falls back to the reference where none is built)."""

    def __init__(self, channels=64, kernel_size=3, stride=1, pad=1, dilation=1, group=4, offset_scale=1.0,
                 dw_kernel_size=None, center_feature_scale=False, remove_center=False, output_bias=True,
                 without_pointwise=False, **kwargs):
        super().__init__()
        points = set_core_attributes(self, 'DCNv4', channels, kernel_size, stride, pad, dilation, group,
                                     offset_scale, center_feature_scale, remove_center)
        self.dw_kernel_size = dw_kernel_size
        self.without_pointwise = without_pointwise
        self.K = group * points  # noqa: N806  (published name)

        if dw_kernel_size is not None:
            self.offset_mask_dw = nn.Conv2d(channels, channels, dw_kernel_size, stride=1,
                                            padding=(dw_kernel_size - 1) // 2, groups=channels)
        self.offset_mask = nn.Linear(channels, padded_offset_mask_channels(group, points))
        if not without_pointwise:
            self.value_proj = nn.Linear(channels, channels)
            self.output_proj = nn.Linear(channels, channels, bias=output_bias)
        self._reset_parameters()
        if center_feature_scale:
            self.center_feature_scale_proj_weight = nn.Parameter(torch.zeros(group, channels))
            self.center_feature_scale_proj_bias = nn.Parameter(torch.zeros(group))

    def _reset_parameters(self):
        nn.init.zeros_(self.offset_mask.weight)
        nn.init.zeros_(self.offset_mask.bias)
        if not self.without_pointwise:
            nn.init.xavier_uniform_(self.value_proj.weight)
            nn.init.zeros_(self.value_proj.bias)
            nn.init.xavier_uniform_(self.output_proj.weight)
            if self.output_proj.bias is not None:
                nn.init.zeros_(self.output_proj.bias)

    def core(self, value, offset_mask):
        return DCNv4Function.apply(value, offset_mask, *core_params(self), 256, self.remove_center)

    def project(self, layer, x, residual=None, scale=None):
        """``residual + scale * layer(x)`` for the pointwise projections (oneDNN with the bias, scale and
        residual in the matmul for CPU inference, see ``linear``)."""
        return linear(x, layer.weight, layer.bias, residual=residual, scale=scale)

    def forward(self, input, shape=None, residual=None, output_scale=None):
        """input (N, L, C) with L = H * W (``shape`` = (H, W), else L must be a square) -> (N, L_out, C),
        times ``output_scale`` (C,) and plus ``residual`` (N, L_out, C) if given (a fused layer scale
        and residual connection, as DCNv3's)."""
        if input.dim() != 3 or input.shape[-1] != self.channels:
            raise ValueError(f'DCNv4: expected input (N, L, {self.channels}), got {tuple(input.shape)}')
        n, length, channels = input.shape
        if shape is None:
            side = int(round(length ** 0.5))
            if side * side != length:
                raise ValueError(f'DCNv4: {length} tokens are not a square; pass shape=(H, W)')
            shape = (side, side)
        h, w = shape
        if h * w != length:
            raise ValueError(f'DCNv4: shape {tuple(shape)} does not hold {length} tokens')
        value = input if self.without_pointwise else self.project(self.value_proj, input)
        value = value.reshape(n, h, w, channels)
        query = input
        if self.dw_kernel_size is not None:
            query = self.offset_mask_dw(input.reshape(n, h, w, channels).permute(0, 3, 1, 2))
            query = query.permute(0, 2, 3, 1).reshape(n, length, channels)
        offset_mask = self.project(self.offset_mask, query).reshape(n, h, w, -1)
        out = self.core(value, offset_mask)
        if self.center_feature_scale:
            # As published: the scale is computed from the sampled output.
            alpha = torch.sigmoid(F.linear(out, self.center_feature_scale_proj_weight,
                                           self.center_feature_scale_proj_bias))
            alpha = alpha.repeat_interleave(self.group_channels, dim=-1)  # a group's scale on its channels
            out = out * (1 - alpha) + value * alpha
        out = out.reshape(n, -1, channels)
        if self.without_pointwise:
            return residual_sum(out, residual, output_scale)
        return self.project(self.output_proj, out, residual, output_scale)


class DCNv4_pytorch(DCNv4):  # noqa: N801  (the DCNv3_pytorch counterpart)
    """DCNv4 on the pure-PyTorch reference core and plain Linear layers."""

    def project(self, layer, x, residual=None, scale=None):
        return published_linear(layer, x, residual, scale)

    def core(self, value, offset_mask):
        return dcnv4_core_pytorch(value, offset_mask, *core_params(self), self.remove_center)
