from .dcnv3 import DCNv3, DCNv3_pytorch
from .dcnv4 import DCNv4, DCNv4_pytorch
from .layers import build_act_layer, build_norm_layer, linear, residual_sum, to_channels_first, to_channels_last

__all__ = ['DCNv3', 'DCNv3_pytorch', 'DCNv4', 'DCNv4_pytorch', 'build_act_layer', 'build_norm_layer', 'linear',
           'residual_sum', 'to_channels_first', 'to_channels_last']
