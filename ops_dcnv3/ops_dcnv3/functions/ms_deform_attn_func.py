"""Front end of the compiled multi-scale deformable attention operator (Deformable DETR's, as
mmcv's ``multi_scale_deformable_attn_pytorch`` computes it; see csrc/ms_deform_attn.h)."""
import torch

from .checks import check_ms_deform_attn_args
from .dcnv3_func import _exporting, _has_kernel
from .reference import ms_deform_attn_pytorch


def ms_deform_attn(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
    """Multi-scale deformable attention: (N, Q, heads x D) from value (N, keys, heads, D),
    spatial_shapes (levels, 2) as (H, W), level_start_index (levels,), sampling_locations
    (N, Q, heads, levels, points, 2) as normalised (x, y) in [0, 1], attention_weights
    (N, Q, heads, levels, points).

    The op is ``torch.ops.ops_dcnv3.ms_deform_attn_forward`` (autograd, fake and autocast
    registered; under autocast it runs in float32, sampling positions being too coarse in 16
    bits). During ONNX export, on a device without a compiled kernel (one warning) or without
    the extension, it is :func:`ms_deform_attn_pytorch` (one grid_sample per level).
    """
    if _exporting() or not _has_kernel(value):
        return ms_deform_attn_pytorch(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
    check_ms_deform_attn_args(value, spatial_shapes, level_start_index, sampling_locations, attention_weights,
                              check_dtype=not torch.is_autocast_enabled(value.device.type))
    return torch.ops.ops_dcnv3.ms_deform_attn_forward(value, spatial_shapes, level_start_index, sampling_locations,
                                                      attention_weights)
