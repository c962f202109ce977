"""DCNv3, the deformable convolution at the core of InternImage, its successor DCNv4, and the
multi-scale deformable attention of the DINO and Mask2Former heads.

- ``ops_dcnv3.functions``: the operators (``DCNv3Function``, ``DCNv4Function``, ``ms_deform_attn``,
  compiled) and their pure-PyTorch references (``dcnv3_core_pytorch``, ``dcnv4_core_pytorch``,
  ``ms_deform_attn_pytorch``).
- ``ops_dcnv3.modules``: the learnable layers ``DCNv3``, ``DCNv3_pytorch``, ``DCNv4`` and
  ``DCNv4_pytorch``.
- ``ops_dcnv3.backends()``: the devices that have a compiled kernel.
- ``ops_dcnv3.onnx``: export of the ops as ONNX ``DeformConv`` (TorchScript exporter:
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
