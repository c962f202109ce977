from .dcnv3_func import DCNv3Function, dcnv3_softmax_core, mask_softmax
from .reference import dcnv3_core_pytorch

__all__ = ['DCNv3Function', 'dcnv3_core_pytorch', 'dcnv3_softmax_core', 'mask_softmax']
