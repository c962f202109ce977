"""InternImage for OpenMMLab 2.0: the backbone and what it needs, independent of any one
downstream package. ``mmcls_custom``, ``mmdet_custom`` and ``mmseg_custom`` register
these into mmpretrain, mmdet and mmsegmentation."""
from .backbone import InternImage
from .layer_decay import CustomLayerDecayOptimizerConstructor

__all__ = ['InternImage', 'CustomLayerDecayOptimizerConstructor']
