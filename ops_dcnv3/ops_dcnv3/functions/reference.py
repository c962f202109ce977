"""Pure-PyTorch references of the DCNv3 and DCNv4 cores and of multi-scale deformable attention (bilinear
sampling via grid_sample).

They run anywhere PyTorch runs and define the semantics the compiled kernels are
tested against; see docs/en/advanced_guides/dcnv3_spec.md for the conventions. DCNv4 is DCNv3 with the
offsets and the raw mask read from one tensor (:func:`split_offset_mask`).
"""
import torch
import torch.nn.functional as F

from .checks import check_dcnv3_args, check_dcnv4_args, check_ms_deform_attn_args, padded_offset_mask_channels


def regular_grid(kernel_h, kernel_w, dilation_h, dilation_w, remove_center, device, dtype):
    """(P, 2) positions (x, y) of the kernel's points relative to its centre, x-major."""
    a = torch.arange(kernel_w, device=device, dtype=dtype) * dilation_w
    b = torch.arange(kernel_h, device=device, dtype=dtype) * dilation_h
    dx, dy = torch.meshgrid(a - (dilation_w * (kernel_w - 1)) // 2,
                            b - (dilation_h * (kernel_h - 1)) // 2, indexing='ij')
    points = torch.stack([dx.reshape(-1), dy.reshape(-1)], dim=-1)  # index a * Kh + b
    if remove_center:
        centre = (kernel_w // 2) * kernel_h + kernel_h // 2
        points = torch.cat([points[:centre], points[centre + 1:]])
    return points


def dcnv3_core_pytorch(input, offset, mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                       dilation_h, dilation_w, group, group_channels, offset_scale, remove_center=0):
    """DCNv3 core on channels-last tensors; see ``DCNv3Function.apply`` for the arguments."""
    h_out, w_out, points = check_dcnv3_args(
        input, offset, mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
        dilation_h, dilation_w, group, group_channels, offset_scale, remove_center)
    n, h_in, w_in, _ = input.shape
    dtype, device = input.dtype, input.device

    grid = regular_grid(kernel_h, kernel_w, dilation_h, dilation_w, remove_center, device, dtype)
    start_x = torch.arange(w_out, device=device, dtype=dtype) * stride_w - pad_w + (dilation_w * (kernel_w - 1)) // 2
    start_y = torch.arange(h_out, device=device, dtype=dtype) * stride_h - pad_h + (dilation_h * (kernel_h - 1)) // 2
    off = offset.reshape(n, h_out, w_out, group, points, 2)
    px = start_x.view(1, 1, w_out, 1, 1) + (grid[:, 0] + off[..., 0]) * offset_scale
    py = start_y.view(1, h_out, 1, 1, 1) + (grid[:, 1] + off[..., 1]) * offset_scale

    # grid_sample with align_corners=False puts pixel centres at (2 i + 1) / size - 1.
    sample_grid = torch.stack([(2 * px + 1) / w_in - 1, (2 * py + 1) / h_in - 1], dim=-1)
    sample_grid = sample_grid.permute(0, 3, 1, 2, 4, 5).reshape(n * group, h_out * w_out, points, 2)
    value = input.reshape(n, h_in, w_in, group, group_channels).permute(0, 3, 4, 1, 2)
    value = value.reshape(n * group, group_channels, h_in, w_in)
    sampled = F.grid_sample(value, sample_grid, mode='bilinear', padding_mode='zeros', align_corners=False)

    weights = mask.reshape(n, h_out, w_out, group, points).permute(0, 3, 1, 2, 4)
    weights = weights.reshape(n * group, 1, h_out * w_out, points)
    output = (sampled * weights).sum(-1)  # (N*G, Cg, H_out*W_out)
    output = output.reshape(n, group, group_channels, h_out, w_out).permute(0, 3, 4, 1, 2)
    return output.reshape(n, h_out, w_out, group * group_channels)


def split_offset_mask(offset_mask, group, points):
    """DCNv4's ``offset_mask`` (N, H, W, K_pad) as DCNv3's ``offset`` (N, H, W, G*P*2) and ``mask``
    (N, H, W, G*P): group g's 2P offsets (x, y per point) then its P mask values start at g*3P,
    and the channels past 3GP are ignored."""
    n, h, w, _ = offset_mask.shape
    grouped = offset_mask[..., :3 * group * points].reshape(n, h, w, group, 3 * points)
    offset, mask = grouped.split([2 * points, points], dim=-1)
    return offset.reshape(n, h, w, -1), mask.reshape(n, h, w, -1)


def pack_offset_mask(offset, mask, group):
    """The inverse of :func:`split_offset_mask`: DCNv3's offset and mask in one zero-padded DCNv4 tensor."""
    n, h, w, _ = offset.shape
    packed = torch.cat([offset.reshape(n, h, w, group, -1), mask.reshape(n, h, w, group, -1)], dim=-1)
    packed = packed.reshape(n, h, w, -1)
    points = mask.shape[-1] // group
    return F.pad(packed, (0, padded_offset_mask_channels(group, points) - packed.shape[-1]))


def dcnv4_core_pytorch(value, offset_mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                       dilation_h, dilation_w, group, group_channels, offset_scale, remove_center=0):
    """DCNv4 core on channels-last tensors; see ``DCNv4Function.apply`` for the arguments."""
    _, _, points = check_dcnv4_args(value, offset_mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                                    dilation_h, dilation_w, group, group_channels, offset_scale, remove_center)
    offset, mask = split_offset_mask(offset_mask, group, points)
    return dcnv3_core_pytorch(value, offset, mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                              dilation_h, dilation_w, group, group_channels, offset_scale, remove_center)


def ms_deform_attn_pytorch(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
    """Multi-scale deformable attention, as mmcv's ``multi_scale_deformable_attn_pytorch``: value
    (N, keys, heads, D), levels of (H, W) = ``spatial_shapes`` tiling the keys from
    ``level_start_index``, normalised (x, y) ``sampling_locations`` (N, Q, heads, levels, points, 2)
    sampled bilinearly with align_corners=False and zero padding, weighted by ``attention_weights``
    (N, Q, heads, levels, points) and summed: (N, Q, heads x D). One grid_sample per level."""
    check_ms_deform_attn_args(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
    n, _, heads, dim = value.shape
    _, queries, _, levels, points, _ = sampling_locations.shape
    grid = (2 * sampling_locations - 1).transpose(1, 2).flatten(0, 1)  # (N*heads, Q, levels, points, 2)
    shapes = spatial_shapes.tolist()
    sampled = []
    # The checks made level_start_index the running sum of the level sizes: split by the sizes.
    for level, keys in enumerate(value.split([height * width for height, width in shapes], dim=1)):
        height, width = shapes[level]
        image = keys.permute(0, 2, 3, 1).reshape(n * heads, dim, height, width)  # keys: (N, H*W, heads, D)
        sampled.append(F.grid_sample(image, grid[:, :, level], mode='bilinear', padding_mode='zeros',
                                     align_corners=False))  # (N*heads, D, Q, points)
    weights = attention_weights.transpose(1, 2).reshape(n * heads, 1, queries, levels * points)
    output = (torch.cat(sampled, dim=-1) * weights).sum(-1)  # (N*heads, D, Q)
    return output.reshape(n, heads * dim, queries).transpose(1, 2).contiguous()
