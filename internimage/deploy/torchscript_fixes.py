"""A run-time fix for torch 2.14's TorchScript ONNX exporter (torch itself untouched).

``aten::repeat_interleave``'s symbolic (opset 13) turns a negative ``dim`` into a positive one
with ``dim += rank`` on the tensor it reads out of the ``dim`` constant node, so it rewrites that
node. The tracer shares one constant node between all equal constants, so every other ``dim=-1``
of the graph changes too: DCNv3's centre-feature scaling (``repeat_interleave(..., dim=-1)`` on a
4-D tensor) turned Mask2Former's pixel-decoder ``split(..., dim=-1)`` of a 3-D tensor into an axis
3, and the exporter crashed (``free(): invalid size``) in its shape inference. The override hands
the symbolic a private copy of the constant.
"""
import contextlib

import torch

REPEAT_INTERLEAVE = 'aten::repeat_interleave'
OPSET = 13  # the opset of the symbolic in question; the override serves every later opset


def _repeat_interleave(g, self, repeats, dim=None, output_size=None):
    from torch.onnx import symbolic_helper
    from torch.onnx._internal.torchscript_exporter import symbolic_opset13
    if not symbolic_helper._is_none(dim):
        value = symbolic_helper._maybe_get_const(dim, 'i')
        if isinstance(value, int):
            dim = g.op('Constant', value_t=torch.tensor(value, dtype=torch.int64))
    return symbolic_opset13.repeat_interleave(g, self, repeats, dim, output_size)


@contextlib.contextmanager
def torchscript_exporter_fixes():
    """Context in which TorchScript ONNX exports use the fixed ``repeat_interleave`` symbolic."""
    torch.onnx.register_custom_op_symbolic(REPEAT_INTERLEAVE, _repeat_interleave, OPSET)
    try:
        yield
    finally:
        torch.onnx.unregister_custom_op_symbolic(REPEAT_INTERLEAVE, OPSET)
