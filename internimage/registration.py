"""Registers this project's modules into an OpenMMLab package's registries."""
from .backbone import InternImage
from .layer_decay import CustomLayerDecayOptimizerConstructor


def register_into(models, optim_wrapper_constructors, extra_models=()):
    """Register InternImage (and ``extra_models``) and the layer-decay constructor."""
    for module in (InternImage, *extra_models):
        models.register_module(module=module, force=True)
    optim_wrapper_constructors.register_module(module=CustomLayerDecayOptimizerConstructor, force=True)
