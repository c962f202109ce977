"""The FFN of the published InternImage-G DINO (``EfficientFFN``), and the DINO variant that uses it.

The published G detector's transformer layers compute their FFN (Linear, ReLU, Linear, plus the
identity) in ``split`` chunks of the hidden layer, each checkpointed on its own in training: the same
function as mmcv's FFN with less activation memory, and its own parameter names (``fc1_<i>``,
``fc2_<i>`` without bias, one ``fc2_bias``), which the published checkpoint carries. mmdet 3's DINO
layers build mmcv's FFN directly, so ``EfficientFFNDINO`` replaces each layer's FFN after building.
"""
import torch
import torch.utils.checkpoint as checkpoint
from mmcv.cnn import build_activation_layer
from mmengine.model import BaseModule
from torch import nn

from .dino import PublishedDINO


class EfficientFFN(BaseModule):
    """``x + sum_i fc2_i(drop(act(fc1_i(x)))) + fc2_bias``, the hidden layer in ``split`` chunks.

    Args:
        embed_dims: input and output width.
        feedforward_channels: hidden width, divisible by ``split``.
        num_fcs: must be 2 (mmcv's FFN argument, kept for its configs).
        act_cfg: the activation.
        ffn_drop: dropout after the activation and after each ``fc2_i``.
        add_identity: add the input (or ``identity``) to the output.
        split: chunks of the hidden layer, computed one after the other.
        with_cp: recompute each chunk in the backward pass (training only).
        init_cfg: mmengine's initialisation config.
    """

    def __init__(self, embed_dims=256, feedforward_channels=1024, num_fcs=2, act_cfg=dict(type='ReLU', inplace=True),
                 ffn_drop=0.0, add_identity=True, split=4, with_cp=False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if num_fcs != 2:
            raise ValueError(f'EfficientFFN: num_fcs must be 2, got {num_fcs}')
        if feedforward_channels % split:
            raise ValueError(f'EfficientFFN: feedforward_channels {feedforward_channels} is not divisible by '
                             f'split {split}')
        self.split, self.with_cp, self.add_identity = split, with_cp, add_identity
        for i in range(split):
            setattr(self, f'fc1_{i}', nn.Linear(embed_dims, feedforward_channels // split))
        for i in range(split):
            setattr(self, f'fc2_{i}', nn.Linear(feedforward_channels // split, embed_dims, bias=False))
        self.fc2_bias = nn.Parameter(torch.zeros(embed_dims))
        self.activate = build_activation_layer(act_cfg)
        self.drop = nn.Dropout(ffn_drop)

    def _chunk(self, x, i):
        hidden = self.drop(self.activate(getattr(self, f'fc1_{i}')(x)))
        return self.drop(getattr(self, f'fc2_{i}')(hidden))

    def forward(self, x, identity=None):
        out = 0
        for i in range(self.split):
            if self.with_cp and x.requires_grad:
                out = out + checkpoint.checkpoint(self._chunk, x, i, use_reentrant=False)
            else:
                out = out + self._chunk(x, i)
        out = out + self.fc2_bias
        if not self.add_identity:
            return out
        return (x if identity is None else identity) + out


class EfficientFFNDINO(PublishedDINO):
    """PublishedDINO whose encoder and decoder layers use ``EfficientFFN`` (``ffn_split`` chunks,
    each checkpointed in training with ``ffn_with_cp``), built from the layers' ``ffn_cfg``.

    Args:
        ffn_split: ``EfficientFFN``'s ``split``.
        ffn_with_cp: ``EfficientFFN``'s ``with_cp``.
        *args, **kwargs: ``PublishedDINO``'s (mmdet's ``DINO``) arguments.
    """

    def __init__(self, *args, ffn_split=4, ffn_with_cp=False, **kwargs):
        self.ffn_split, self.ffn_with_cp = ffn_split, ffn_with_cp  # read by _init_layers, during super().__init__
        super().__init__(*args, **kwargs)

    def _init_layers(self):
        super()._init_layers()
        for layer in (*self.encoder.layers, *self.decoder.layers):
            layer.ffn = EfficientFFN(**layer.ffn_cfg, split=self.ffn_split, with_cp=self.ffn_with_cp)
