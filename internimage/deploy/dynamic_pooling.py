"""Adaptive average pooling that exports for any input size.

The ONNX exporters turn ``nn.AdaptiveAvgPool2d(o)`` into an ``AveragePool`` whose kernel and
strides are computed from the export sample's size, so the file only pools that size correctly
(ONNX has no adaptive pooling, except the global one). The same pooling is exactly a product with
two averaging matrices, one per axis: row ``i`` of the (o, H) matrix averages the input rows of bin
``i``, ``[floor(i * H / o), ceil((i + 1) * H / o))`` (PyTorch's bins). Built at run time from the
input's size with ``arange`` and comparisons, they export as standard ops for every size.

:func:`adaptive_pools_as_matrices` swaps a model's adaptive average pools for this form while it
is exported (UPerNet's pyramid pooling, for one) and puts the originals back afterwards.
"""
import contextlib

import torch
from torch import nn


def output_pair(output_size):
    """An adaptive pool's output_size as (height, width); an entry may be None (that input size)."""
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(sizes) != 2:
        raise ValueError(f'adaptive pooling output_size must be an int or a pair, got {output_size!r}')
    return tuple(sizes)


def averaging_matrix(size, bins, like):
    """(bins, size) matrix whose row i averages the entries of adaptive-pooling bin i."""
    index = torch.arange(bins, device=like.device)
    start = torch.div(index * size, bins, rounding_mode='floor')
    end = torch.div((index + 1) * size + bins - 1, bins, rounding_mode='floor')
    position = torch.arange(size, device=like.device)
    inside = (position[None, :] >= start[:, None]) & (position[None, :] < end[:, None])
    return inside.to(like.dtype) / (end - start)[:, None].to(like.dtype)


class MatrixAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d(output_size)`` as ``rows @ x @ cols^T`` (see the module docstring)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_pair(output_size)

    def forward(self, x):
        height, width = x.shape[-2:]
        out_h, out_w = (size if bins is None else bins for size, bins in zip((height, width), self.output_size))
        rows = averaging_matrix(height, out_h, x)
        cols = averaging_matrix(width, out_w, x)
        return torch.matmul(torch.matmul(rows, x), cols.transpose(0, 1))


def _is_global(pool):
    return all(size == 1 for size in output_pair(pool.output_size))


@contextlib.contextmanager
def adaptive_pools_as_matrices(model):
    """Within the context, every non-global ``nn.AdaptiveAvgPool2d`` of ``model`` is a
    :class:`MatrixAdaptiveAvgPool2d` (global ones already export as ``GlobalAveragePool``)."""
    swapped = []
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.AdaptiveAvgPool2d) and not _is_global(child):
                setattr(parent, name, MatrixAdaptiveAvgPool2d(child.output_size))
                swapped.append((parent, name, child))
    try:
        yield model
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)
