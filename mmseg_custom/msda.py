"""Multi-scale deformable attention whose attention weights may be used raw, as the published
FlashInternImage Mask2Former ``_nsmx`` config's pixel decoder (``CustomMultiScaleDeformableAttention``
with ``use_softmax=False``: the weights are the Linear's outputs, not softmaxed over levels and points)."""
import torch
from mmcv.ops.multi_scale_deform_attn import (MultiScaleDeformableAttention, MultiScaleDeformableAttnFunction,
                                              multi_scale_deformable_attn_pytorch)


class CustomMultiScaleDeformableAttention(MultiScaleDeformableAttention):
    """mmcv's MultiScaleDeformableAttention; with ``use_softmax=False`` the attention weights are raw.

    Args:
        use_softmax: softmax over each query's attention weights (mmcv's); False: used as projected.
        *args, **kwargs: mmcv's ``MultiScaleDeformableAttention`` arguments.
    """

    def __init__(self, *args, use_softmax=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.use_softmax = use_softmax

    def forward(self, query, key=None, value=None, identity=None, query_pos=None, key_padding_mask=None,
                reference_points=None, spatial_shapes=None, level_start_index=None, **kwargs):
        if self.use_softmax:
            return super().forward(query, key, value, identity, query_pos, key_padding_mask, reference_points,
                                   spatial_shapes, level_start_index, **kwargs)
        # mmcv's forward without the softmax (2-d reference points: the pixel decoder's)
        value = query if value is None else value
        identity = query if identity is None else identity
        query = query if query_pos is None else query + query_pos
        if not self.batch_first:
            query, value = query.permute(1, 0, 2), value.permute(1, 0, 2)
        bs, num_query, _ = query.shape
        value = self.value_proj(value)
        if key_padding_mask is not None:
            value = value.masked_fill(key_padding_mask[..., None], 0.0)
        value = value.view(bs, value.shape[1], self.num_heads, -1)
        shape = (bs, num_query, self.num_heads, self.num_levels, self.num_points)
        offsets = self.sampling_offsets(query).view(*shape, 2)
        weights = self.attention_weights(query).view(*shape)
        if reference_points.shape[-1] != 2:
            raise ValueError('CustomMultiScaleDeformableAttention: use_softmax=False takes 2-d reference points')
        normalizer = torch.stack([spatial_shapes[..., 1], spatial_shapes[..., 0]], -1)
        locations = reference_points[:, :, None, :, None, :] + offsets / normalizer[None, None, None, :, None, :]
        if value.is_cuda:
            output = MultiScaleDeformableAttnFunction.apply(value, spatial_shapes, level_start_index, locations,
                                                            weights, self.im2col_step)
        else:
            output = multi_scale_deformable_attn_pytorch(value, spatial_shapes, locations, weights)
        output = self.output_proj(output)
        if not self.batch_first:
            output = output.permute(1, 0, 2)
        return self.dropout(output) + identity
