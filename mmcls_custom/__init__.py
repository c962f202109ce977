"""Registers InternImage and FlashInternImage into mmpretrain's registries. Configs reach them with
``custom_imports = dict(imports=['mmcls_custom'], allow_failed_imports=False)``."""
from mmpretrain.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

from internimage.engine.layer_decay import ClassificationLayerDecayOptimizerConstructor
from internimage.models.registration import register_into

from . import hooks, models  # noqa: F401  (register PublishedCheckpointHook, the classifier and its heads)

register_into(MODELS, OPTIM_WRAPPER_CONSTRUCTORS, layer_decay=ClassificationLayerDecayOptimizerConstructor)
