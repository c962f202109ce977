"""Registers InternImage, and the published DINO variants, into mmdet's registries. Configs reach them
with ``custom_imports = dict(imports=['mmdet_custom'], allow_failed_imports=False)``."""
from mmdet.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

from internimage.registration import register_into

from .dino import PublishedDINO, PublishedDINOHead

register_into(MODELS, OPTIM_WRAPPER_CONSTRUCTORS, extra_models=(PublishedDINO, PublishedDINOHead))

# The headline detectors: CB-InternImage-H DINO, and InternImage-G DINO's FFN.
from internimage.composite import CBInternImage  # noqa: E402

from .cb_dino import CBDINO, CBDINOHead  # noqa: E402
from .efficient_ffn import EfficientFFN, EfficientFFNDINO  # noqa: E402

register_into(MODELS, OPTIM_WRAPPER_CONSTRUCTORS,
              extra_models=(CBInternImage, CBDINO, CBDINOHead, EfficientFFN, EfficientFFNDINO))
