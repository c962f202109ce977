"""The matrix of the emulated CUDA kernels: each case runs the CUDA path of one operator (forward and
backward) in the emulation library and compares it with the op package's CPU kernels (and, in
float64, with the pure-PyTorch reference and its autograd), and names the kernel instantiations it
must reach. Shared by tests/test_cuda_emulation.py and the mutation check (mutation_check.py).

Together the cases reach every kernel and template instantiation of the dispatch: four dtypes;
DCNv3/DCNv4 forward with vectors of 16 bytes and of one element; the warp backward (group widths
16 and 32) and the generic one; DCNv3 and DCNv4 layouts, remove_center, stride, dilation, padding,
offset_scale; thread counts that leave partial warps and blocks; misaligned views (which must take
the one-element path); NaN, inf and 1e30 offsets; MSDA with 1 to 64 lanes per (query, head), powers
of two (shuffles) and not (atomics), one to four levels, vector and element paths.
"""
import dataclasses
import zlib

import torch

import ops_dcnv3  # noqa: F401  (registers torch.ops.ops_dcnv3, the CPU kernels)
from ops_dcnv3.functions import dcnv3_core_pytorch, ms_deform_attn_pytorch, pack_offset_mask
from ops_dcnv3.functions.reference import split_offset_mask

DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)
TYPE_NAME = {torch.float64: 'double', torch.float32: 'float', torch.float16: 'c10::Half',
             torch.bfloat16: 'c10::BFloat16'}
VECTOR = {dtype: 16 // torch.empty(0, dtype=dtype).element_size() for dtype in DTYPES}  # elements per 16 bytes
# Emulated against CPU kernel, relative to the largest expected value: float64 / float32 differ in
# summation order (atomics) and the last bits of float math; 16-bit results by a rounding step.
TOLERANCE = {torch.float64: 1e-12, torch.float32: 2e-5, torch.float16: 4e-3, torch.bfloat16: 2e-2}
REFERENCE_TOLERANCE = 1e-10  # float64 against the PyTorch reference


def misaligned_copy(t):
    """A contiguous copy of ``t`` that starts one element past a 16-byte boundary."""
    storage = torch.empty(t.numel() + 1, dtype=t.dtype)
    view = storage[1:].view(t.shape)
    view.copy_(t)
    assert view.is_contiguous() and view.data_ptr() % 16 != 0
    return view


def largest_difference(got, expected):
    """max |got - expected| / max(1, max |expected|), NaN where they are equal counting as 0."""
    got, expected = got.double(), expected.double()
    both_nan = got.isnan() & expected.isnan()
    difference = torch.where(both_nan, torch.zeros_like(got), (got - expected).abs())
    scale = max(1.0, expected.nan_to_num().abs().max().item()) if expected.numel() else 1.0
    return difference.max().item() / scale if difference.numel() else 0.0


@dataclasses.dataclass(frozen=True)
class DcnCase:
    """DCNv3 (separate offset and mask) or DCNv4 (one offset_mask) on one geometry."""
    name: str
    dtype: torch.dtype
    op: str = 'dcnv3'
    n: int = 1
    h: int = 5
    w: int = 4
    group: int = 2
    group_channels: int = 16
    kernel: int = 3
    stride: int = 1
    pad: int = 1
    dilation: int = 1
    remove_center: int = 0
    offset_scale: float = 1.0
    bad_offsets: bool = False
    misaligned: bool = False

    @property
    def id(self):
        return f'{self.op}-{self.name}-{str(self.dtype)[6:]}'

    def out_size(self, size):
        return (size + 2 * self.pad - (self.dilation * (self.kernel - 1) + 1)) // self.stride + 1

    def expected_kernels(self):
        t = TYPE_NAME[self.dtype]
        vec = VECTOR[self.dtype]
        forward_vec = vec if self.group_channels % vec == 0 and not self.misaligned else 1
        if self.group_channels in (16, 32):
            backward = f'backward_warp_kernel<{t}, {self.group_channels}>'
        else:
            backward = f'backward_kernel<{t}>'
        return {f'forward_kernel<{t}, {forward_vec}>', backward}

    def params(self):
        k = self.kernel
        return (k, k, self.stride, self.stride, self.pad, self.pad, self.dilation, self.dilation, self.group,
                self.group_channels, self.offset_scale, self.remove_center)

    def inputs(self):
        gen = torch.Generator().manual_seed(zlib.crc32(self.id.encode()))
        h_out, w_out = self.out_size(self.h), self.out_size(self.w)
        points = self.kernel ** 2 - self.remove_center
        x = torch.randn(self.n, self.h, self.w, self.group * self.group_channels, generator=gen, dtype=torch.float64)
        offset = torch.randn(self.n, h_out, w_out, self.group * points * 2, generator=gen, dtype=torch.float64) * 1.5
        mask = torch.rand(self.n, h_out, w_out, self.group * points, generator=gen, dtype=torch.float64)
        if self.bad_offsets:
            offset[0, 0, 0, :4] = torch.tensor([float('nan'), 0.3, float('inf'), -float('inf')])
            offset[0, -1, -1, -3:] = torch.tensor([1e30, -1e30, float('nan')])
        grad_output = torch.randn(self.n, h_out, w_out, self.group * self.group_channels, generator=gen,
                                  dtype=torch.float64)
        points_args = (offset, mask) if self.op == 'dcnv3' else (pack_offset_mask(offset, mask, self.group),)
        tensors = [t.to(self.dtype) for t in (x, *points_args)]
        if self.misaligned:
            tensors[0] = misaligned_copy(tensors[0])
        return tensors, grad_output.to(self.dtype)

    def run(self, emulation):
        """Runs the case; returns the largest difference against the CPU kernel (and reference)."""
        tensors, grad_output = self.inputs()
        cpu = getattr(torch.ops.ops_dcnv3, f'{self.op}_forward'), getattr(torch.ops.ops_dcnv3, f'{self.op}_backward')
        emu = getattr(emulation, f'{self.op}_forward'), getattr(emulation, f'{self.op}_backward')
        got = [emu[0](*tensors, *self.params()), *emu[1](grad_output, *tensors, *self.params())]
        expected = [cpu[0](*tensors, *self.params()), *cpu[1](grad_output, *tensors, *self.params())]
        worst = compare(got, expected, TOLERANCE[self.dtype], self.id)
        if self.dtype == torch.float64 and not self.bad_offsets:
            reference = self.reference(tensors, grad_output)
            worst = max(worst, compare(got, reference, REFERENCE_TOLERANCE, self.id + ' (reference)'))
        return worst

    def reference(self, tensors, grad_output):
        leaves = [t.detach().clone().requires_grad_() for t in tensors]
        if self.op == 'dcnv3':
            out = dcnv3_core_pytorch(*leaves, *self.params())
        else:
            points = self.kernel ** 2 - self.remove_center
            offset, mask = split_offset_mask(leaves[1], self.group, points)
            out = dcnv3_core_pytorch(leaves[0], offset, mask, *self.params())
        grads = torch.autograd.grad(out, leaves, grad_output)  # DCNv4: zeros in offset_mask's ignored tail
        return [out.detach(), *grads]


def compare(got, expected, tolerance, label):
    worst = 0.0
    for index, (a, b) in enumerate(zip(got, expected)):
        assert a.dtype == b.dtype and a.shape == b.shape, f'{label}: output {index}: {a.dtype}{list(a.shape)} ' \
                                                          f'!= {b.dtype}{list(b.shape)}'
        difference = largest_difference(a, b)
        assert difference <= tolerance, f'{label}: output {index} differs by {difference:.3g} (> {tolerance:g})'
        worst = max(worst, difference)
    return worst


@dataclasses.dataclass(frozen=True)
class MsdaCase:
    """Multi-scale deformable attention; ``dim`` channels per head decide the lanes per (query, head)."""
    name: str
    dtype: torch.dtype
    dim: int
    n: int = 2
    queries: int = 5
    heads: int = 2
    points: int = 2
    shapes: tuple = ((4, 5), (2, 3), (1, 2))
    misaligned: bool = False

    @property
    def id(self):
        return f'msda-{self.name}-{str(self.dtype)[6:]}'

    @property
    def vector(self):
        vec = VECTOR[self.dtype]
        return vec if self.dim % vec == 0 and not self.misaligned else 1

    @property
    def lanes(self):
        return self.dim // self.vector

    def expected_kernels(self):
        t = TYPE_NAME[self.dtype]
        return {f'msda_forward_kernel<{t}, {self.vector}>', f'msda_backward_kernel<{t}, {self.vector}>'}

    def inputs(self):
        gen = torch.Generator().manual_seed(zlib.crc32(self.id.encode()))
        shapes = torch.tensor(self.shapes, dtype=torch.long)
        sizes = shapes.prod(-1)
        starts = torch.cumsum(sizes, 0) - sizes
        levels, keys = len(self.shapes), int(sizes.sum())
        value = torch.randn(self.n, keys, self.heads, self.dim, generator=gen, dtype=torch.float64)
        locations = torch.rand(self.n, self.queries, self.heads, levels, self.points, 2, generator=gen,
                               dtype=torch.float64) * 1.4 - 0.2  # some outside the levels
        weights = torch.rand(self.n, self.queries, self.heads, levels, self.points, generator=gen, dtype=torch.float64)
        grad_output = torch.randn(self.n, self.queries, self.heads * self.dim, generator=gen, dtype=torch.float64)
        value, locations, weights, grad_output = (t.to(self.dtype) for t in (value, locations, weights, grad_output))
        if self.misaligned:
            value = misaligned_copy(value)
        return (value, shapes, starts, locations, weights), grad_output

    def run(self, emulation):
        tensors, grad_output = self.inputs()
        got = [emulation.ms_deform_attn_forward(*tensors), *emulation.ms_deform_attn_backward(grad_output, *tensors)]
        cpu = torch.ops.ops_dcnv3
        expected = [cpu.ms_deform_attn_forward(*tensors), *cpu.ms_deform_attn_backward(grad_output, *tensors)]
        worst = compare(got, expected, TOLERANCE[self.dtype], self.id)
        if self.dtype == torch.float64:
            value, shapes, starts, locations, weights = tensors
            leaves = [t.detach().clone().requires_grad_() for t in (value, locations, weights)]
            out = ms_deform_attn_pytorch(leaves[0], shapes, starts, leaves[1], leaves[2])
            reference = [out.detach(), *torch.autograd.grad(out, leaves, grad_output)]
            worst = max(worst, compare(got, reference, REFERENCE_TOLERANCE, self.id + ' (reference)'))
        return worst


def dcn_cases(dtype):
    return [
        # Vector forward, warp backward over 16 lanes; 15 pixels x 48 channels: partial warp and block.
        DcnCase('vector-warp16', dtype, group=3, group_channels=16, h=5, w=3),
        # DCNv4 layout, warp backward over 32 lanes; stride 2, dilation 2, remove_center.
        DcnCase('vector-warp32', dtype, op='dcnv4', group=2, group_channels=32, h=7, w=6, stride=2, dilation=2,
                remove_center=1),
        # One element per thread (a group width of 5), generic backward; NaN, inf and 1e30 offsets.
        DcnCase('scalar-bad-offsets', dtype, n=2, h=4, w=5, group=2, group_channels=5, bad_offsets=True),
        # A misaligned input takes the one-element forward although the width allows vectors; 5x5 kernel.
        DcnCase('misaligned', dtype, group=2, group_channels=8, h=5, w=5, kernel=5, pad=2, remove_center=1,
                misaligned=True),
        # DCNv4, vector forward with the generic backward, no padding, offset_scale 0.5.
        DcnCase('vector-generic', dtype, op='dcnv4', group=2, group_channels=8, h=6, w=7, stride=2, pad=0,
                offset_scale=0.5),
    ]


# Per dtype: (name, channels per head, misaligned); lanes = channels / vector (vector path) or
# channels (element path): 1 to 64, powers of two (shuffles) and not (atomics).
MSDA_SHAPES = {
    torch.float64: [('1-lane', 2, False), ('5-lanes', 10, False), ('3-lanes-scalar', 3, False),
                    ('16-lanes-misaligned', 16, True)],
    torch.float32: [('8-lanes', 32, False), ('3-lanes', 12, False), ('64-lanes', 256, False),
                    ('5-lanes-scalar', 5, False)],
    torch.float16: [('32-lanes', 256, False), ('1-lane', 8, False), ('7-lanes-scalar', 7, False),
                    ('4-lanes-scalar', 4, False)],
    torch.bfloat16: [('4-lanes', 32, False), ('3-lanes', 24, False), ('1-lane-scalar', 1, False),
                     ('6-lanes-scalar', 6, False)],
}


def msda_cases(dtype):
    cases = [MsdaCase(name, dtype, dim, misaligned=misaligned) for name, dim, misaligned in MSDA_SHAPES[dtype]]
    # One level only, and four levels, on the first shape of the dtype.
    name, dim, _ = MSDA_SHAPES[dtype][0]
    cases.append(MsdaCase(name + '-one-level', dtype, dim, shapes=((3, 4),), queries=3))
    cases.append(MsdaCase(name + '-four-levels', dtype, dim, shapes=((5, 6), (3, 3), (2, 2), (1, 1)), points=3))
    return cases


CASES = [case for dtype in DTYPES for case in dcn_cases(dtype) + msda_cases(dtype)]

# Every kernel instantiation the dispatch of csrc/cuda can launch.
ALL_INSTANTIATIONS = {
    name
    for dtype in DTYPES
    for t, vec in [(TYPE_NAME[dtype], VECTOR[dtype])]
    for name in [f'forward_kernel<{t}, {vec}>', f'forward_kernel<{t}, 1>', f'backward_warp_kernel<{t}, 16>',
                 f'backward_warp_kernel<{t}, 32>', f'backward_kernel<{t}>', f'msda_forward_kernel<{t}, {vec}>',
                 f'msda_forward_kernel<{t}, 1>', f'msda_backward_kernel<{t}, {vec}>', f'msda_backward_kernel<{t}, 1>']
}

# The thread orders every case runs in: as launched, and threads reversed with the blocks shuffled;
# (reverse threads, block shuffle seed, the side of each tensor that touches an inaccessible page).
GUARD_AFTER, GUARD_BEFORE = 1, 2
ORDERS = {'in-order': (False, 0, GUARD_AFTER), 'reversed-shuffled': (True, 12345, GUARD_BEFORE)}


def run_case(emulation, case, order='in-order'):
    """Runs ``case`` in thread order ``order``, its tensors (inputs, outputs, the CPU kernels' too)
    against inaccessible pages; returns (largest difference, kernels launched)."""
    reverse, seed, guard = ORDERS[order]
    emulation.set_schedule(reverse, seed)
    emulation.reset_launches()
    emulation.guard_memory(guard)
    try:
        worst = case.run(emulation)
    finally:
        emulation.guard_memory(0)
        emulation.set_schedule(False, 0)
    return worst, set(emulation.launches())
