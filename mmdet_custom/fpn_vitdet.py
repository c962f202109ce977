"""``FPN_vitdet``, the neck of the published FlashInternImage Mask R-CNN and Cascade configs: mmdet's FPN
whose convolutions are followed by a LayerNorm over the channels (``norm_cfg=dict(type='LN')``), hence
without a conv bias. Its parameters are mmdet's FPN ones under the published names
(``{lateral,fpn}_convs.<i>.{conv.weight, ln.weight, ln.bias}``)."""
from mmdet.models.necks import FPN
from torch import nn


class ChannelsFirstLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW map (ConvModule names it ``ln``).

    Its output is the NCHW view of a channels-last result, not an NCHW copy: the convolutions and
    additions that follow take either layout, and the copy back cost a quarter of the neck's time."""
    _abbr_ = 'ln'

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class FPN_vitdet(FPN):  # noqa: N801  (the published name)
    """mmdet's FPN, with ``norm_cfg=dict(type='LN')`` a LayerNorm over the channels after each convolution.

    Args:
        in_channels, out_channels, num_outs: mmdet's FPN arguments.
        norm_cfg: ``dict(type='LN')`` as published, or any of mmdet's norms; None: none.
        use_residual: the top-down additions; only True (every published config) exists.
        **kwargs: mmdet's other FPN arguments.
    """

    def __init__(self, in_channels, out_channels, num_outs, norm_cfg=None, use_residual=True, **kwargs):
        if not use_residual:
            # every published config keeps the top-down additions; mmdet's FPN always makes them
            raise ValueError('FPN_vitdet: use_residual=False (no top-down path) is not supported')
        if norm_cfg is not None and norm_cfg.get('type') == 'LN':
            norm_cfg = dict(norm_cfg, type=ChannelsFirstLayerNorm)
        super().__init__(in_channels, out_channels, num_outs, norm_cfg=norm_cfg, **kwargs)
