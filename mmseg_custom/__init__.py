"""Registers InternImage into mmsegmentation's registries. Configs reach it with
``custom_imports = dict(imports=['mmseg_custom'], allow_failed_imports=False)``."""
from mmseg.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

from internimage.registration import register_into

register_into(MODELS, OPTIM_WRAPPER_CONSTRUCTORS)

from . import transforms  # noqa: E402,F401  (registers CheckSegLabels)
