"""Argument validation of the DCNv3 core, shared by the compiled op and the reference.

Every error names the argument at fault and the shapes involved, and is raised
before any kernel runs.
"""
import torch

from .._extension import output_size


def check_dcnv3_args(input, offset, mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                     dilation_h, dilation_w, group, group_channels, offset_scale, remove_center,
                     check_dtype=True):
    """Validate the core's arguments; return (H_out, W_out, points).

    ``check_dtype=False`` skips the same-dtype rule, for autocast regions where the
    op's autocast kernel unifies the dtypes itself.
    """
    for name, tensor in (('input', input), ('offset', offset), ('mask', mask)):
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f'DCNv3: {name} must be a tensor, got {type(tensor).__name__}')
        if tensor.dim() != 4:
            raise ValueError(f'DCNv3: {name} must be 4-d channels-last (N, H, W, C), '
                             f'got shape {tuple(tensor.shape)}')
        if not tensor.is_floating_point():
            raise TypeError(f'DCNv3: {name} must be floating point, got {tensor.dtype}')
    if offset.device != input.device or mask.device != input.device:
        raise ValueError(f'DCNv3: input, offset and mask must be on one device, got '
                         f'{input.device}, {offset.device}, {mask.device}')
    if check_dtype and (offset.dtype != input.dtype or mask.dtype != input.dtype):
        raise TypeError(f'DCNv3: input, offset and mask must share a dtype, got '
                        f'{input.dtype}, {offset.dtype}, {mask.dtype}')
    for name, value in (('kernel_h', kernel_h), ('kernel_w', kernel_w), ('stride_h', stride_h),
                        ('stride_w', stride_w), ('dilation_h', dilation_h),
                        ('dilation_w', dilation_w), ('group', group),
                        ('group_channels', group_channels)):
        if int(value) != value or value < 1:
            raise ValueError(f'DCNv3: {name} must be a positive integer, got {value!r}')
    if pad_h < 0 or pad_w < 0:
        raise ValueError(f'DCNv3: padding must be non-negative, got ({pad_h}, {pad_w})')
    n, h, w, c = input.shape
    if c != group * group_channels:
        raise ValueError(f'DCNv3: input has {c} channels, but group x group_channels = '
                         f'{group} x {group_channels} = {group * group_channels}')
    if remove_center and (kernel_h % 2 == 0 or kernel_w % 2 == 0):
        raise ValueError(f'DCNv3: remove_center needs an odd kernel, got {kernel_h}x{kernel_w}')
    h_out = output_size(h, kernel_h, stride_h, pad_h, dilation_h)
    w_out = output_size(w, kernel_w, stride_w, pad_w, dilation_w)
    if h_out < 1 or w_out < 1:
        raise ValueError(f'DCNv3: input of size {h}x{w} is too small for kernel {kernel_h}x{kernel_w}, '
                         f'dilation ({dilation_h}, {dilation_w}) and padding ({pad_h}, {pad_w})')
    points = kernel_h * kernel_w - (1 if remove_center else 0)
    expected = {'offset': (n, h_out, w_out, group * points * 2), 'mask': (n, h_out, w_out, group * points)}
    for name, tensor in (('offset', offset), ('mask', mask)):
        if tuple(tensor.shape) != expected[name]:
            raise ValueError(f'DCNv3: {name} must have shape {expected[name]} (N, H_out, W_out, '
                             f'group {group} x {points} points{" x 2" if name == "offset" else ""}), '
                             f'got {tuple(tensor.shape)}')
    return h_out, w_out, points
