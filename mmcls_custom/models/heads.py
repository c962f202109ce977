"""The published InternImage classification heads, as mmpretrain heads.

Parameter names match the published classification checkpoints:
- ``InternImageClsHead`` (T..XL): ``conv_head`` (1x1 conv to ``cls_scale`` x the last
  width, no bias; BatchNorm; activation), global average pooling, ``head`` (Linear).
- ``InternImageClipHead`` (H, G): ``dcnv3_head_x4`` (1x1 conv + PixelShuffle(2) on the
  last stage), ``dcnv3_head_x3`` (1x1 conv on the third), their sum attention-pooled
  by ``clip_projector`` into ``out_dim``, ``fc_norm`` (LayerNorm), ``head`` (Linear).
Both take the backbone's NCHW feature tuple and return logits; loss and
prediction come from mmpretrain's ``ClsHead``.
"""
import torch
import torch.nn.functional as F
from mmpretrain.models.heads import ClsHead
from mmpretrain.registry import MODELS
from torch import nn

from ops_dcnv3.modules import build_act_layer, build_norm_layer


@MODELS.register_module()
class InternImageClsHead(ClsHead):
    """Head of InternImage-T..XL: 1x1 conv (no bias), BatchNorm, activation, global average pooling, Linear.

    Args:
        in_channels: the last stage's width.
        num_classes: number of classes; 0: no Linear (``forward`` returns the pooled features).
        cls_scale: width of the 1x1 conv over ``in_channels``.
        act_layer: activation after the BatchNorm (``'GELU'``, ``'ReLU'``).
        **kwargs: mmpretrain ``ClsHead``'s arguments (``loss``, ``topk``, ``init_cfg``, ...).
    """

    def __init__(self, in_channels, num_classes, cls_scale=1.5, act_layer='GELU', **kwargs):
        super().__init__(**kwargs)
        hidden = int(in_channels * cls_scale)
        self.conv_head = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=1, bias=False),
            build_norm_layer(hidden, 'BN', 'channels_first', 'channels_first'),
            build_act_layer(act_layer))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(hidden, num_classes) if num_classes > 0 else nn.Identity()

    def pre_logits(self, feats):
        return torch.flatten(self.avgpool(self.conv_head(feats[-1])), 1)

    def forward(self, feats):
        return self.head(self.pre_logits(feats))


class CrossAttention(nn.Module):
    """Multi-head attention of queries over separate keys and values (q/k/v biases as parameters)."""

    def __init__(self, dim, num_heads, out_dim):
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.k_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, out_dim)

    def _heads(self, x, layer, bias):
        b, n, _ = x.shape
        return F.linear(x, layer.weight, bias).reshape(b, n, self.num_heads, -1).transpose(1, 2)

    def forward(self, query, key, value):
        q, k, v = (self._heads(query, self.q, self.q_bias), self._heads(key, self.k, self.k_bias),
                   self._heads(value, self.v, self.v_bias))
        x = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(head_dim)) v
        return self.proj(x.transpose(1, 2).reshape(query.shape[0], query.shape[1], -1))


class AttentionPooling(nn.Module):
    """Pools a token sequence with one query: the tokens' mean."""

    def __init__(self, dim, num_heads, out_dim):
        super().__init__()
        self.norm1_q = build_norm_layer(dim, 'LN')
        self.norm1_k = build_norm_layer(dim, 'LN')
        self.norm1_v = build_norm_layer(dim, 'LN')
        self.cross_dcn = CrossAttention(dim, num_heads, out_dim)  # published name

    def forward(self, tokens):
        query = tokens.mean(1, keepdim=True)
        return self.cross_dcn(self.norm1_q(query), self.norm1_k(tokens), self.norm1_v(tokens)).squeeze(1)


@MODELS.register_module()
class InternImageClipHead(ClsHead):
    """Clip-projector head of InternImage-H/G: the last two stages mapped to ``clip_embed_dim`` channels at the
    third stage's size, summed, attention-pooled to ``out_dim``, LayerNorm, Linear.

    Args:
        in_channels: the last stage's width (the third stage's is half of it).
        num_classes: number of classes; 0: no Linear (``forward`` returns the pooled features).
        clip_embed_dim: channels of the summed stage features.
        attn_pool_num_heads: heads of the attention pooling.
        out_dim: width of the pooled features.
        **kwargs: mmpretrain ``ClsHead``'s arguments (``loss``, ``topk``, ``init_cfg``, ...).
    """

    def __init__(self, in_channels, num_classes, clip_embed_dim=1024, attn_pool_num_heads=16, out_dim=768,
                 **kwargs):
        super().__init__(**kwargs)
        self.dcnv3_head_x4 = nn.Sequential(
            nn.Conv2d(in_channels, clip_embed_dim * 4, kernel_size=1), nn.PixelShuffle(2))
        self.dcnv3_head_x3 = nn.Conv2d(in_channels // 2, clip_embed_dim, kernel_size=1)
        self.clip_projector = AttentionPooling(clip_embed_dim, attn_pool_num_heads, out_dim)
        self.fc_norm = build_norm_layer(out_dim, 'LN')
        self.head = nn.Linear(out_dim, num_classes) if num_classes > 0 else nn.Identity()

    def pre_logits(self, feats):
        stage3, stage4 = feats[-2], feats[-1]
        x = self.dcnv3_head_x4(stage4) + self.dcnv3_head_x3(stage3)
        return self.fc_norm(self.clip_projector(x.flatten(2).transpose(1, 2)))

    def forward(self, feats):
        return self.head(self.pre_logits(feats))
