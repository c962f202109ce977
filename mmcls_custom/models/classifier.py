"""An mmpretrain ImageClassifier that also reads the published InternImage
classification checkpoints as they are (weights under ``model``, backbone keys
``patch_embed.*``/``levels.*`` and head keys at the top level), so that
``mmpretrain.apis.init_model(config, checkpoint)`` and ``tools/test.py`` take them
without conversion. Checkpoints saved by this project load as usual.
"""
import torch
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS

from internimage.checkpoint.loading import BACKBONE_PREFIXES


def published_to_classifier_keys(state_dict):
    """Rename published keys in place: backbone keys under 'backbone.', the rest under 'head.'."""
    nested = state_dict.get('model')
    if isinstance(nested, dict):
        # Only the weights matter; training state (optimizer, epoch, ...) is dropped.
        for key in [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]:
            del state_dict[key]
        state_dict.update(nested)
    if not any(k.startswith(BACKBONE_PREFIXES) for k in state_dict):
        return
    for key in list(state_dict):
        prefix = 'backbone.' if key.startswith(BACKBONE_PREFIXES) else 'head.'
        state_dict[prefix + key] = state_dict.pop(key)


@MODELS.register_module()
class InternImageClassifier(ImageClassifier):
    """ImageClassifier(backbone=InternImage, head=InternImageClsHead or InternImageClipHead)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._register_load_state_dict_pre_hook(self._accept_published_layout)

    @staticmethod
    def _accept_published_layout(state_dict, prefix, *args):
        if prefix == '':
            published_to_classifier_keys(state_dict)
