"""Loads the compiled extension and registers its Python-side pieces.

The C++ library defines ``torch.ops.ops_dcnv3.dcnv3_forward`` / ``dcnv3_backward``
and ``dcnv4_forward`` / ``dcnv4_backward`` with CPU (and optionally CUDA) kernels, and
``dcnv3_softmax_forward`` / ``dcnv3_softmax_backward`` (the mask given as logits, softmax
fused; CPU only), ``ms_deform_attn_forward`` / ``ms_deform_attn_backward`` (multi-scale deformable
attention), and registers their autograd (csrc/dcnv3_autograd.cpp, csrc/ms_deform_attn_autograd.cpp).
Here we add what Python provides better: a fake (meta) implementation for torch.compile and export,
and autocast casting. A missing extension is not fatal: callers fall back to the reference with a
warning (see ``functions.dcnv3_func``).
"""
import functools

import torch

try:
    from . import _C
except ImportError as error:  # not built, or built against another torch
    _C = None
    IMPORT_ERROR = error
else:
    IMPORT_ERROR = None


# Read once: calls into the extension module cannot be traced by torch.compile.
_BACKENDS = frozenset(_C.compiled_backends()) if _C is not None else frozenset()


def backends():
    """The set of device types with a compiled DCNv3 kernel, e.g. {'cpu', 'cuda'}."""
    return set(_BACKENDS)


def output_size(size, kernel, stride, pad, dilation):
    return (size + 2 * pad - (dilation * (kernel - 1) + 1)) // stride + 1


# Each forward op, the op computing its gradients, and its number of tensor arguments.
# dcnv3_softmax_forward takes the mask's logits and applies the softmax over each group's
# points itself (CPU kernel only); dcnv4_forward takes one offset_mask tensor.
OPS = {'dcnv3_forward': ('dcnv3_backward', 3), 'dcnv3_softmax_forward': ('dcnv3_softmax_backward', 3),
       'dcnv4_forward': ('dcnv4_backward', 2)}


def _register():
    ops = torch.ops.ops_dcnv3
    library = torch.library.Library('ops_dcnv3', 'IMPL')

    def fakes(tensors):
        def forward_fake(input, *args):
            kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w = args[tensors - 1:tensors + 7]
            n, h, w, c = input.shape
            return input.new_empty((n, output_size(h, kernel_h, stride_h, pad_h, dilation_h),
                                    output_size(w, kernel_w, stride_w, pad_w, dilation_w), c))

        def backward_fake(grad_output, input, *args):
            return (torch.empty_like(input), *(t.new_empty(t.shape) for t in args[:tensors - 1]))
        return forward_fake, backward_fake

    # Under autocast the tensor inputs arrive in different dtypes (softmax runs in
    # float32): run the kernel in the autocast dtype, which it accumulates in float.
    def autocast_kernel(forward_op, device_type, tensors):
        def kernel(*args):
            dtype = torch.get_autocast_dtype(device_type)
            with torch.autocast(device_type, enabled=False):
                return forward_op(*(t.to(dtype) for t in args[:tensors]), *args[tensors:])
        return kernel

    _register_ms_deform_attn(library)
    for forward_name, (backward_name, tensors) in OPS.items():
        forward_op = getattr(ops, forward_name)
        forward_fake, backward_fake = fakes(tensors)
        torch.library.register_fake(f'ops_dcnv3::{forward_name}', forward_fake)
        torch.library.register_fake(f'ops_dcnv3::{backward_name}', backward_fake)
        library.impl(forward_name, autocast_kernel(forward_op, 'cpu', tensors), 'AutocastCPU')
        library.impl(forward_name, autocast_kernel(forward_op, 'cuda', tensors), 'AutocastCUDA')
    return library


def _register_ms_deform_attn(library):
    """Fake kernels and autocast of multi-scale deformable attention (value, spatial_shapes,
    level_start_index, sampling_locations, attention_weights)."""
    @torch.library.register_fake('ops_dcnv3::ms_deform_attn_forward')
    def forward_fake(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
        n, _, heads, dim = value.shape
        return value.new_empty((n, sampling_locations.shape[1], heads * dim))

    @torch.library.register_fake('ops_dcnv3::ms_deform_attn_backward')
    def backward_fake(grad_output, value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
        return torch.empty_like(value), torch.empty_like(sampling_locations), torch.empty_like(attention_weights)

    # Autocast runs it in float32: normalised locations in 16 bits would move samples by a
    # good part of a pixel on the large levels (bfloat16: 1/256 of the width), and the
    # sampling is not where the matmul peak helps.
    def autocast_kernel(device_type):
        def kernel(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
            floats = (value, sampling_locations, attention_weights)
            dtype = functools.reduce(torch.promote_types, (t.dtype for t in floats), torch.float32)
            value, sampling_locations, attention_weights = (t.to(dtype) for t in floats)
            with torch.autocast(device_type, enabled=False):
                return torch.ops.ops_dcnv3.ms_deform_attn_forward(value, spatial_shapes, level_start_index,
                                                                  sampling_locations, attention_weights)
        return kernel

    library.impl('ms_deform_attn_forward', autocast_kernel('cpu'), 'AutocastCPU')
    library.impl('ms_deform_attn_forward', autocast_kernel('cuda'), 'AutocastCUDA')


_LIBRARY = _register() if _C is not None else None
