"""mmcv's ``MultiScaleDeformableAttention`` running the op package's kernel.

mmdet's DINO / Deformable DETR layers and its ``MSDeformAttnPixelDecoder`` (Mask2Former) build
``mmcv.ops.MultiScaleDeformableAttention`` themselves, and its forward samples with mmcv's CUDA
kernel on a GPU and otherwise with ``multi_scale_deformable_attn_pytorch`` (one grid_sample per
level, then stack, multiply, sum: most of DINO's CPU time). :func:`use_ops_ms_deform_attn`, called
by our detectors and Mask2Former head once they are built, turns every such module into an
:class:`OpsMultiScaleDeformableAttention`: the same module (same parameters, same state_dict,
same results), whose sampling is ``ops_dcnv3::ms_deform_attn_forward`` on every device the op
package has a kernel for. Elsewhere, and during ONNX export (so that exports keep mmcv's
standard GridSample graph), it is mmcv's own forward.
"""
import torch
from mmcv.ops.multi_scale_deform_attn import MultiScaleDeformableAttention

import ops_dcnv3
from ops_dcnv3.functions import ms_deform_attn


class OpsMultiScaleDeformableAttention(MultiScaleDeformableAttention):
    """``MultiScaleDeformableAttention`` whose sampling runs in the op package where it is built."""

    def forward(self, query, key=None, value=None, identity=None, query_pos=None, key_padding_mask=None,
                reference_points=None, spatial_shapes=None, level_start_index=None, **kwargs):
        source = query if value is None else value
        if source.device.type not in ops_dcnv3.backends() or torch.onnx.is_in_onnx_export():
            return super().forward(query, key, value, identity, query_pos, key_padding_mask, reference_points,
                                   spatial_shapes, level_start_index, **kwargs)
        # mmcv's forward (mmcv 2.x) with its sampling call replaced; the same arithmetic in the same order.
        value = query if value is None else value
        identity = query if identity is None else identity
        if query_pos is not None:
            query = query + query_pos
        if not self.batch_first:
            query, value = query.permute(1, 0, 2), value.permute(1, 0, 2)
        bs, num_query, _ = query.shape
        num_value = value.shape[1]
        value = self.value_proj(value)
        if key_padding_mask is not None:
            value = value.masked_fill(key_padding_mask[..., None], 0.0)
        value = value.view(bs, num_value, self.num_heads, -1)
        shape = (bs, num_query, self.num_heads, self.num_levels, self.num_points)
        sampling_offsets = self.sampling_offsets(query).view(*shape, 2)
        attention_weights = self.attention_weights(query).view(bs, num_query, self.num_heads, -1).softmax(-1)
        attention_weights = attention_weights.view(shape)
        if reference_points.shape[-1] == 2:
            offset_normalizer = torch.stack([spatial_shapes[..., 1], spatial_shapes[..., 0]], -1)
            sampling_locations = (reference_points[:, :, None, :, None, :]
                                  + sampling_offsets / offset_normalizer[None, None, None, :, None, :])
        elif reference_points.shape[-1] == 4:
            sampling_locations = (reference_points[:, :, None, :, None, :2] + sampling_offsets / self.num_points
                                  * reference_points[:, :, None, :, None, 2:] * 0.5)
        else:
            raise ValueError(f'Last dim of reference_points must be 2 or 4, but get {reference_points.shape[-1]} '
                             'instead.')
        if not torch.is_autocast_enabled(value.device.type):
            # As mmcv's CUDA function: in value's dtype (a half model's reference points stay float32).
            sampling_locations, attention_weights = sampling_locations.type_as(value), attention_weights.type_as(value)
        output = ms_deform_attn(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
        output = self.output_proj(output)
        if not self.batch_first:
            output = output.permute(1, 0, 2)
        return self.dropout(output) + identity


def use_ops_ms_deform_attn(model):
    """Make every mmcv ``MultiScaleDeformableAttention`` of ``model`` (exactly that class, not a
    subclass with a forward of its own) an :class:`OpsMultiScaleDeformableAttention`, in place;
    returns how many. Parameters, buffers and hooks are untouched: only the forward changes."""
    swapped = 0
    for module in model.modules():
        if type(module) is MultiScaleDeformableAttention:
            module.__class__ = OpsMultiScaleDeformableAttention
            swapped += 1
    return swapped
