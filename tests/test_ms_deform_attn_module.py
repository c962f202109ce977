"""mmcv's MultiScaleDeformableAttention on the op package (internimage/models/ms_deform_attn.py): the same
module and results as mmcv's, in our DINO (all variants) and Mask2Former models."""
import copy

import pytest
import torch
from mmcv.ops.multi_scale_deform_attn import MultiScaleDeformableAttention

from internimage.models.ms_deform_attn import OpsMultiScaleDeformableAttention, use_ops_ms_deform_attn
from test_published_models import build_on_meta

SHAPES = torch.tensor([[8, 11], [4, 6], [2, 3], [1, 2]])


def inputs(batch_first, reference_dims, dtype, queries=7, seed=0):
    gen = torch.Generator().manual_seed(seed)
    keys = int(SHAPES.prod(-1).sum())
    query = torch.randn(2, queries, 64, generator=gen, dtype=dtype)
    query_pos = torch.randn(2, queries, 64, generator=gen, dtype=dtype)
    value = torch.randn(2, keys, 64, generator=gen, dtype=dtype)
    reference = torch.rand(2, queries, 4, reference_dims, generator=gen, dtype=dtype)
    if not batch_first:
        query, query_pos, value = query.transpose(0, 1), query_pos.transpose(0, 1), value.transpose(0, 1)
    mask = torch.zeros(2, keys, dtype=torch.bool)
    mask[1, -5:] = True
    start = torch.cumsum(SHAPES.prod(-1), 0) - SHAPES.prod(-1)
    return dict(query=query, value=value, query_pos=query_pos, key_padding_mask=mask,
                reference_points=reference, spatial_shapes=SHAPES, level_start_index=start)


@pytest.mark.parametrize('batch_first,reference_dims', [(True, 2), (False, 4)])
@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_same_outputs_and_gradients_as_mmcv(batch_first, reference_dims, dtype, tol):
    torch.manual_seed(0)
    theirs = MultiScaleDeformableAttention(64, num_heads=4, num_levels=4, num_points=3, batch_first=batch_first,
                                           dropout=0.0).to(dtype)
    with torch.no_grad():  # offsets of a few pixels (mmcv initialises them on a ring)
        theirs.sampling_offsets.weight.normal_(0, 0.3)
        theirs.attention_weights.weight.normal_(0, 0.3)
    ours = copy.deepcopy(theirs)
    assert use_ops_ms_deform_attn(ours) == 1 and type(ours) is OpsMultiScaleDeformableAttention
    assert list(ours.state_dict()) == list(theirs.state_dict())
    results = []
    for module in (ours, theirs):
        args = inputs(batch_first, reference_dims, dtype)
        leaves = [args['query'].requires_grad_(), args['value'].requires_grad_()]
        out = module(**args)
        results.append((out, *torch.autograd.grad(out.square().sum(), leaves + list(module.parameters()))))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize('name,expected', [('dino_4scale_internimage_t_1x_coco_layer_wise_lr', 12),
                                           ('dino_4scale_cbinternimage_h_objects365_coco_ss', 12),
                                           ('dino_4scale_internimage_g_objects365_coco_ss', 12),
                                           ('mask2former_internimage_h_896_80k_cocostuff2ade20k_ss', 6)])
def test_models_use_the_op(name, expected):
    """Every deformable attention of our DINO variants (6 encoder + 6 decoder layers) and of
    Mask2Former's pixel decoder (6 layers) runs on the op; none is left to mmcv's forward."""
    model = build_on_meta(name)
    kinds = [type(m) for m in model.modules() if isinstance(m, MultiScaleDeformableAttention)]
    assert kinds == [OpsMultiScaleDeformableAttention] * expected


def test_flops_count_as_mmcv_module():
    """internimage.analysis.flops counts the op as mmcv's grid_sample path was counted: the same total."""
    from internimage.analysis.flops import flop_analyzer
    torch.manual_seed(0)
    theirs = MultiScaleDeformableAttention(64, num_heads=4, num_levels=4, num_points=3, batch_first=True).eval()
    ours = copy.deepcopy(theirs)
    use_ops_ms_deform_attn(ours)
    args = inputs(True, 2, torch.float32)
    order = ('query', 'value', 'query_pos', 'key_padding_mask', 'reference_points', 'spatial_shapes',
             'level_start_index')

    class Positional(torch.nn.Module):  # FlopAnalyzer traces positional arguments
        def __init__(self, attention):
            super().__init__()
            self.attention = attention

        def forward(self, *values):
            return self.attention(**dict(zip(order, values)))
    totals = [flop_analyzer(Positional(m), tuple(args[k] for k in order)).total() for m in (ours, theirs)]
    assert totals[0] == totals[1] > 0
