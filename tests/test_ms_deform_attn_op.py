"""The compiled multi-scale deformable attention (ops_dcnv3::ms_deform_attn_forward) against mmcv's
``multi_scale_deformable_attn_pytorch``, whose semantics it must have exactly (DINO and
Mask2Former checkpoints were trained with it): forward and gradients in float64, gradcheck,
16-bit tolerances, locations outside [0, 1], empty batches, non-contiguous inputs, checks,
compile, opcheck and autocast."""
import pytest
import torch
from mmcv.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch as mmcv_msda

from ops_dcnv3.functions import ms_deform_attn, ms_deform_attn_pytorch


def make_case(n=2, queries=5, heads=3, dim=8, shapes=((6, 7), (3, 4), (1, 2)), points=3, dtype=torch.float64,
              spread=0.2, seed=0):
    """Inputs with locations in [-spread, 1 + spread] (some outside the levels) and positive weights."""
    gen = torch.Generator().manual_seed(seed)
    spatial_shapes = torch.tensor(shapes, dtype=torch.long)
    sizes = spatial_shapes.prod(-1)
    level_start_index = torch.cumsum(sizes, 0) - sizes
    levels, keys = len(shapes), int(sizes.sum())
    value = torch.randn(n, keys, heads, dim, generator=gen, dtype=dtype)
    locations = torch.rand(n, queries, heads, levels, points, 2, generator=gen, dtype=dtype) * (1 + 2 * spread) - spread
    weights = torch.rand(n, queries, heads, levels, points, generator=gen, dtype=dtype)
    return value, spatial_shapes, level_start_index, locations, weights


def mmcv(value, spatial_shapes, level_start_index, locations, weights):
    return mmcv_msda(value, spatial_shapes, locations, weights)


CASES = [dict(), dict(heads=8, dim=32, points=4, shapes=((10, 17), (5, 9), (3, 5), (2, 3))),  # DINO's layout
         dict(n=1, heads=2, dim=16, points=1, shapes=((4, 4),)), dict(heads=1, dim=5, points=2, spread=1.5)]


@pytest.mark.parametrize('case', CASES, ids=['small', 'dino', 'one-level', 'odd-width-far'])
def test_forward_and_gradients_match_mmcv_in_float64(case):
    inputs = make_case(**case)
    value, shapes, starts, locations, weights = inputs
    expected = mmcv(*inputs)
    got = ms_deform_attn(*inputs)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ms_deform_attn_pytorch(*inputs), expected, rtol=1e-12, atol=1e-12)
    leaves = [t.requires_grad_() for t in (value, locations, weights)]
    grad_output = torch.randn_like(expected)
    ours = torch.autograd.grad(ms_deform_attn(value, shapes, starts, locations, weights), leaves, grad_output)
    theirs = torch.autograd.grad(mmcv(value, shapes, starts, locations, weights), leaves, grad_output)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_gradcheck():
    value, shapes, starts, locations, weights = make_case(n=1, queries=3, heads=2, dim=4, points=2)
    leaves = [t.requires_grad_() for t in (value, locations, weights)]
    assert torch.autograd.gradcheck(lambda v, l, w: ms_deform_attn(v, shapes, starts, l, w), leaves)


@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5), (torch.bfloat16, 3e-2), (torch.float16, 3e-3)])
def test_lower_precision(dtype, tol):
    """Forward and gradients in float32 / 16 bits (accumulated in float) against float64 mmcv."""
    inputs = make_case(**CASES[1], spread=0.0)
    value, shapes, starts, locations, weights = (t.to(dtype) if t.is_floating_point() else t for t in inputs)
    leaves = [t.requires_grad_() for t in (value, locations, weights)]
    out = ms_deform_attn(value, shapes, starts, locations, weights)
    assert out.dtype == dtype
    exact = [t.detach().double().requires_grad_() for t in leaves]
    expected = mmcv(exact[0], shapes, starts, exact[1], exact[2])
    torch.testing.assert_close(out.double(), expected, rtol=tol, atol=tol * 4)
    grad_output = torch.randn(out.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ours = torch.autograd.grad(out, leaves, grad_output.to(dtype))
    theirs = torch.autograd.grad(expected, exact, grad_output.to(dtype).double())
    for a, b in zip(ours, theirs):
        assert a.dtype == dtype
        scale = b.abs().max().item()  # location gradients are in pixels x level size: relative to the largest
        torch.testing.assert_close(a.double(), b, rtol=tol, atol=tol * 4 * scale)


def test_far_and_invalid_locations_contribute_zero():
    value, shapes, starts, locations, weights = make_case(queries=4)
    locations[:, 0] = 5.0
    locations[:, 1] = -3.0
    locations[:, 2, :, :, :, 0] = float('nan')
    locations[:, 3, :, :, :, 1] = float('inf')
    leaves = [t.requires_grad_() for t in (value, locations, weights)]
    out = ms_deform_attn(value, shapes, starts, locations, weights)
    assert torch.equal(out, torch.zeros_like(out))
    grads = torch.autograd.grad(out.sum(), leaves)
    assert all(torch.equal(g, torch.zeros_like(g)) for g in grads)


def test_empty_batch_and_queries():
    for n, queries in ((0, 5), (2, 0)):
        value, shapes, starts, locations, weights = make_case(n=n, queries=queries)
        leaves = [t.requires_grad_() for t in (value, locations, weights)]
        out = ms_deform_attn(value, shapes, starts, locations, weights)
        assert out.shape == (n, queries, 3 * 8)
        grads = torch.autograd.grad(out.sum(), leaves)
        assert all(g.shape == t.shape and not g.any() for g, t in zip(grads, leaves))


def test_non_contiguous_inputs():
    """Permuted and sliced views (mmdet hands over views) give the results of their contiguous copies."""
    value, shapes, starts, locations, weights = make_case(**CASES[1])
    views = (value.transpose(0, 1).contiguous().transpose(0, 1), shapes.t().contiguous().t(), starts,
             torch.cat([locations, locations], dim=-1)[..., :2], weights.transpose(2, 3).contiguous().transpose(2, 3))
    assert not any(v.is_contiguous() for i, v in enumerate(views) if i != 2)
    expected = ms_deform_attn(value, shapes, starts, locations, weights)
    torch.testing.assert_close(ms_deform_attn(*views), expected, rtol=0, atol=0)


def grads_on(threads, inputs, grad_output):
    """The op's gradients on ``threads`` threads."""
    value, shapes, starts, locations, weights = inputs
    leaves = [t.detach().requires_grad_() for t in (value, locations, weights)]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        return torch.autograd.grad(ms_deform_attn(leaves[0], shapes, starts, leaves[1], leaves[2]), leaves,
                                   grad_output)
    finally:
        torch.set_num_threads(before)


def test_backward_is_deterministic_and_thread_count_independent():
    """Up to batch x heads threads (16 here) the backward has one task per (image, head)."""
    inputs = make_case(**CASES[1], dtype=torch.float32)
    grad_output = 2 * ms_deform_attn(*inputs)  # the gradient of the output's sum of squares
    results = [grads_on(count, inputs, grad_output) for count in (1, 2, 1)]
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other))


def test_backward_cut_into_query_chunks_where_threads_outnumber_image_heads():
    """One image, two heads, 200 queries on 56 keys: on 8 threads each (image, head) pair's queries
    run as 4 chunks with value-gradient buffers of their own (an encoder's shape; a decoder's few
    queries are not cut). Gradients as mmcv's in float64, deterministic, and within float rounding of
    the uncut backward in float32 and bfloat16."""
    from ops_dcnv3._extension import _C
    case = dict(n=1, queries=200, heads=2, dim=8, points=3)
    chunks = _C.ms_deform_attn_backward_chunks
    assert chunks(1, 56, 2, 8, 200, 3, 3, 8) == 4  # batch, keys, heads, D, queries, levels, points, threads
    assert chunks(1, 56, 2, 8, 200, 3, 3, 2) == 1  # no more threads than pairs
    assert chunks(1, 22323, 8, 32, 900, 4, 4, 64) == 1  # DINO's decoder
    assert chunks(1, 22323, 8, 32, 22323, 4, 4, 16) == 2  # DINO's encoder on 16 threads

    inputs = make_case(**case)
    value, shapes, starts, locations, weights = inputs
    grad_output = torch.randn(1, 200, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    exact = [t.detach().requires_grad_() for t in (value, locations, weights)]
    theirs = torch.autograd.grad(mmcv(exact[0], shapes, starts, exact[1], exact[2]), exact, grad_output)
    for a, b in zip(grads_on(8, inputs, grad_output), theirs):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)

    for dtype, tol in ((torch.float32, 1e-6), (torch.bfloat16, 1e-2)):
        low = [t.to(dtype) if t.is_floating_point() else t for t in inputs]
        cut, again, uncut = (grads_on(threads, low, grad_output.to(dtype)) for threads in (8, 8, 1))
        assert all(torch.equal(a, b) for a, b in zip(cut, again))
        for a, b in zip(cut, uncut):
            torch.testing.assert_close(a, b, rtol=tol, atol=tol * b.abs().max().item())
        if dtype == torch.float32:  # the chunks did run: the value gradient's sums were regrouped
            assert not torch.equal(cut[0], uncut[0])


BAD = [
    ('value must be 4-d', lambda v, s, i, l, w: (v[0], s, i, l, w)),
    ('sampling_locations must be', lambda v, s, i, l, w: (v, s, i, l[..., :1], w)),
    ('attention_weights must have shape', lambda v, s, i, l, w: (v, s, i, l, w[:, :, :, :, :1])),
    ('spatial_shapes must have shape', lambda v, s, i, l, w: (v, s[:2], i, l, w)),
    ('integer tensor', lambda v, s, i, l, w: (v, s.double(), i, l, w)),
    ('share a dtype', lambda v, s, i, l, w: (v, s, i, l.float(), w)),
    ('hold 55 keys, value has 56', lambda v, s, i, l, w: (v, s - torch.tensor([[0, 0], [0, 0], [0, 1]]), i, l, w)),
    ('level_start_index must be', lambda v, s, i, l, w: (v, s, i + 1, l, w)),
]


@pytest.mark.parametrize('message,mutate', BAD, ids=[b[0] for b in BAD])
@pytest.mark.parametrize('core', [ms_deform_attn, ms_deform_attn_pytorch])
def test_bad_input_is_named(message, mutate, core):
    with pytest.raises((ValueError, TypeError), match=message):
        core(*mutate(*make_case()))


def test_the_op_itself_checks_its_arguments():
    """Called directly (no Python checks), the op refuses what would read outside value."""
    value, shapes, starts, locations, weights = make_case()
    with pytest.raises(RuntimeError, match='level_start_index'):
        torch.ops.ops_dcnv3.ms_deform_attn_forward(value, shapes, starts + 1, locations, weights)
    with pytest.raises(RuntimeError, match='keys'):
        torch.ops.ops_dcnv3.ms_deform_attn_forward(value[:, :-1], shapes, starts, locations, weights)
    with pytest.raises(RuntimeError, match='attention_weights'):
        torch.ops.ops_dcnv3.ms_deform_attn_forward(value, shapes, starts, locations, weights[..., :1])


def test_torch_compile_and_opcheck():
    value, shapes, starts, locations, weights = make_case(dtype=torch.float32)
    leaves = [t.requires_grad_() for t in (value, locations, weights)]

    def loss(v, l, w):
        return ms_deform_attn(v, shapes, starts, l, w).square().sum()
    expected = torch.autograd.grad(loss(*leaves), leaves)
    got = torch.autograd.grad(torch.compile(loss, backend='aot_eager', fullgraph=True)(*leaves), leaves)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)
    torch.library.opcheck(torch.ops.ops_dcnv3.ms_deform_attn_forward.default, (value, shapes, starts, locations,
                                                                               weights))


def test_autocast_runs_in_float32():
    """Under bfloat16 autocast (inputs of mixed dtypes, as mmdet's layers make them) the op runs in
    float32: its result is the float32 one, not that of 16-bit locations."""
    value, shapes, starts, locations, weights = make_case(**CASES[1], dtype=torch.float32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = ms_deform_attn(value.bfloat16(), shapes, starts, locations, weights.bfloat16())
    assert out.dtype == torch.float32
    expected = ms_deform_attn(value.bfloat16().float(), shapes, starts, locations, weights.bfloat16().float())
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
