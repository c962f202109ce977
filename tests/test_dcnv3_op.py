"""The compiled DCNv3 core against the reference and the spec's conventions."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ops_dcnv3
from ops_dcnv3.functions import DCNv3Function, dcnv3_core_pytorch


def test_cpu_kernel_is_built():
    assert 'cpu' in ops_dcnv3.backends()


def out_size(size, kernel, stride, pad, dilation):
    return (size + 2 * pad - (dilation * (kernel - 1) + 1)) // stride + 1


def make_case(n=1, h=6, w=7, group=2, group_channels=3, kernel=3, stride=1, pad=1, dilation=1,
              remove_center=0, dtype=torch.float64, offset_std=2.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    h_out, w_out = out_size(h, kernel, stride, pad, dilation), out_size(w, kernel, stride, pad, dilation)
    points = kernel * kernel - remove_center
    x = torch.randn(n, h, w, group * group_channels, generator=gen, dtype=dtype)
    offset = torch.randn(n, h_out, w_out, group * points * 2, generator=gen, dtype=dtype) * offset_std
    mask = torch.rand(n, h_out, w_out, group * points, generator=gen, dtype=dtype)
    params = (kernel, kernel, stride, stride, pad, pad, dilation, dilation, group, group_channels)
    return x, offset, mask, params


def compiled(x, offset, mask, params, scale=1.0, remove_center=0):
    return DCNv3Function.apply(x, offset, mask, *params, scale, 64, remove_center)


def reference(x, offset, mask, params, scale=1.0, remove_center=0):
    return dcnv3_core_pytorch(x, offset, mask, *params, scale, remove_center)


@settings(max_examples=100, deadline=None, derandomize=True)  # the same examples every run
@given(n=st.integers(1, 2), h=st.integers(1, 9), w=st.integers(1, 9), group=st.integers(1, 4),
       group_channels=st.integers(1, 9), kernel=st.integers(1, 5), stride=st.integers(1, 3),
       pad=st.integers(0, 2), dilation=st.integers(1, 2), remove_center=st.booleans(),
       scale=st.sampled_from([0.5, 1.0, 2.0]), seed=st.integers(0, 1000),
       dtype=st.sampled_from([torch.float64, torch.float32]))
def test_forward_matches_reference(n, h, w, group, group_channels, kernel, stride, pad, dilation,
                                   remove_center, scale, seed, dtype):
    """float32 runs the vectorised kernels (AVX2 where the processor has it) against the float64 reference."""
    remove_center = int(remove_center and kernel % 2 == 1 and kernel > 1)
    if out_size(h, kernel, stride, pad, dilation) < 1 or out_size(w, kernel, stride, pad, dilation) < 1:
        return
    x, offset, mask, params = make_case(n, h, w, group, group_channels, kernel, stride, pad, dilation, remove_center,
                                        dtype=dtype, seed=seed)
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    expected = reference(x.double(), offset.double(), mask.double(), params, scale, remove_center)
    torch.testing.assert_close(compiled(x, offset, mask, params, scale, remove_center).double(), expected,
                               rtol=tol, atol=tol)


@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5), (torch.bfloat16, 3e-2), (torch.float16, 3e-3)])
def test_forward_low_precision(dtype, tol):
    x, offset, mask, params = make_case(2, 12, 10, 4, 16, dtype=torch.float64)
    expected = reference(x, offset, mask, params)
    got = compiled(x.to(dtype), offset.to(dtype), mask.to(dtype), params)
    assert got.dtype == dtype
    torch.testing.assert_close(got.double(), expected, rtol=tol, atol=tol * 4)


@pytest.mark.parametrize('dtype,tol', [(torch.bfloat16, 3e-2), (torch.float16, 4e-3)])
def test_gradients_low_precision(dtype, tol):
    """Low-precision gradients accumulate in float in private row buffers: close to float64's."""
    x, offset, mask, params = make_case(2, 12, 10, 4, 16, dtype=torch.float64, seed=4)
    # Offsets at odd multiples of 1/8 (exact in both dtypes) keep samples off the integer grid,
    # where the bilinear offset gradient jumps; all values are the same in both runs.
    offset = (offset * 4).round() / 4 + 0.125
    x, offset, mask = (t.to(dtype).double() for t in (x, offset, mask))
    grads = []
    for core, cast in ((compiled, dtype), (reference, torch.float64)):
        inputs = [t.to(cast).requires_grad_() for t in (x, offset, mask)]
        out = core(*inputs, params)
        grads.append(torch.autograd.grad(out, inputs, torch.cos(out.detach()).to(cast)))
    for got, expected in zip(*grads):
        assert got.dtype == dtype
        scale = expected.abs().max().item()
        torch.testing.assert_close(got.double(), expected, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize('kernel,stride,pad,dilation,remove_center,scale', [
    (3, 1, 1, 1, 0, 1.0), (3, 2, 1, 1, 1, 2.0), (5, 1, 2, 2, 1, 0.7), (2, 1, 0, 1, 0, 1.3)])
def test_gradcheck(kernel, stride, pad, dilation, remove_center, scale):
    x, offset, mask, params = make_case(1, 5, 6, 2, 3, kernel, stride, pad, dilation, remove_center, seed=3)
    inputs = [t.requires_grad_() for t in (x, offset, mask)]
    assert torch.autograd.gradcheck(lambda *a: compiled(*a, params, scale, remove_center), inputs)


@pytest.mark.parametrize('group_channels', [16, 32, 12])
def test_gradients_match_reference_float32(group_channels):
    """16 and 32 take the hand-vectorised float kernels, 12 the generic loop; offsets reach past the border."""
    x, offset, mask, params = make_case(2, 14, 11, 4, group_channels, dtype=torch.float32, seed=5)
    grads = []
    for core in (compiled, reference):
        inputs = [t.clone().requires_grad_() for t in (x, offset, mask)]
        out = core(*inputs, params, 1.5)
        grads.append(torch.autograd.grad(out, inputs, torch.ones_like(out) * out.detach()))
    for got, expected in zip(*grads):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_backward_is_deterministic_and_thread_count_independent():
    x, offset, mask, params = make_case(1, 20, 20, 4, 8, dtype=torch.float64, seed=7)
    inputs = [t.requires_grad_() for t in (x, offset, mask)]
    threads = torch.get_num_threads()
    results = []
    try:
        for count in (1, 3, threads, threads):  # 3 tasks: a middle one shares rows on both sides
            torch.set_num_threads(count)
            out = compiled(*inputs, params)
            results.append(torch.autograd.grad(out.square().sum(), inputs))
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_one_hot_mask_is_a_shift_in_x_major_order():
    """Spec: offset 0, mask one-hot on point k = a*Kh + b gives x shifted by (a-1, b-1)."""
    n, h, w, c = 1, 5, 6, 2
    x = torch.arange(n * h * w * c, dtype=torch.float64).reshape(n, h, w, c)
    offset = torch.zeros(n, h, w, 9 * 2, dtype=torch.float64)
    padded = torch.nn.functional.pad(x.permute(0, 3, 1, 2), (1, 1, 1, 1)).permute(0, 2, 3, 1)
    for a in range(3):          # along x
        for b in range(3):      # along y
            mask = torch.zeros(n, h, w, 9, dtype=torch.float64)
            mask[..., a * 3 + b] = 1
            expected = padded[:, b:b + h, a:a + w]
            for core in (compiled, reference):
                torch.testing.assert_close(core(x, offset, mask, (3, 3, 1, 1, 1, 1, 1, 1, 1, c)), expected)


def test_offsets_are_x_then_y_and_scaled():
    n, h, w = 1, 4, 5
    x = torch.randn(n, h, w, 1, dtype=torch.float64)
    mask = torch.zeros(n, h, w, 1, dtype=torch.float64)
    mask[..., 0] = 1
    offset = torch.zeros(n, h, w, 2, dtype=torch.float64)
    offset[..., 0] = 0.5  # +0.5 along x, times offset_scale 2 -> one pixel right
    out = compiled(x, offset, mask, (1, 1, 1, 1, 0, 0, 1, 1, 1, 1), 2.0)
    expected = torch.zeros_like(x)
    expected[:, :, :-1] = x[:, :, 1:]
    torch.testing.assert_close(out, expected)


def test_remove_center_drops_the_middle_point():
    x, offset, mask, params = make_case(1, 5, 5, 1, 2, remove_center=1)
    offset.zero_()
    mask.zero_()
    mask[..., 4] = 1  # point 4 of 8 is the grid's (a=1, b=2) once the centre is gone
    out = compiled(x, offset, mask, params, 1.0, 1)
    expected = torch.nn.functional.pad(x.permute(0, 3, 1, 2), (1, 1, 1, 1)).permute(0, 2, 3, 1)[:, 2:7, 1:6]
    torch.testing.assert_close(out, expected)


def test_offset_scale_scales_the_grid_too():
    x, offset, mask, params = make_case(1, 7, 7, 1, 1)
    offset.zero_()
    mask.zero_()
    mask[..., 0] = 1  # point (a=0, b=0): grid (-1, -1), scaled by 2 -> (-2, -2)
    out = compiled(x, offset, mask, params, 2.0)
    padded = torch.nn.functional.pad(x.permute(0, 3, 1, 2), (2, 2, 2, 2)).permute(0, 2, 3, 1)
    torch.testing.assert_close(out, padded[:, :7, :7])


def test_non_contiguous_inputs():
    x, offset, mask, params = make_case(2, 6, 7, 2, 4, dtype=torch.float64)
    xt = x.transpose(1, 2).contiguous().transpose(1, 2)
    offset_nc = torch.stack([offset, torch.zeros_like(offset)], dim=-1).flatten(-2)[..., ::2]
    torch.testing.assert_close(offset_nc, offset)
    assert not xt.is_contiguous() and not offset_nc.is_contiguous()
    torch.testing.assert_close(compiled(xt, offset_nc, mask, params), reference(x, offset, mask, params))


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])  # float32: the AVX2 path, 8 points at a time
@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -float('inf'), 1e30, -1e30])
def test_far_or_invalid_offsets_contribute_zero(bad, dtype):
    x, offset, mask, params = make_case(1, 5, 5, 2, 3, dtype=dtype)
    offset[0, 2, 2, :] = bad  # every point of pixel (2, 2), both groups
    inputs = [t.requires_grad_() for t in (x, offset, mask)]
    out = compiled(*inputs, params)
    assert torch.all(out[0, 2, 2] == 0)
    clean = offset.detach().clone()
    clean[0, 2, 2, :] = 0
    clean_mask = mask.detach().clone()
    clean_mask[0, 2, 2, :] = 0
    torch.testing.assert_close(out.detach(), reference(x.detach(), clean, clean_mask, params))
    grads = torch.autograd.grad(out.sum(), inputs)
    assert all(torch.isfinite(g).all() for g in grads)
    assert torch.all(grads[1][0, 2, 2] == 0) and torch.all(grads[2][0, 2, 2] == 0)


BAD_INPUTS = [
    ('input must be 4-d', lambda x, o, m: (x[0], o, m), {}),
    ('input has 6 channels, but group x group_channels', lambda x, o, m: (x, o, m), {'group_channels': 2}),
    ('offset must have shape', lambda x, o, m: (x, o[..., :-2], m), {}),
    ('mask must have shape', lambda x, o, m: (x, o, m[..., :-1]), {}),
    ('offset must have shape', lambda x, o, m: (x, o[:, :-1], m), {}),
    ('share a dtype', lambda x, o, m: (x, o.float(), m), {}),
    ('remove_center needs an odd kernel', lambda x, o, m: (x, o, m), {'kernel': 2, 'remove_center': 1}),
    ('must be a positive integer', lambda x, o, m: (x, o, m), {'stride': 0}),
]


@pytest.mark.parametrize('message,mutate,override', BAD_INPUTS)
@pytest.mark.parametrize('core', [compiled, reference])
def test_bad_input_is_named(message, mutate, override, core):
    x, offset, mask, _ = make_case(1, 5, 5, 2, 3)
    p = {'kernel': 3, 'stride': 1, 'group_channels': 3, 'remove_center': 0, **override}
    params = (p['kernel'], p['kernel'], p['stride'], p['stride'], 1, 1, 1, 1, 2, p['group_channels'])
    with pytest.raises((ValueError, TypeError), match=message):
        core(*mutate(x, offset, mask), params, 1.0, p['remove_center'])


def test_mixed_devices_are_named():
    x, offset, mask, params = make_case(1, 5, 5, 2, 3)
    with pytest.raises(ValueError, match='one device'):
        compiled(x, offset.to('meta'), mask, params)


def test_fake_tensor_and_torch_compile():
    x, offset, mask, params = make_case(1, 6, 7, 2, 4, dtype=torch.float32)
    meta = torch.ops.ops_dcnv3.dcnv3_forward(x.to('meta'), offset.to('meta'), mask.to('meta'), *params, 1.0, 0)
    assert meta.shape == x.shape and meta.device.type == 'meta'

    def loss(a, b, c):
        return compiled(a, b, c, params).square().sum()

    inputs = [t.requires_grad_() for t in (x, offset, mask)]
    expected = torch.autograd.grad(loss(*inputs), inputs)
    compiled_loss = torch.compile(loss, backend='aot_eager', fullgraph=True)
    got = torch.autograd.grad(compiled_loss(*inputs), inputs)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)
    torch.library.opcheck(torch.ops.ops_dcnv3.dcnv3_forward.default, (x, offset, mask, *params, 1.0, 0))


def test_autocast_unifies_dtypes():
    x, offset, mask, params = make_case(1, 6, 7, 2, 4, dtype=torch.float32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = compiled(x.bfloat16(), offset, mask, params)  # mixed dtypes, as under AMP
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), reference(x, offset, mask, params), rtol=5e-2, atol=5e-2)
