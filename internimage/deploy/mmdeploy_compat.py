"""Run mmdeploy 1.3.1's ONNX export on torch 2.14, patched at run time (site-packages untouched).

- ``torch.onnx.export`` defaults to the dynamo exporter since torch 2.9; mmdeploy's rewriters
  and symbolics are TorchScript-exporter machinery, so its call gets ``dynamo=False``.
- ``torch.onnx.symbolic_opset9._cast_Long`` (removed from torch) is used by mmdeploy's RoIAlign
  symbolic: restored as the ``Cast`` to int64 it was.
- mmdeploy's own ``layer_norm`` and ``grid_sampler`` symbolics are dropped: they emit an
  opset-19-invalid ``ReduceMean(axes=...)`` and a custom ``mmdeploy::grid_sampler``; torch's
  ``LayerNormalization`` and ``GridSample`` are standard.
"""
import contextlib
import functools

import torch

DROPPED_SYMBOLICS = ('layer_norm', 'grid_sampler')


def _cast_long(g, input, non_blocking=None):
    return g.op('Cast', input, to_i=torch.onnx.TensorProtoDataType.INT64)


@contextlib.contextmanager
def _patched(owner, name, value):
    missing = object()
    old = getattr(owner, name, missing)
    setattr(owner, name, value)
    try:
        yield
    finally:
        if old is missing:
            delattr(owner, name)
        else:
            setattr(owner, name, old)


@contextlib.contextmanager
def mmdeploy_on_torch214():
    """Context in which ``mmdeploy.apis.onnx.export`` works with this torch."""
    import torch.onnx.symbolic_opset9 as opset9
    from mmdeploy.core import SYMBOLIC_REWRITER

    registry = SYMBOLIC_REWRITER._registry
    get_records = registry.get_records

    def records_without_dropped(*args, **kwargs):
        return [(name, record) for name, record in get_records(*args, **kwargs)
                if name not in DROPPED_SYMBOLICS]

    with contextlib.ExitStack() as stack:
        stack.enter_context(_patched(torch.onnx, 'export', functools.partial(torch.onnx.export, dynamo=False)))
        if not hasattr(opset9, '_cast_Long'):
            stack.enter_context(_patched(opset9, '_cast_Long', _cast_long))
        stack.enter_context(_patched(registry, 'get_records', records_without_dropped))
        yield
