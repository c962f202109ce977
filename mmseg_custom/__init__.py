"""Registers InternImage into mmsegmentation's registries. Configs reach it with
``custom_imports = dict(imports=['mmseg_custom'], allow_failed_imports=False)``."""
from mmseg.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

from internimage.registration import register_into

from . import transforms  # noqa: F401  (registers CheckSegLabels)

register_into(MODELS, OPTIM_WRAPPER_CONSTRUCTORS)
