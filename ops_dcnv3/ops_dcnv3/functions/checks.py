"""Argument validation of the DCNv3 and DCNv4 cores, shared by the compiled ops and the references.

Every error names the argument at fault and the shapes involved, and is raised
before any kernel runs.
"""
import torch

from .._extension import output_size


def padded_offset_mask_channels(group, points):
    """K_pad of DCNv4's ``offset_mask``: 3 values per point and group, rounded up to a multiple of 8."""
    return (3 * group * points + 7) // 8 * 8


def _check_geometry(op, tensors, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w,
                    group, group_channels, check_dtype):
    """Checks common to both cores: ``tensors`` maps names to tensors, the input first.
    Returns (H_out, W_out)."""
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f'{op}: {name} must be a tensor, got {type(tensor).__name__}')
        if tensor.dim() != 4:
            raise ValueError(f'{op}: {name} must be 4-d channels-last (N, H, W, C), '
                             f'got shape {tuple(tensor.shape)}')
        if not tensor.is_floating_point():
            raise TypeError(f'{op}: {name} must be floating point, got {tensor.dtype}')
    names, values = ', '.join(tensors), list(tensors.values())
    if any(t.device != values[0].device for t in values):
        raise ValueError(f'{op}: {names} must be on one device, got '
                         f'{", ".join(str(t.device) for t in values)}')
    if check_dtype and any(t.dtype != values[0].dtype for t in values):
        raise TypeError(f'{op}: {names} must share a dtype, got {", ".join(str(t.dtype) for t in values)}')
    for name, value in (('kernel_h', kernel_h), ('kernel_w', kernel_w), ('stride_h', stride_h),
                        ('stride_w', stride_w), ('dilation_h', dilation_h),
                        ('dilation_w', dilation_w), ('group', group),
                        ('group_channels', group_channels)):
        if int(value) != value or value < 1:
            raise ValueError(f'{op}: {name} must be a positive integer, got {value!r}')
    if pad_h < 0 or pad_w < 0:
        raise ValueError(f'{op}: padding must be non-negative, got ({pad_h}, {pad_w})')
    name, input = next(iter(tensors.items()))
    n, h, w, c = input.shape
    if c != group * group_channels:
        raise ValueError(f'{op}: {name} has {c} channels, but group x group_channels = '
                         f'{group} x {group_channels} = {group * group_channels}')
    h_out = output_size(h, kernel_h, stride_h, pad_h, dilation_h)
    w_out = output_size(w, kernel_w, stride_w, pad_w, dilation_w)
    if h_out < 1 or w_out < 1:
        raise ValueError(f'{op}: {name} of size {h}x{w} is too small for kernel {kernel_h}x{kernel_w}, '
                         f'dilation ({dilation_h}, {dilation_w}) and padding ({pad_h}, {pad_w})')
    return h_out, w_out


def _points(op, kernel_h, kernel_w, remove_center):
    if remove_center and (kernel_h % 2 == 0 or kernel_w % 2 == 0):
        raise ValueError(f'{op}: remove_center needs an odd kernel, got {kernel_h}x{kernel_w}')
    return kernel_h * kernel_w - (1 if remove_center else 0)


def check_dcnv3_args(input, offset, mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                     dilation_h, dilation_w, group, group_channels, offset_scale, remove_center,
                     check_dtype=True):
    """Validate the core's arguments; return (H_out, W_out, points).

    ``check_dtype=False`` skips the same-dtype rule, for autocast regions where the
    op's autocast kernel unifies the dtypes itself.
    """
    h_out, w_out = _check_geometry('DCNv3', {'input': input, 'offset': offset, 'mask': mask}, kernel_h, kernel_w,
                                   stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, group, group_channels,
                                   check_dtype)
    points = _points('DCNv3', kernel_h, kernel_w, remove_center)
    n = input.shape[0]
    expected = {'offset': (n, h_out, w_out, group * points * 2), 'mask': (n, h_out, w_out, group * points)}
    for name, tensor in (('offset', offset), ('mask', mask)):
        if tuple(tensor.shape) != expected[name]:
            raise ValueError(f'DCNv3: {name} must have shape {expected[name]} (N, H_out, W_out, '
                             f'group {group} x {points} points{" x 2" if name == "offset" else ""}), '
                             f'got {tuple(tensor.shape)}')
    return h_out, w_out, points


def check_dcnv4_args(value, offset_mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                     dilation_h, dilation_w, group, group_channels, offset_scale, remove_center,
                     check_dtype=True):
    """Validate the DCNv4 core's arguments; return (H_out, W_out, points)."""
    h_out, w_out = _check_geometry('DCNv4', {'value': value, 'offset_mask': offset_mask}, kernel_h, kernel_w,
                                   stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, group, group_channels,
                                   check_dtype)
    points = _points('DCNv4', kernel_h, kernel_w, remove_center)
    if points < 1:
        raise ValueError(f'DCNv4: remove_center leaves no sampling point in a {kernel_h}x{kernel_w} kernel')
    k_pad = padded_offset_mask_channels(group, points)
    expected = (value.shape[0], h_out, w_out, k_pad)
    if tuple(offset_mask.shape) != expected:
        raise ValueError(f'DCNv4: offset_mask must have shape {expected} (N, H_out, W_out, K_pad = 3 x group '
                         f'{group} x {points} points = {3 * group * points}, rounded up to a multiple of 8), '
                         f'got {tuple(offset_mask.shape)}')
    return h_out, w_out, points


def check_ms_deform_attn_args(value, spatial_shapes, level_start_index, sampling_locations, attention_weights,
                              check_dtype=True):
    """Validate multi-scale deformable attention's arguments (shapes as mmcv's
    ``multi_scale_deformable_attn_pytorch``); return (levels, points)."""
    op = 'ms_deform_attn'
    tensors = {'value': value, 'spatial_shapes': spatial_shapes, 'level_start_index': level_start_index,
               'sampling_locations': sampling_locations, 'attention_weights': attention_weights}
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f'{op}: {name} must be a tensor, got {type(tensor).__name__}')
    if value.dim() != 4:
        raise ValueError(f'{op}: value must be 4-d (N, keys, heads, channels), got shape {tuple(value.shape)}')
    n, keys, heads, _ = value.shape
    if sampling_locations.dim() != 6 or sampling_locations.shape[-1] != 2:
        raise ValueError(f'{op}: sampling_locations must be (N, queries, heads, levels, points, 2), '
                         f'got shape {tuple(sampling_locations.shape)}')
    queries, levels, points = (sampling_locations.shape[i] for i in (1, 3, 4))
    expected = {'sampling_locations': (n, queries, heads, levels, points, 2),
                'attention_weights': (n, queries, heads, levels, points), 'spatial_shapes': (levels, 2),
                'level_start_index': (levels,)}
    for name, shape in expected.items():
        if tuple(tensors[name].shape) != shape:
            raise ValueError(f'{op}: {name} must have shape {shape} for value {tuple(value.shape)} and '
                             f'{levels} levels x {points} points, got {tuple(tensors[name].shape)}')
    for name in ('spatial_shapes', 'level_start_index'):
        if tensors[name].is_floating_point() or tensors[name].is_complex():
            raise TypeError(f'{op}: {name} must be an integer tensor, got {tensors[name].dtype}')
    floats = {name: tensors[name] for name in ('value', 'sampling_locations', 'attention_weights')}
    for name, tensor in floats.items():
        if not tensor.is_floating_point():
            raise TypeError(f'{op}: {name} must be floating point, got {tensor.dtype}')
    if check_dtype and len({t.dtype for t in floats.values()}) > 1:
        raise TypeError(f'{op}: value, sampling_locations and attention_weights must share a dtype, got '
                        f'{", ".join(str(t.dtype) for t in floats.values())}')
    if any(t.device != value.device for t in tensors.values()):
        raise ValueError(f'{op}: all tensors must be on one device, got '
                         f'{", ".join(f"{k} on {t.device}" for k, t in tensors.items())}')
    # The levels must tile value's keys (reading the shapes needs the host: CPU tensors only).
    if spatial_shapes.device.type == 'cpu' and not _tracing():
        sizes = spatial_shapes.prod(-1)
        if int(sizes.sum()) != keys:
            raise ValueError(f'{op}: spatial_shapes {spatial_shapes.tolist()} hold {int(sizes.sum())} keys, '
                             f'value has {keys}')
        starts = torch.cumsum(sizes, 0) - sizes
        if not torch.equal(level_start_index.cpu().long(), starts.long()):
            raise ValueError(f'{op}: level_start_index must be {starts.tolist()} (the sizes of the levels before '
                             f'each), got {level_start_index.tolist()}')
    return levels, points


def _tracing():
    """True under torch.compile / export tracing or TorchScript tracing, where values are not concrete."""
    return torch.compiler.is_compiling() or torch.jit.is_tracing()
