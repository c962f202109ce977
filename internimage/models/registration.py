"""Registers this project's modules into an OpenMMLab package's registries."""
from torch.nn.modules.module import register_module_module_registration_hook

from ..checkpoint.loading import report_loading
from .backbone import FlashInternImage, InternImage

_report_hook = None


def _report_loading_into_models_with_internimage(parent, name, submodule):
    """A model whose ``backbone`` is InternImage (a detector, segmentor or classifier, built by any
    package) reports every checkpoint loaded into it in one log line."""
    if name == 'backbone' and isinstance(submodule, InternImage):
        report_loading(parent)


def register_into(models, optim_wrapper_constructors, layer_decay, extra_models=()):
    """Register InternImage, FlashInternImage (and ``extra_models``) and the task's layer-decay constructor, under
    the name the configs use."""
    global _report_hook
    for module in (InternImage, FlashInternImage, *extra_models):
        models.register_module(module=module, force=True)
    optim_wrapper_constructors.register_module(name='CustomLayerDecayOptimizerConstructor', module=layer_decay,
                                               force=True)
    if _report_hook is None:
        _report_hook = register_module_module_registration_hook(_report_loading_into_models_with_internimage)
