"""Registers InternImage, FlashInternImage, and the published Mask2Former head, into mmsegmentation's registries, with the
published segmentation rules of layer-wise lr decay (plus ``ClassIoUMetric``, mmseg's IoU metric returning
each class's IoU, ``ClassWeightedCrossEntropyLoss``, mmseg's class-weighted cross-entropy that survives
ignored pixels, the ``CheckSegLabels`` pipeline check, ``MapillaryToCityscapesLabels`` (Mapillary v1.2's 66
classes onto Cityscapes' 19) and ``NYUDepthV2Dataset`` (NYU Depth V2's 40-class segmentation)). Configs
reach them with
``custom_imports = dict(imports=['mmseg_custom'], allow_failed_imports=False)``."""
from mmseg.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

from internimage.engine.layer_decay import SegmentationLayerDecayOptimizerConstructor
from internimage.models.registration import register_into

from . import datasets, losses, metrics, transforms  # noqa: F401  (see the docstring)
from .mask2former import PublishedMask2FormerHead

register_into(MODELS, OPTIM_WRAPPER_CONSTRUCTORS, extra_models=(PublishedMask2FormerHead,),
              layer_decay=SegmentationLayerDecayOptimizerConstructor)
