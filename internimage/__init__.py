"""InternImage for OpenMMLab 2.0: the backbone and what it needs, independent of any one
downstream package. ``mmcls_custom``, ``mmdet_custom`` and ``mmseg_custom`` register
these into mmpretrain, mmdet and mmsegmentation.

The names are imported on first use (PEP 562): ``import internimage.deploy.runtime`` (ONNX Runtime /
OpenVINO, numpy only) must work without torch, and importing the backbone does not import the
deployment package (``internimage.deploy``: onnx, mmdeploy, openvino on use)."""
import importlib

_LAZY = {'InternImage': 'models.backbone', 'FlashInternImage': 'models.backbone',
         'CustomLayerDecayOptimizerConstructor': 'engine.layer_decay'}

__all__ = ['InternImage', 'FlashInternImage', 'CustomLayerDecayOptimizerConstructor', 'deploy']


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f'.{_LAZY[name]}', __name__), name)
    elif name == 'deploy':
        value = importlib.import_module('.deploy', __name__)
    else:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    globals()[name] = value
    return value
