"""Loads the compiled extension and registers its Python-side pieces.

The C++ library defines ``torch.ops.ops_dcnv3.dcnv3_forward`` / ``dcnv3_backward``
with CPU (and optionally CUDA) kernels. Here we add what torch.library lets
Python provide: autograd, a fake (meta) implementation for torch.compile and
export, and autocast casting. A missing extension is not fatal: callers fall
back to the reference with a warning (see ``functions.dcnv3_func``).
"""
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


def _register():
    ops = torch.ops.ops_dcnv3

    @torch.library.register_fake('ops_dcnv3::dcnv3_forward')
    def _forward_fake(input, offset, mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                      dilation_h, dilation_w, group, group_channels, offset_scale, remove_center):
        n, h, w, c = input.shape
        return input.new_empty((n, output_size(h, kernel_h, stride_h, pad_h, dilation_h),
                                output_size(w, kernel_w, stride_w, pad_w, dilation_w), c))

    @torch.library.register_fake('ops_dcnv3::dcnv3_backward')
    def _backward_fake(grad_output, input, offset, mask, *params):
        return torch.empty_like(input), torch.empty_like(offset), torch.empty_like(mask)

    def setup_context(ctx, inputs, output):
        input, offset, mask, *params = inputs
        ctx.save_for_backward(input, offset, mask)
        ctx.params = params

    def backward(ctx, grad_output):
        input, offset, mask = ctx.saved_tensors
        grads = ops.dcnv3_backward(grad_output, input, offset, mask, *ctx.params)
        return (*grads, *([None] * len(ctx.params)))

    torch.library.register_autograd('ops_dcnv3::dcnv3_forward', backward, setup_context=setup_context)

    # Under autocast the three inputs arrive in different dtypes (softmax runs in
    # float32): run the kernel in the autocast dtype, which it accumulates in float.
    def autocast_kernel(device_type):
        def kernel(input, offset, mask, *params):
            dtype = torch.get_autocast_dtype(device_type)
            with torch.autocast(device_type, enabled=False):
                return ops.dcnv3_forward(input.to(dtype), offset.to(dtype), mask.to(dtype), *params)
        return kernel

    library = torch.library.Library('ops_dcnv3', 'IMPL')
    library.impl('dcnv3_forward', autocast_kernel('cpu'), 'AutocastCPU')
    library.impl('dcnv3_forward', autocast_kernel('cuda'), 'AutocastCUDA')
    return library


_LIBRARY = _register() if _C is not None else None
