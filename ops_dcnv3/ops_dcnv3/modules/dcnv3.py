"""The learnable DCNv3 layer (docs/en/advanced_guides/dcnv3_spec.md, "DCNv3 module"), channels-last in and out."""
import torch
import torch.nn.functional as F
from torch import nn

from ..functions import (DCNv3Function, DCNv4Function, dcnv3_core_pytorch, dcnv3_softmax_core, dcnv4_core_pytorch,
                         mask_softmax, pack_offset_mask)
from .layers import build_act_layer, build_norm_layer, core_params, linear, published_linear, set_core_attributes


class DCNv3(nn.Module):
    """DCNv3 with the compiled core (falls back to the reference where none is built).

    Constructor arguments and parameter names are those of the published layer. With
    ``use_dcn_v4_op`` (as published), the parameters and the softmaxed mask stay DCNv3's and
    the DCNv4 kernel samples: offsets and mask are packed into one ``offset_mask`` tensor.
    """

    def __init__(self, channels=64, kernel_size=3, dw_kernel_size=None, stride=1, pad=1, dilation=1,
                 group=4, offset_scale=1.0, act_layer='GELU', norm_layer='LN',
                 center_feature_scale=False, remove_center=False, use_dcn_v4_op=False):
        super().__init__()
        points = set_core_attributes(self, 'DCNv3', channels, kernel_size, stride, pad, dilation, group,
                                     offset_scale, center_feature_scale, remove_center)
        dw_kernel_size = dw_kernel_size if dw_kernel_size is not None else kernel_size
        self.dw_kernel_size = dw_kernel_size
        self.use_dcn_v4_op = use_dcn_v4_op

        self.dw_conv = nn.Sequential(
            nn.Conv2d(channels, channels, dw_kernel_size, stride=1, padding=(dw_kernel_size - 1) // 2,
                      groups=channels),
            build_norm_layer(channels, norm_layer, 'channels_first', 'channels_last'),
            build_act_layer(act_layer))
        self.offset = nn.Linear(channels, group * points * 2)
        self.mask = nn.Linear(channels, group * points)
        self.input_proj = nn.Linear(channels, channels)
        self.output_proj = nn.Linear(channels, channels)
        if center_feature_scale:
            self.center_feature_scale_proj_weight = nn.Parameter(torch.zeros(group, channels))
            self.center_feature_scale_proj_bias = nn.Parameter(torch.zeros(group))
        self._reset_parameters()

    def _reset_parameters(self):
        for layer in (self.offset, self.mask):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        for layer in (self.input_proj, self.output_proj):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def core(self, value, offset, mask):
        return DCNv3Function.apply(value, offset, mask, *core_params(self), 256, self.remove_center)

    def core_dcnv4(self, value, offset_mask):
        return DCNv4Function.apply(value, offset_mask, *core_params(self), 256, self.remove_center)

    def sample(self, value, query):
        """The core on ``value``, with offsets and mask projected from ``query``.

        As published: two projections, the softmax, then :meth:`core`. On the CPU, one matmul
        computes both projections (the parameters stay the published ``offset`` and ``mask``)
        and the op applies the softmax as it reads the mask logits; same outputs.
        """
        if value.device.type != 'cpu' or self.use_dcn_v4_op:
            return self.sample_as_published(value, query)
        weight = torch.cat([self.offset.weight, self.mask.weight])
        bias = torch.cat([self.offset.bias, self.mask.bias])
        offset, mask_logits = linear(query, weight, bias).split(
            [self.offset.out_features, self.mask.out_features], dim=-1)
        return dcnv3_softmax_core(value, offset, mask_logits, *core_params(self), self.remove_center)

    def project(self, layer, x, residual=None, scale=None):
        """``residual + scale * layer(x)`` for the value and output projections (oneDNN for CPU
        inference, see ``linear``)."""
        return linear(x, layer.weight, layer.bias, residual=residual, scale=scale)

    def sample_as_published(self, value, query):
        offset, mask = self.offset(query), mask_softmax(self.mask(query), self.group).type(value.dtype)
        if self.use_dcn_v4_op:
            return self.core_dcnv4(value, pack_offset_mask(offset, mask, self.group))
        return self.core(value, offset, mask)

    def forward(self, input, residual=None, output_scale=None):
        """input (N, H, W, C) -> (N, H_out, W_out, C), times ``output_scale`` (C,) and plus ``residual``
        if given (a block's layer scale and residual connection, fused: on the CPU the sum comes out
        of the output projection's matmul)."""
        if input.dim() != 4 or input.shape[-1] != self.channels:
            raise ValueError(f'DCNv3: expected input (N, H, W, {self.channels}), got {tuple(input.shape)}')
        value = self.project(self.input_proj, input)
        query = self.dw_conv(input.permute(0, 3, 1, 2))  # channels-last after the norm
        out = self.sample(value, query)
        if self.center_feature_scale:
            alpha = torch.sigmoid(F.linear(query, self.center_feature_scale_proj_weight,
                                           self.center_feature_scale_proj_bias))
            alpha = alpha.repeat_interleave(self.group_channels, dim=-1)  # (N, H, W, G) -> (N, H, W, C)
            out = out * (1 - alpha) + value * alpha
        return self.project(self.output_proj, out, residual, output_scale)


class DCNv3_pytorch(DCNv3):  # noqa: N801  (published name)
    """DCNv3 on the pure-PyTorch reference core, computed as published."""

    def sample(self, value, query):
        return self.sample_as_published(value, query)

    def project(self, layer, x, residual=None, scale=None):
        return published_linear(layer, x, residual, scale)

    def core_dcnv4(self, value, offset_mask):
        return dcnv4_core_pytorch(value, offset_mask, *core_params(self), self.remove_center)

    def core(self, value, offset, mask):
        return dcnv3_core_pytorch(value, offset, mask, *core_params(self), self.remove_center)
