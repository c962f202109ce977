"""Registers InternImage, FlashInternImage, the composite CB-InternImage, the published DINO variants
(CB-InternImage-H DINO, InternImage-G DINO's chunked FFN) and FlashInternImage's neck and box head
(FPN_vitdet, DCNv4FCBBoxHead) into mmdet's registries, with the published detection rules of
layer-wise lr decay (plus ``ClassAPCocoMetric``, mmdet's COCO metric returning each class's AP;
``VOCResultWriter``, the VOC 2012 test server's result files; and the numpy 2 fix of lvis 0.5.3's
evaluation, lvis_numpy2.py). On import it also gives mmcv's RoIAlign and NMS their CPU paths
(``internimage.models.mmcv_cpu_ops``: torchvision's parallel RoIAlign, float32 NMS under bfloat16 autocast)
and runs the box heads in float32 under CPU bfloat16 autocast (``internimage.models.bf16_box_heads``). Configs reach them with
``custom_imports = dict(imports=['mmdet_custom'], allow_failed_imports=False)``."""
from mmdet.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

from internimage.engine.layer_decay import DetectionLayerDecayOptimizerConstructor
from internimage.models.bf16_box_heads import use_float32_box_heads
from internimage.models.composite import CBInternImage
from internimage.models.mmcv_cpu_ops import use_fast_cpu_roi_ops
from internimage.models.registration import register_into

from . import lvis_numpy2  # noqa: F401  (LVISMetric under numpy 2)
from . import metrics  # noqa: F401  (registers ClassAPCocoMetric)
from . import voc_results  # noqa: F401  (registers VOCResultWriter)
from .bbox_heads import DCNv4FCBBoxHead
from .cb_dino import CBDINO, CBDINOHead
from .dino import PublishedDINO, PublishedDINOHead
from .efficient_ffn import EfficientFFN, EfficientFFNDINO
from .fpn_vitdet import FPN_vitdet

register_into(MODELS, OPTIM_WRAPPER_CONSTRUCTORS,
              extra_models=(PublishedDINO, PublishedDINOHead, CBInternImage, CBDINO, CBDINOHead, EfficientFFN,
                            EfficientFFNDINO, FPN_vitdet, DCNv4FCBBoxHead),
              layer_decay=DetectionLayerDecayOptimizerConstructor)
use_fast_cpu_roi_ops()
use_float32_box_heads()
