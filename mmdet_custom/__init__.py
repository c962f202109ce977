"""Registers InternImage, and the published DINO variants, into mmdet's registries. Configs reach them
with ``custom_imports = dict(imports=['mmdet_custom'], allow_failed_imports=False)``."""
from mmdet.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

from internimage.registration import register_into

from .dino import PublishedDINO, PublishedDINOHead

register_into(MODELS, OPTIM_WRAPPER_CONSTRUCTORS, extra_models=(PublishedDINO, PublishedDINOHead))
