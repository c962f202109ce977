"""CB-InternImage: the composite backbone (CBNetV2 style) of the published CB-InternImage-H detectors.

Two InternImages of the same size run one after the other. The first, the *assistant*, is a complete
InternImage. The second, the *lead*, has no stem: it continues from the assistant's stem output, and
before each of its stages i it adds ``gamma_i * c_i``, where ``c_i`` sums the assistant's stage
outputs j >= i, each mapped to stage i's channels (``cb_linears[i][j - i]``: a 1x1 convolution, or
nothing for j = i) and resized (nearest) to stage i's size. The gammas start at zero, so the lead
starts as a plain InternImage.

Names follow the published checkpoints: ``cb_modules.0`` (assistant), ``cb_modules.1`` (lead, with
``gamma0..3``), ``cb_linears.<i>.<k>``. As published, the lead multiplies by ``gamma.half()``: the
gammas are rounded to float16 even in float32 or float64, which matters for parity with the
published outputs (tests/data/published/checkpoint_keys/det_seg/README.md).
"""
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from .arch_settings import ARCH_SETTINGS, with_arch
from .backbone import InternImage


class LeadInternImage(InternImage):
    """The lead sub-backbone: an InternImage without a stem, assisted before each stage."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        del self.patch_embed
        for i in range(self.num_levels):
            self.register_parameter(f'gamma{i}', nn.Parameter(torch.zeros(int(self.channels * 2 ** i))))

    def assisted_levels(self, x, assistance):
        """All stages' outputs (channels-last) from the assistant's stem output ``x``, with
        ``assistance[i]`` (channels-last, stage i's shape) added, scaled by ``gamma_i``, before stage i."""
        outs = []
        for i, level in enumerate(self.levels):
            # The published forward rounds the gammas to float16 (gamma.half()), whatever the dtype.
            out, x = level(x + getattr(self, f'gamma{i}').half() * assistance[i])
            outs.append(out)
        return outs


class CBInternImage(BaseModule):
    """Composite backbone of two InternImages (published ``CBInternImage``).

    Args:
        arch: a published InternImage size (``'h'`` for CB-InternImage-H), as for ``InternImage``: it fills
            in the sub-backbones' arguments; arguments given explicitly win.
        channels: channels of the first stage of both sub-backbones.
        out_indices: a pair, (the assistant's, the lead's) stage indices, e.g. ``[(0, 1, 2, 3), (1, 2, 3)]``
            as published. When the assistant's list is one longer than the lead's, its first entry is
            dropped from the output (the published rule), so both outputs feed the same neck.
        cb_del_stages: stages from which on the lead is assisted, counted from 1 (published: 1, all).
        init_cfg: mmengine's initialisation config of the whole composite (the published checkpoints hold
            both sub-backbones); None: each sub-backbone initialises as ``InternImage``.
        **kwargs: InternImage's other arguments, for both sub-backbones (``frozen_stages`` is refused).

    ``forward`` returns (assistant's features, lead's features), each a tuple of NCHW maps.
    """

    @with_arch(ARCH_SETTINGS)
    def __init__(self, channels=64, out_indices=((0, 1, 2, 3), (1, 2, 3)), cb_del_stages=1, init_cfg=None,
                 **kwargs):
        super().__init__(init_cfg=init_cfg)
        if len(out_indices) != 2:
            raise ValueError(f'CBInternImage: out_indices must be a pair (assistant, lead), got {out_indices}')
        if kwargs.get('frozen_stages', -1) >= 0:
            raise ValueError('CBInternImage: frozen_stages is not supported (the lead has no stem to freeze), '
                             f'got {kwargs["frozen_stages"]}')
        self.out_indices = [tuple(indices) for indices in out_indices]
        self.cb_del_stages = cb_del_stages
        self.cb_modules = nn.ModuleList([
            InternImage(channels=channels, out_indices=self.out_indices[0], **kwargs),
            LeadInternImage(channels=channels, out_indices=self.out_indices[1], **kwargs)])
        self.num_levels = self.cb_modules[0].num_levels
        widths = [int(channels * 2 ** i) for i in range(self.num_levels)]
        self.cb_linears = nn.ModuleList()
        for i in range(self.num_levels):
            linears = nn.ModuleList()
            if self.assists(i):
                for j in range(i, self.num_levels):
                    linears.append(nn.Conv2d(widths[j], widths[i], 1) if j != i else nn.Identity())
            self.cb_linears.append(linears)

    def init_weights(self):
        """Each sub-backbone as InternImage initialises itself (the gammas stay zero, the 1x1
        convolutions keep PyTorch's default), unless ``init_cfg`` says otherwise."""
        if self.init_cfg is not None:
            super().init_weights()
            return
        for module in self.cb_modules:
            module.init_weights()
        self._is_init = True

    def assists(self, level):
        return level >= self.cb_del_stages - 1

    def assistance(self, assistant_outs):
        """Per lead stage i (channels-last): the sum over the assistant's stages j >= i, mapped to
        stage i's channels and resized to its size (0 for stages that are not assisted)."""
        feeds = []
        for i in range(self.num_levels):
            feed = 0
            if self.assists(i):
                size = assistant_outs[i].shape[1:3]
                for k, linear in enumerate(self.cb_linears[i]):
                    mapped = linear(assistant_outs[i + k].permute(0, 3, 1, 2))
                    if tuple(mapped.shape[2:]) != tuple(size):
                        mapped = F.interpolate(mapped, size=size, mode='nearest')
                    feed = feed + mapped.permute(0, 2, 3, 1)
            feeds.append(feed)
        return feeds

    def forward(self, x):
        assistant, lead = self.cb_modules
        stem = assistant.pos_drop(assistant.patch_embed(x))
        assistant_outs = assistant.levels_from_stem(stem)
        lead_outs = lead.assisted_levels(stem, self.assistance(assistant_outs))
        assistant_indices, lead_indices = self.out_indices
        if len(assistant_indices) == len(lead_indices) + 1:
            assistant_indices = assistant_indices[1:]
        return tuple(tuple(outs[i].permute(0, 3, 1, 2).contiguous() for i in indices)
                     for outs, indices in ((assistant_outs, assistant_indices), (lead_outs, lead_indices)))
