"""Mask2Former's head as the published InternImage segmentors compute it, on mmseg 1's Mask2FormerHead.

Its pixel decoder's deformable attention samples with the op package's multi-scale deformable
attention where that is built (internimage/models/ms_deform_attn.py: the same modules and results).
Two differences from mmseg 1, both kept small (tests/data/published/published_outputs/README.md):
- it also takes the published checkpoints' key layout (180 keys named differently, renamed by a
  load_state_dict pre-hook; our own checkpoints load unchanged);
- at test time the published model sums softmax(class) x sigmoid(mask) over the queries at 1/4
  resolution and then resizes the class maps; mmseg 1 resizes every query's mask logits first.
And one option: ``use_softmax=False`` in the pixel decoder's ``self_attn_cfg`` (the published FlashInternImage
``_nsmx`` config) uses the deformable attention weights raw (``CustomMultiScaleDeformableAttention``).
"""
import copy

import torch
import torch.nn.functional as F
from mmseg.models.decode_heads import Mask2FormerHead
from mmseg.structures import SegDataSample

from internimage.checkpoint.loading import read_published_layout
from internimage.checkpoint.published_layouts import PUBLISHED_MASK2FORMER
from internimage.models.ms_deform_attn import use_ops_ms_deform_attn

from .msda import CustomMultiScaleDeformableAttention


class PublishedMask2FormerHead(Mask2FormerHead):
    """mmseg 1's Mask2FormerHead loading the published layout, with the published test-time order,
    its pixel decoder's deformable attention on the op package's kernel.

    Args:
        pixel_decoder: mmseg's pixel decoder config; its encoder's ``self_attn_cfg`` may carry
            ``use_softmax=False`` (raw attention weights, ``CustomMultiScaleDeformableAttention``).
        *args, **kwargs: mmseg's ``Mask2FormerHead`` arguments.
    """

    def __init__(self, *args, pixel_decoder, **kwargs):
        # mmdet's pixel decoder builds mmcv's attention from self_attn_cfg whatever its type: the raw-weights
        # option is taken out here and the attentions swapped for ours (same parameters) once built.
        pixel_decoder = copy.deepcopy(pixel_decoder)
        attn_cfg = pixel_decoder['encoder']['layer_cfg']['self_attn_cfg']
        use_softmax = attn_cfg.pop('use_softmax', True)
        super().__init__(*args, pixel_decoder=pixel_decoder, **kwargs)
        if not use_softmax:
            for layer in self.pixel_decoder.encoder.layers:
                layer.self_attn = CustomMultiScaleDeformableAttention(**attn_cfg, use_softmax=False)
        read_published_layout(self, PUBLISHED_MASK2FORMER)
        use_ops_ms_deform_attn(self)

    def predict(self, x, batch_img_metas, test_cfg):
        """Class maps (B, num_classes, H, W) at the padded input size, in the published order."""
        all_cls_scores, all_mask_preds = self(x, [SegDataSample(metainfo=meta) for meta in batch_img_metas])
        cls_score = F.softmax(all_cls_scores[-1], dim=-1)[..., :-1]
        seg_logits = torch.einsum('bqc,bqhw->bchw', cls_score, all_mask_preds[-1].sigmoid())
        # Whole-image inference: the padded input's size. Sliding-window inference sets img_shape to the
        # window's, and leaves pad_shape the whole padded image's (mmseg 1's own head resizes to the latter).
        meta = batch_img_metas[0]
        size = meta['img_shape'] if test_cfg.get('mode') == 'slide' else meta.get('pad_shape', meta['img_shape'])
        return F.interpolate(seg_logits, size=size, mode='bilinear', align_corners=False)
