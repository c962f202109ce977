"""Registers InternImage, FlashInternImage, and the published Mask2Former head, into mmsegmentation's registries, with the
published segmentation rules of layer-wise lr decay (plus ``ClassIoUMetric``, mmseg's IoU metric returning
each class's IoU, ``ClassWeightedCrossEntropyLoss``, mmseg's class-weighted cross-entropy that survives
ignored pixels, and the ``CheckSegLabels`` pipeline check). Configs reach them with
``custom_imports = dict(imports=['mmseg_custom'], allow_failed_imports=False)``."""
from mmseg.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

from internimage.layer_decay import SegmentationLayerDecayOptimizerConstructor
from internimage.registration import register_into

from . import losses, metrics, transforms  # noqa: F401  (ClassWeightedCrossEntropyLoss, ClassIoUMetric, CheckSegLabels)
from .mask2former import PublishedMask2FormerHead

register_into(MODELS, OPTIM_WRAPPER_CONSTRUCTORS, extra_models=(PublishedMask2FormerHead,),
              layer_decay=SegmentationLayerDecayOptimizerConstructor)
