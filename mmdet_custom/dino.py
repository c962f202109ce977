"""DINO as the published InternImage detectors compute it, on mmdet 3's DINO.

Its deformable attention layers sample with the op package's multi-scale deformable attention
where that is built (internimage/models/ms_deform_attn.py: the same modules and results, a faster kernel).
Two differences from mmdet 3, both kept small (tests/data/published/published_outputs/README.md):
- ``PublishedDINO`` also takes the published checkpoints' key layout (241 keys named differently,
  renamed by a load_state_dict pre-hook; our own checkpoints load unchanged);
- ``PublishedDINOHead`` adds the regression branches' output to ``inverse_sigmoid(reference, eps=1e-3)``
  where mmdet 3 uses eps 1e-5 (boxes near the image border differ otherwise).
"""
import torch
from mmdet.models.dense_heads import DINOHead
from mmdet.models.detectors import DINO
from mmdet.models.layers import inverse_sigmoid

from internimage.checkpoint.loading import read_published_layout
from internimage.checkpoint.published_layouts import PUBLISHED_DINO
from internimage.models.ms_deform_attn import use_ops_ms_deform_attn


class PublishedDINO(DINO):
    """mmdet 3's DINO that also loads the published DINO checkpoints as they are, its encoder's and
    decoder's deformable attention on the op package's kernel."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        read_published_layout(self, PUBLISHED_DINO)
        use_ops_ms_deform_attn(self)


class PublishedDINOHead(DINOHead):
    """mmdet 3's DINOHead with the published eps of the inverse sigmoid of the references.

    Args:
        reference_eps: ``eps`` of ``inverse_sigmoid(reference, eps)`` when boxes are refined (published:
            1e-3; mmdet 3: 1e-5).
        *args, **kwargs: mmdet's ``DINOHead`` arguments.
    """

    def __init__(self, *args, reference_eps=1e-3, **kwargs):
        super().__init__(*args, **kwargs)
        self.reference_eps = reference_eps

    def forward(self, hidden_states, references):
        """As DeformableDETRHead.forward (DINO has 4-d references in every layer), with ``reference_eps``."""
        classes, coords = [], []
        for layer_id, hidden_state in enumerate(hidden_states):
            classes.append(self.cls_branches[layer_id](hidden_state))
            regression = self.reg_branches[layer_id](hidden_state)
            coords.append((regression + inverse_sigmoid(references[layer_id], eps=self.reference_eps)).sigmoid())
        return torch.stack(classes), torch.stack(coords)
