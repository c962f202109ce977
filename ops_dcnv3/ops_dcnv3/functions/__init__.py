from .dcnv3_func import DCNv3Function, dcnv3_softmax_core, mask_softmax
from .dcnv4_func import DCNv4Function
from .ms_deform_attn_func import ms_deform_attn
from .reference import (dcnv3_core_pytorch, dcnv4_core_pytorch, ms_deform_attn_pytorch, pack_offset_mask,
                        split_offset_mask)

__all__ = ['DCNv3Function', 'DCNv4Function', 'dcnv3_core_pytorch', 'dcnv3_softmax_core', 'dcnv4_core_pytorch',
           'mask_softmax', 'ms_deform_attn', 'ms_deform_attn_pytorch', 'pack_offset_mask', 'split_offset_mask']
