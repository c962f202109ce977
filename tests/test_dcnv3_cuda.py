"""The CUDA kernels (DCNv3, and DCNv4 through the same kernels) against the reference. GPU-only: CI has no GPU, so these run on a
lent GPU machine (docs/en/advanced_guides/operators.md, "The CUDA kernels")."""
import pytest
import torch

import ops_dcnv3
from ops_dcnv3.functions import DCNv3Function, DCNv4Function, dcnv3_core_pytorch, dcnv4_core_pytorch, pack_offset_mask

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='GPU-only: no CUDA device here')


def case(n=2, h=13, w=11, group=4, group_channels=16, kernel=3, stride=1, pad=1, dilation=1, remove_center=0,
         seed=0):
    gen = torch.Generator().manual_seed(seed)
    h_out = (h + 2 * pad - (dilation * (kernel - 1) + 1)) // stride + 1
    w_out = (w + 2 * pad - (dilation * (kernel - 1) + 1)) // stride + 1
    points = kernel * kernel - remove_center
    x = torch.randn(n, h, w, group * group_channels, generator=gen, dtype=torch.float64)
    offset = torch.randn(n, h_out, w_out, group * points * 2, generator=gen, dtype=torch.float64) * 2
    mask = torch.rand(n, h_out, w_out, group * points, generator=gen, dtype=torch.float64)
    return (x, offset, mask), (kernel, kernel, stride, stride, pad, pad, dilation, dilation, group, group_channels)


def test_cuda_kernel_is_built():
    assert 'cuda' in ops_dcnv3.backends()


def run_with_grads(core, inputs, params, rc):
    inputs = [t.clone().requires_grad_() for t in inputs]
    out = core(*inputs, *params, 1.5, rc)
    return [out, *torch.autograd.grad(out, inputs, torch.ones_like(out))]


def cuda_core(*args):
    *tensors_and_params, scale, rc = args
    return DCNv3Function.apply(*tensors_and_params, scale, 256, rc)


GEOMETRIES = [dict(), dict(kernel=5, pad=2, dilation=2, remove_center=1), dict(stride=2, pad=0, group=2, group_channels=5)]


@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-10), (torch.float32, 1e-4)])
@pytest.mark.parametrize('geometry', GEOMETRIES)
def test_forward_and_backward_match_reference(dtype, tol, geometry):
    inputs, params = case(**geometry)
    rc = geometry.get('remove_center', 0)
    expected = run_with_grads(dcnv3_core_pytorch, inputs, params, rc)
    got = run_with_grads(cuda_core, [t.to('cuda', dtype) for t in inputs], params, rc)
    assert got[0].dtype == dtype and got[0].is_cuda
    for a, b in zip(got, expected):
        torch.testing.assert_close(a.double().cpu(), b.detach(), rtol=tol, atol=tol * (1 + b.abs().max().item()))


@pytest.mark.parametrize('dtype,tol', [(torch.float16, 1e-2), (torch.bfloat16, 5e-2)])
@pytest.mark.parametrize('geometry', GEOMETRIES)
def test_half_precision_matches_float32_kernel(dtype, tol, geometry):
    """Half inputs, float accumulation: as the float32 kernel on the same (rounded) inputs.

    Compared with the kernel rather than the float64 reference because the offset gradient
    jumps where a sampling point crosses a pixel boundary, which low-precision offsets hit
    often; the float32 kernel computes positions exactly as the half one does.
    """
    inputs, params = case(**geometry)
    rc = geometry.get('remove_center', 0)
    rounded = [t.to('cuda', dtype) for t in inputs]
    expected = run_with_grads(cuda_core, [t.float() for t in rounded], params, rc)
    got = run_with_grads(cuda_core, rounded, params, rc)
    assert all(t.dtype == dtype for t in got)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a.float(), b.detach(), rtol=tol, atol=tol * (1 + b.abs().max().item()))


def test_gradcheck_float64():
    inputs, params = case(1, 5, 6, 2, 3)
    inputs = [t.cuda().requires_grad_() for t in inputs]
    # The input gradient is scattered with atomics, so repeated backward passes differ in rounding.
    assert torch.autograd.gradcheck(lambda *a: DCNv3Function.apply(*a, *params, 1.3, 256, 0), inputs,
                                    nondet_tol=1e-10)


def test_invalid_offsets_contribute_zero():
    inputs, params = case(1, 6, 6, 2, 3)
    x, offset, mask = [t.cuda().float().requires_grad_() for t in inputs]
    with torch.no_grad():
        offset[0, 3, 3, :3] = float('nan')
        offset[0, 3, 3, 3:] = 1e30
    out = DCNv3Function.apply(x, offset, mask, *params, 1.0, 256, 0)
    grads = torch.autograd.grad(out.sum(), (x, offset, mask))
    assert torch.isfinite(out).all() and all(torch.isfinite(g).all() for g in grads)


def test_autocast_and_compile():
    inputs, params = case()
    x, offset, mask = [t.cuda().float() for t in inputs]
    with torch.autocast('cuda', dtype=torch.float16):
        out = DCNv3Function.apply(x.half(), offset, mask, *params, 1.0, 256, 0)
    assert out.dtype == torch.float16
    fn = torch.compile(lambda a, b, c: DCNv3Function.apply(a, b, c, *params, 1.0, 256, 0), fullgraph=True)
    torch.testing.assert_close(fn(x, offset, mask), DCNv3Function.apply(x, offset, mask, *params, 1.0, 256, 0))


@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-10), (torch.float32, 1e-4), (torch.bfloat16, 5e-2)])
@pytest.mark.parametrize('geometry', GEOMETRIES)
def test_dcnv4_matches_reference_with_zero_tail_gradient(dtype, tol, geometry):
    (x, offset, mask), params = case(**geometry)
    rc = geometry.get('remove_center', 0)
    offset_mask = pack_offset_mask(offset, mask * 2 - 0.5, params[8])
    expected = run_with_grads(dcnv4_core_pytorch, (x, offset_mask), params, rc)

    def dcnv4_cuda(*args):
        *tensors_and_params, scale, remove_center = args
        return DCNv4Function.apply(*tensors_and_params, scale, 256, remove_center)
    rounded = [t.to('cuda', dtype) for t in (x, offset_mask)]
    got = run_with_grads(dcnv4_cuda, rounded, params, rc)
    if dtype == torch.bfloat16:  # against the float32 kernel on the same rounded inputs (see above)
        expected = run_with_grads(dcnv4_cuda, [t.float() for t in rounded], params, rc)
    assert got[0].dtype == dtype and got[0].is_cuda
    assert torch.all(got[2][..., 3 * params[8] * (params[0] ** 2 - rc):] == 0)
    for a, b in zip(got, expected):
        b = b.detach().double().cpu()
        torch.testing.assert_close(a.double().cpu(), b, rtol=tol, atol=tol * (1 + b.abs().max().item()))


@pytest.mark.parametrize('dim', [32, 5])  # vector loads with warp shuffles; one channel per thread with atomics
@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-10), (torch.float32, 1e-5), (torch.float16, 3e-3)])
def test_ms_deform_attn_cuda_matches_mmcv(dim, dtype, tol):
    """Multi-scale deformable attention on CUDA against mmcv's pure-PyTorch function in float64 (and
    against mmcv's own CUDA kernel where one is built), forward and gradients."""
    from mmcv.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch
    from ops_dcnv3.functions import ms_deform_attn
    from test_ms_deform_attn_op import make_case
    inputs = make_case(heads=8, dim=dim, points=4, shapes=((10, 17), (5, 9), (3, 5), (2, 3)))
    value, shapes, starts, locations, weights = inputs
    exact = [t.clone().requires_grad_() for t in (value, locations, weights)]
    expected = multi_scale_deformable_attn_pytorch(exact[0], shapes, exact[1], exact[2])
    grad_output = torch.randn_like(expected)
    expected_grads = torch.autograd.grad(expected, exact, grad_output)
    leaves = [t.to('cuda', dtype).requires_grad_() for t in (value, locations, weights)]
    out = ms_deform_attn(leaves[0], shapes.cuda(), starts.cuda(), leaves[1], leaves[2])
    grads = torch.autograd.grad(out, leaves, grad_output.to('cuda', dtype))
    torch.testing.assert_close(out.double().cpu(), expected, rtol=tol, atol=tol * 4)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got.double().cpu(), want, rtol=tol, atol=tol * 4 * want.abs().max().item())
