"""DINO on the composite backbone CB-InternImage, as the published CB-InternImage-H detector computes it.

On top of ``PublishedDINO`` / ``PublishedDINOHead`` (published checkpoint layout, published inverse
sigmoid eps), two things differ from a plain DINO, both as published:
- it predicts from the lead sub-backbone's features only (the published neck, ``CBChannelMapper``,
  maps the lead's features at test time; our neck is mmdet's ChannelMapper, applied by the detector);
- in training, the assistant's features go through the same neck, transformer and head as a second
  copy of the batch (assistant's copy first), and ``CBDINOHead`` computes each copy's losses on its own,
  the assistant's weighted by ``cb_first_weight`` (published 0.5).
"""
import torch

from internimage.checkpoint.loading import report_loading

from .dino import PublishedDINO, PublishedDINOHead


class CBDINO(PublishedDINO):
    """PublishedDINO whose backbone returns (assistant's features, lead's features)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        report_loading(self)  # the plugins register the load report for InternImage backbones only

    def extract_feat(self, batch_inputs):
        """The lead's features through the neck: what the detector predicts from."""
        return self.neck(self.backbone(batch_inputs)[1])

    def loss(self, batch_inputs, batch_data_samples):
        assistant, lead = self.backbone(batch_inputs)
        # The neck's GroupNorm works per image, so one pass over both copies equals two passes.
        feats = self.neck([torch.cat(pair) for pair in zip(assistant, lead)])
        head_inputs = self.forward_transformer(feats, batch_data_samples * 2)
        return self.bbox_head.loss(**head_inputs, batch_data_samples=batch_data_samples)


class CBDINOHead(PublishedDINOHead):
    """PublishedDINOHead for a batch of two copies of the images: the assistant's, then the lead's.

    Each copy's losses are computed on their own and named with the copy's index (0: assistant,
    1: lead); the assistant's are multiplied by ``cb_first_weight`` and, as published, also named
    with ``_w<weight>`` (e.g. ``loss_cls0_w0.5``, ``loss_cls1``, ``d0.dn_loss_bbox1``).

    Args:
        cb_first_weight: weight of the assistant's losses.
        *args, **kwargs: ``PublishedDINOHead``'s arguments.
    """

    def __init__(self, *args, cb_first_weight=0.5, **kwargs):
        super().__init__(*args, **kwargs)
        self.cb_first_weight = cb_first_weight

    def loss(self, hidden_states, references, enc_outputs_class, enc_outputs_coord, batch_data_samples, dn_meta):
        cls_scores, bbox_preds = self(hidden_states, references)
        num_images = len(batch_data_samples)
        if cls_scores.shape[1] != 2 * num_images:
            raise ValueError(f'CBDINOHead: expected the features of {2 * num_images} images (assistant and lead '
                             f'copies of {num_images}), got {cls_scores.shape[1]}')
        gt_instances = [sample.gt_instances for sample in batch_data_samples]
        img_metas = [sample.metainfo for sample in batch_data_samples]
        losses = {}
        for index, weight in enumerate((self.cb_first_weight, 1.0)):
            copy = slice(index * num_images, (index + 1) * num_images)
            copy_losses = self.loss_by_feat(cls_scores[:, copy], bbox_preds[:, copy], enc_outputs_class[copy],
                                            enc_outputs_coord[copy], gt_instances, img_metas, dn_meta)
            suffix = f'{index}_w{weight}' if weight != 1 else f'{index}'
            losses.update({f'{key}{suffix if "loss" in key else index}': value * weight
                           for key, value in copy_losses.items()})
        return losses
