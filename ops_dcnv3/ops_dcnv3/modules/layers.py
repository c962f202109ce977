"""Small layers shared by DCNv3 and the InternImage backbone.

Norms are wrapped in ``nn.Sequential`` with explicit layout permutes so that
parameter names match the published checkpoints (e.g. ``dw_conv.1.1.weight``,
``norm1.0.weight``, ``patch_embed.norm1.1.weight``).
"""
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
