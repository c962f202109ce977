"""DCNv3, the deformable convolution at the core of InternImage.

- ``ops_dcnv3.functions``: the operator (``DCNv3Function``, compiled) and its
  pure-PyTorch reference (``dcnv3_core_pytorch``).
- ``ops_dcnv3.modules``: the learnable layers ``DCNv3`` and ``DCNv3_pytorch``.
- ``ops_dcnv3.backends()``: the devices that have a compiled kernel.
- ``ops_dcnv3.onnx``: export of the op as ONNX ``DeformConv`` (TorchScript exporter:
  registered on import; dynamo exporter: ``ops_dcnv3.onnx.custom_translation_table()``).

The conventions (offset layout, x-major point order, offset_scale, remove_center,
zero padding) are those of the published InternImage checkpoints.
"""
from ._extension import IMPORT_ERROR as _IMPORT_ERROR, backends
from . import functions, modules, onnx

if _IMPORT_ERROR is None:
    onnx.register_torchscript_symbolic()

__all__ = ['backends', 'functions', 'modules', 'onnx']
__version__ = '1.0.0'
