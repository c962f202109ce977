"""Registers InternImage into mmpretrain's registries. Configs reach it with
``custom_imports = dict(imports=['mmcls_custom'], allow_failed_imports=False)``."""
from mmpretrain.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

from internimage.registration import register_into

register_into(MODELS, OPTIM_WRAPPER_CONSTRUCTORS)

from . import models  # noqa: E402,F401  (registers the classifier and its heads)
from . import hooks  # noqa: E402,F401  (registers PublishedCheckpointHook)
