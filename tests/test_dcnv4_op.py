"""The compiled DCNv4 core (ops_dcnv3::dcnv4_forward): DCNv3's sampling with offsets and the raw
mask in one offset_mask tensor. Checked against the reference, against the DCNv3 op through the
split identity, and for the same robustness as DCNv3 (cases shared with test_dcnv3_op)."""
import pytest
import torch

from ops_dcnv3.functions import (DCNv3Function, DCNv4Function, dcnv3_core_pytorch, dcnv4_core_pytorch,
                                 pack_offset_mask, split_offset_mask)
from ops_dcnv3.functions.checks import padded_offset_mask_channels

from test_dcnv3_op import make_case as make_dcnv3_case, out_size


def make_case(*args, tail=0.0, **kwargs):
    """A DCNv3 case with offsets and the mask packed into DCNv4's offset_mask (tail set to ``tail``);
    the mask is raw, negative values included."""
    x, offset, mask, params = make_dcnv3_case(*args, **kwargs)
    mask = mask * 2 - 0.5
    offset_mask = pack_offset_mask(offset, mask, params[8])
    offset_mask[..., offset.shape[-1] + mask.shape[-1]:] = tail
    return x, offset_mask, params


def compiled(x, offset_mask, params, scale=1.0, remove_center=0):
    return DCNv4Function.apply(x, offset_mask, *params, scale, 64, remove_center)


def reference(x, offset_mask, params, scale=1.0, remove_center=0):
    return dcnv4_core_pytorch(x, offset_mask, *params, scale, remove_center)


def test_offset_mask_layout():
    """Group g's 2P offsets (x, y per point) then its P mask values from g * 3P; K_pad a multiple of 8."""
    assert [padded_offset_mask_channels(g, 9) for g in (1, 2, 4, 5)] == [32, 56, 112, 136]
    group, points = 2, 3
    offset = torch.arange(12.).reshape(1, 1, 1, 12)
    mask = 100 + torch.arange(6.).reshape(1, 1, 1, 6)
    packed = pack_offset_mask(offset, mask, group)
    assert packed.flatten().tolist() == [0, 1, 2, 3, 4, 5, 100, 101, 102, 6, 7, 8, 9, 10, 11, 103, 104, 105,
                                         0, 0, 0, 0, 0, 0]
    for got, expected in zip(split_offset_mask(packed, group, points), (offset, mask)):
        assert torch.equal(got, expected)


# (n, h, w, group, group_channels, kernel, stride, pad, dilation, remove_center, offset_scale):
# 3x3 as published, and beyond it: other kernel sizes, group widths that are no multiple of 16.
CASES = [
    (2, 6, 7, 4, 16, 3, 1, 1, 1, 0, 1.0), (1, 7, 5, 2, 32, 3, 2, 1, 1, 1, 2.0), (1, 6, 6, 3, 5, 5, 1, 2, 2, 1, 0.7),
    (2, 5, 8, 1, 3, 1, 1, 0, 1, 0, 1.0), (1, 9, 7, 5, 12, 7, 2, 3, 1, 0, 1.3), (1, 5, 6, 2, 8, 2, 1, 0, 1, 0, 1.0),
    (1, 6, 5, 7, 1, 3, 3, 2, 2, 0, 0.5),
]


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
def test_forward_matches_reference_and_the_dcnv3_identity(case, dtype):
    """DCNv4(value, offset_mask) == DCNv3(value, split(offset_mask)) with the raw mask, in the
    compiled op (the same sampling code: bit for bit) and against the float64 reference."""
    n, h, w, group, cg, kernel, stride, pad, dilation, rc, scale = case
    x, offset_mask, params = make_case(n, h, w, group, cg, kernel, stride, pad, dilation, rc, dtype=dtype,
                                       tail=float('nan'))  # the tail is never read
    got = compiled(x, offset_mask, params, scale, rc)
    offset, mask = split_offset_mask(offset_mask, group, kernel * kernel - rc)
    assert torch.equal(got, DCNv3Function.apply(x, offset, mask, *params, scale, 64, rc))
    expected = dcnv3_core_pytorch(x.double(), offset.double(), mask.double(), *params, scale, rc)
    torch.testing.assert_close(reference(x.double(), offset_mask.double(), params, scale, rc), expected)
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(got.double(), expected, rtol=tol, atol=tol)


@pytest.mark.parametrize('dtype,tol', [(torch.bfloat16, 3e-2), (torch.float16, 3e-3)])
def test_forward_low_precision(dtype, tol):
    x, offset_mask, params = make_case(2, 12, 10, 4, 16)
    got = compiled(x.to(dtype), offset_mask.to(dtype), params)
    assert got.dtype == dtype
    torch.testing.assert_close(got.double(), reference(x, offset_mask, params), rtol=tol, atol=tol * 4)


@pytest.mark.parametrize('case', [CASES[0][:3] + (2, 3) + CASES[0][5:], CASES[1][:3] + (2, 2) + CASES[1][5:],
                                  CASES[2], CASES[5]])
def test_gradcheck_and_zero_tail_gradient(case):
    n, h, w, group, cg, kernel, stride, pad, dilation, rc, scale = case
    x, offset_mask, params = make_case(1, 5, 6, group, cg, kernel, stride, pad, dilation, rc, seed=3)
    inputs = [t.requires_grad_() for t in (x, offset_mask)]
    assert torch.autograd.gradcheck(lambda *a: compiled(*a, params, scale, rc), inputs)
    out = compiled(*inputs, params, scale, rc)
    grad = torch.autograd.grad(out, offset_mask, torch.randn_like(out))[0]
    used = 3 * group * (kernel * kernel - rc)
    assert grad.shape == offset_mask.shape and torch.all(grad[..., used:] == 0)


@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-4), (torch.bfloat16, 3e-2), (torch.float16, 4e-3)])
@pytest.mark.parametrize('group_channels', [16, 32, 12])
def test_gradients_match_reference(dtype, tol, group_channels):
    """16 and 32 run the specialised (float: hand-vectorised) kernels, 12 the generic loop."""
    x, offset_mask, params = make_case(2, 9, 11, 4, group_channels, seed=5)
    offset_mask = (offset_mask * 4).round() / 4 + 0.125  # exact in every dtype, samples off the integer grid
    x, offset_mask = (t.to(dtype).double() for t in (x, offset_mask))
    grads = []
    for core, cast in ((compiled, dtype), (reference, torch.float64)):
        inputs = [t.to(cast).requires_grad_() for t in (x, offset_mask)]
        out = core(*inputs, params, 1.5)
        grads.append(torch.autograd.grad(out, inputs, torch.cos(out.detach()).to(cast)))
    for got, expected in zip(*grads):
        assert got.dtype == dtype
        torch.testing.assert_close(got.double(), expected, rtol=tol, atol=tol * expected.abs().max().item())


def test_backward_is_deterministic_and_thread_count_independent():
    x, offset_mask, params = make_case(1, 20, 20, 4, 8, seed=7)
    inputs = [t.requires_grad_() for t in (x, offset_mask)]
    threads = torch.get_num_threads()
    results = []
    try:
        for count in (1, 3, threads, threads):
            torch.set_num_threads(count)
            results.append(torch.autograd.grad(compiled(*inputs, params).square().sum(), inputs))
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(results[2], results[3]):  # the same thread count: bit for bit
        assert torch.equal(a, b)
    for other in results[1:]:  # another split of the work: the same sums in another order
        for a, b in zip(results[0], other):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_non_contiguous_and_stride_zero_views():
    x, offset_mask, params = make_case(2, 6, 7, 2, 4)
    expected = reference(x, offset_mask, params)
    xt = x.transpose(1, 2).contiguous().transpose(1, 2)
    wide = torch.cat([offset_mask, torch.full_like(offset_mask, float('nan'))], dim=-1)[..., :offset_mask.shape[-1]]
    strided = torch.stack([offset_mask, offset_mask], dim=-1)[..., 0]  # channel stride 2
    assert not xt.is_contiguous() and not wide.is_contiguous() and strided.stride(-1) == 2
    for value, om in ((xt, offset_mask), (x, wide), (x, strided)):
        torch.testing.assert_close(compiled(value, om, params), expected)
    # Stride 0: one image and one offset_mask row broadcast over the batch and the pixels.
    x1, om1 = x[:1].expand(3, -1, -1, -1), offset_mask[:1, :1, :1].expand(3, *offset_mask.shape[1:])
    inputs = [t.clone().requires_grad_() for t in (x1, om1)]
    out = compiled(x1, om1, params)
    torch.testing.assert_close(out, reference(*inputs, params))
    grads = torch.autograd.grad(compiled(*[t.contiguous() for t in inputs], params).sum(), inputs)
    x1.requires_grad_(), om1.requires_grad_()
    for got, expected_grad in zip(torch.autograd.grad(compiled(x1, om1, params).sum(), (x1, om1)), grads):
        torch.testing.assert_close(got, expected_grad)


def test_empty_batch():
    x, offset_mask, params = make_case(2, 6, 7, 2, 4)
    x0, om0 = (t[:0].clone().requires_grad_() for t in (x, offset_mask))
    out = compiled(x0, om0, params)
    assert out.shape == (0, 6, 7, 8)
    grads = torch.autograd.grad(out.sum(), (x0, om0))
    assert grads[0].shape == x0.shape and grads[1].shape == om0.shape


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -float('inf'), 1e30, -1e30])
def test_far_or_invalid_offsets_contribute_zero(bad, dtype):
    x, offset_mask, params = make_case(1, 5, 5, 2, 3, dtype=dtype)
    points = 9
    offsets = [c for g in range(2) for c in range(g * 3 * points, g * 3 * points + 2 * points)]
    offset_mask[0, 2, 2, offsets] = bad
    inputs = [t.requires_grad_() for t in (x, offset_mask)]
    out = compiled(*inputs, params)
    assert torch.all(out[0, 2, 2] == 0)
    clean = offset_mask.detach().clone()
    clean[0, 2, 2] = 0
    torch.testing.assert_close(out.detach(), reference(x.detach(), clean, params))
    grads = torch.autograd.grad(out.sum(), inputs)
    assert all(torch.isfinite(g).all() for g in grads) and torch.all(grads[1][0, 2, 2] == 0)


def test_huge_stride_and_padding():
    x, offset_mask, params = make_case(1, 5, 6, 2, 3)
    huge = 2 ** 40
    one = list(params)
    one[2] = one[3] = huge  # stride: a 1x1 output
    om = offset_mask[:, :1, :1].clone()
    torch.testing.assert_close(compiled(x, om, tuple(one)), reference(x, om, tuple(one)))
    padded = list(params)
    padded[4] = padded[5] = huge  # padding: no offset_mask can have that shape; a clear error
    with pytest.raises(ValueError, match='offset_mask must have shape'):
        compiled(x, offset_mask, tuple(padded))
    with pytest.raises(RuntimeError, match='dcnv4: offset_mask must be'):
        torch.ops.ops_dcnv3.dcnv4_forward(x, offset_mask, *padded, 1.0, 0)


BAD_INPUTS = [
    ('value must be 4-d', lambda x, om: (x[0], om), {}),
    ('value has 6 channels, but group x group_channels', lambda x, om: (x, om), {'group_channels': 2}),
    (r'K_pad = 3 x group 2 x 9 points = 54, rounded up', lambda x, om: (x, om[..., :54]), {}),
    ('offset_mask must have shape', lambda x, om: (x, om[:, :-1]), {}),
    ('share a dtype', lambda x, om: (x, om.float()), {}),
    ('remove_center needs an odd kernel', lambda x, om: (x, om), {'kernel': 2, 'remove_center': 1}),
    ('remove_center leaves no sampling point', lambda x, om: (x, om), {'kernel': 1, 'pad': 0, 'remove_center': 1}),
    ('must be a positive integer', lambda x, om: (x, om), {'stride': 0}),
]


@pytest.mark.parametrize('message,mutate,override', BAD_INPUTS)
@pytest.mark.parametrize('core', [compiled, reference])
def test_bad_input_is_named(message, mutate, override, core):
    x, offset_mask, _ = make_case(1, 5, 5, 2, 3)
    p = {'kernel': 3, 'stride': 1, 'pad': 1, 'group_channels': 3, 'remove_center': 0, **override}
    params = (p['kernel'], p['kernel'], p['stride'], p['stride'], p['pad'], p['pad'], 1, 1, 2, p['group_channels'])
    with pytest.raises((ValueError, TypeError), match=message):
        core(*mutate(x, offset_mask), params, 1.0, p['remove_center'])


def test_the_op_itself_names_bad_arguments():
    """Called directly (no Python checks), the C++ op refuses with a message, never reads out of bounds."""
    x, offset_mask, params = make_case(1, 5, 5, 2, 3)
    op = torch.ops.ops_dcnv3.dcnv4_forward
    for args, message in (((x, offset_mask[..., :54]), 'K_pad'), ((x, offset_mask.float()), "input's dtype"),
                          ((x[..., :5], offset_mask), 'channels')):
        with pytest.raises(RuntimeError, match=message):
            op(*args, *params, 1.0, 0)
    with pytest.raises(RuntimeError, match='no sampling point'):
        op(x, offset_mask, 1, 1, 1, 1, 0, 0, 1, 1, 2, 3, 1.0, 1)
    out = op(x, offset_mask, *params, 1.0, 0)
    for grad_output in (out[..., :-1], out[:, 1:], out[0]):
        with pytest.raises(RuntimeError, match='grad_output must be'):
            torch.ops.ops_dcnv3.dcnv4_backward(grad_output, x, offset_mask, *params, 1.0, 0)


def test_mixed_devices_are_named():
    x, offset_mask, params = make_case(1, 5, 5, 2, 3)
    with pytest.raises(ValueError, match='one device'):
        compiled(x, offset_mask.to('meta'), params)


def test_fake_tensor_torch_compile_and_opcheck():
    x, offset_mask, params = make_case(1, 6, 7, 2, 4, dtype=torch.float32)
    meta = torch.ops.ops_dcnv3.dcnv4_forward(x.to('meta'), offset_mask.to('meta'), *params, 1.0, 0)
    assert meta.shape == x.shape and meta.device.type == 'meta'

    def loss(a, b):
        return compiled(a, b, params).square().sum()

    inputs = [t.requires_grad_() for t in (x, offset_mask)]
    expected = torch.autograd.grad(loss(*inputs), inputs)
    got = torch.autograd.grad(torch.compile(loss, backend='aot_eager', fullgraph=True)(*inputs), inputs)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)
    torch.library.opcheck(torch.ops.ops_dcnv3.dcnv4_forward.default, (x, offset_mask, *params, 1.0, 0))
    wide = torch.cat([offset_mask.detach(), offset_mask.detach()], -1)[..., :offset_mask.shape[-1]]
    torch.library.opcheck(torch.ops.ops_dcnv3.dcnv4_forward.default, (x.detach(), wide, *params, 1.0, 0))


def test_autocast_unifies_dtypes():
    x, offset_mask, params = make_case(1, 6, 7, 2, 4, dtype=torch.float32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = compiled(x.bfloat16(), offset_mask, params)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), reference(x, offset_mask, params), rtol=5e-2, atol=5e-2)
