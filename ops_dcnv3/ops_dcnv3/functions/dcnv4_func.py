"""Front end of the compiled DCNv4 operator, with the published calling convention.

DCNv4 samples like DCNv3 (docs/en/advanced_guides/dcnv3_spec.md) but reads each pixel's offsets and mask from one
tensor ``offset_mask`` (N, H_out, W_out, K_pad): group g's 2P offsets (x then y, point by
point) then its P mask values start at g*3P; K_pad is 3GP rounded up to a multiple of 8 and
the channels past 3GP are ignored (their gradient is 0). The mask is used as it is (no
softmax). Unlike the published CUDA-only kernel (3x3 kernels, group widths that are
multiples of 16), any kernel size and group width work.
"""
import torch

from .checks import check_dcnv4_args
from .dcnv3_func import _has_kernel, _params
from .reference import dcnv4_core_pytorch


class DCNv4Function:
    """``DCNv4Function.apply(...)`` as in the published package.

    The op is ``torch.ops.ops_dcnv3.dcnv4_forward`` (autograd, fake and autocast
    registered). On a device without a compiled kernel, or when the extension is not
    built, it falls back to :func:`dcnv4_core_pytorch` with one warning.
    """

    @staticmethod
    def apply(value, offset_mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
              dilation_h, dilation_w, group, group_channels, offset_scale, im2col_step=256,
              remove_center=0):
        """Deformable sampling of ``value`` (N, H, W, G*D) with ``offset_mask``
        (N, H_out, W_out, K_pad); ``im2col_step`` is accepted for compatibility and ignored."""
        params = _params(kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, group,
                         group_channels, offset_scale, remove_center)
        if not _has_kernel(value):
            return dcnv4_core_pytorch(value, offset_mask, *params)
        check_dcnv4_args(value, offset_mask, *params, check_dtype=not torch.is_autocast_enabled(value.device.type))
        return torch.ops.ops_dcnv3.dcnv4_forward(value, offset_mask, *params)
