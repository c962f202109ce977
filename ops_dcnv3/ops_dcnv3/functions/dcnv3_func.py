"""Front end of the compiled DCNv3 operator, with the published calling convention."""
import warnings

import torch
import torch.nn.functional as F

from .. import _extension
from .checks import check_dcnv3_args
from .reference import dcnv3_core_pytorch

_warned = set()


def _warn_once(key, message):
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def _params(kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, group,
            group_channels, offset_scale, remove_center):
    """The op's scalar arguments, in the types of its schema."""
    return (int(kernel_h), int(kernel_w), int(stride_h), int(stride_w), int(pad_h), int(pad_w),
            int(dilation_h), int(dilation_w), int(group), int(group_channels), float(offset_scale),
            int(bool(remove_center)))


def _has_kernel(input):
    """True if the compiled op runs on ``input``'s device; else warns once (the reference will run)."""
    device = input.device.type if isinstance(input, torch.Tensor) else None
    if device in _extension.backends():
        return True
    if _extension.IMPORT_ERROR is not None:
        reason = f'the compiled extension did not load ({_extension.IMPORT_ERROR})'
    else:
        reason = f'it has no compiled kernel for {device!r} (built for {sorted(_extension.backends())})'
    _warn_once(device, f'ops_dcnv3: {reason}; using the slower pure-PyTorch reference. '
                       'Rebuild with `pip install --no-build-isolation ./ops_dcnv3`.')
    return False


def _check(input, offset, mask, params):
    # Under autocast dtypes legitimately differ; the autocast kernel unifies them.
    check_dcnv3_args(input, offset, mask, *params, check_dtype=not torch.is_autocast_enabled(input.device.type))


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
        params = _params(kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, group,
                         group_channels, offset_scale, remove_center)
        if not _has_kernel(input):
            return dcnv3_core_pytorch(input, offset, mask, *params)
        _check(input, offset, mask, params)
        return torch.ops.ops_dcnv3.dcnv3_forward(input, offset, mask, *params)


def mask_softmax(mask_logits, group):
    """Softmax of (N, H, W, G*P) mask logits over each group's P points, as the published layer."""
    n, h, w, _ = mask_logits.shape
    return F.softmax(mask_logits.reshape(n, h, w, group, -1), dim=-1).reshape(n, h, w, -1)


def dcnv3_softmax_core(input, offset, mask_logits, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                       dilation_h, dilation_w, group, group_channels, offset_scale, remove_center=0):
    """DCNv3 weighted by the softmax of ``mask_logits`` over each group's points.

    Equals ``DCNv3Function.apply(input, offset, mask_softmax(mask_logits, group).type(input.dtype),
    ...)``. On the CPU (outside ONNX export) this is one op, ``ops_dcnv3::dcnv3_softmax_forward``,
    whose kernel applies the softmax as it reads the mask; elsewhere it is those two steps.
    ``offset`` and ``mask_logits`` may be column slices of one tensor (no copy on the CPU).
    """
    params = _params(kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, group,
                     group_channels, offset_scale, remove_center)
    fused = (isinstance(input, torch.Tensor) and input.device.type == 'cpu' and 'cpu' in _extension.backends()
             and not _exporting())
    if not fused:
        mask = mask_softmax(mask_logits, group).type(input.dtype)
        return DCNv3Function.apply(input, offset, mask, *params[:-1], 256, params[-1])
    _check(input, offset, mask_logits, params)
    return torch.ops.ops_dcnv3.dcnv3_softmax_forward(input, offset, mask_logits, *params)


def _exporting():
    """True during ONNX export, whose translation knows ``ops_dcnv3::dcnv3_forward`` only."""
    return torch.onnx.is_in_onnx_export()
