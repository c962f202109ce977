"""Front end of the compiled DCNv3 operator, with the published calling convention."""
import warnings

import torch

from .. import _extension
from .checks import check_dcnv3_args
from .reference import dcnv3_core_pytorch

_warned = set()


def _warn_once(key, message):
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


class DCNv3Function:
    """``DCNv3Function.apply(...)`` as in the published package.

    The op itself is ``torch.ops.ops_dcnv3.dcnv3_forward`` (autograd, fake and
    autocast registered), so it composes with torch.compile and AMP. On a device
    without a compiled kernel, or when the extension is not built, it falls back
    to :func:`dcnv3_core_pytorch` with one warning.
    """

    @staticmethod
    def apply(input, offset, mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
              dilation_h, dilation_w, group, group_channels, offset_scale, im2col_step=256,
              remove_center=0):
        """Deformable sampling of ``input`` (N, H, W, C) at ``offset`` (N, H_out, W_out,
        G*P*2, x before y), weighted by ``mask`` (N, H_out, W_out, G*P).

        ``im2col_step`` is accepted for compatibility and ignored: the kernels
        process the whole batch at once.
        """
        params = (int(kernel_h), int(kernel_w), int(stride_h), int(stride_w), int(pad_h), int(pad_w),
                  int(dilation_h), int(dilation_w), int(group), int(group_channels),
                  float(offset_scale), int(bool(remove_center)))
        device = input.device.type if isinstance(input, torch.Tensor) else None
        if device not in _extension.backends():
            if _extension.IMPORT_ERROR is not None:
                reason = f'the compiled extension did not load ({_extension.IMPORT_ERROR})'
            else:
                reason = f'it has no compiled kernel for {device!r} (built for {sorted(_extension.backends())})'
            _warn_once(device, f'ops_dcnv3: {reason}; using the slower pure-PyTorch reference. '
                               'Rebuild with `pip install --no-build-isolation ./ops_dcnv3`.')
            return dcnv3_core_pytorch(input, offset, mask, *params)
        # Under autocast dtypes legitimately differ; the autocast kernel unifies them.
        check_dcnv3_args(input, offset, mask, *params, check_dtype=not torch.is_autocast_enabled(device))
        return torch.ops.ops_dcnv3.dcnv3_forward(input, offset, mask, *params)
