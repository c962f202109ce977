"""DCNv3, the deformable convolution at the core of InternImage.

- ``ops_dcnv3.functions``: the operator (``DCNv3Function``, compiled) and its
  pure-PyTorch reference (``dcnv3_core_pytorch``).
- ``ops_dcnv3.modules``: the learnable layers ``DCNv3`` and ``DCNv3_pytorch``.
- ``ops_dcnv3.backends()``: the devices that have a compiled kernel.

The conventions (offset layout, x-major point order, offset_scale, remove_center,
zero padding) are those of the published InternImage checkpoints.
"""
from ._extension import backends
from . import functions, modules

__all__ = ['backends', 'functions', 'modules']
__version__ = '1.0.0'
