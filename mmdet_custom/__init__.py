"""Registers InternImage into mmdet's registries. Configs reach it with
``custom_imports = dict(imports=['mmdet_custom'], allow_failed_imports=False)``."""
from mmdet.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

from internimage.registration import register_into

register_into(MODELS, OPTIM_WRAPPER_CONSTRUCTORS)
