"""``float32(value)``: ``value`` with its bfloat16 / float16 tensors in float32, for what must see float32
under autocast: mmcv's CPU kernels (``mmcv_cpu_ops``), the box heads (``bf16_box_heads``), the predictions
handed to the metrics (``internimage.engine.mixed_precision``)."""
import torch
from mmengine.structures import BaseDataElement

REDUCED = (torch.bfloat16, torch.float16)


def float32(value):
    """Tensors, lists, tuples, dicts and mmengine data elements (changed in place), through any nesting;
    anything else as it is."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype in REDUCED else value
    if isinstance(value, BaseDataElement):
        for key in value.keys():
            setattr(value, key, float32(getattr(value, key)))
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(float32(item) for item in value)
    if isinstance(value, dict):
        return {key: float32(item) for key, item in value.items()}
    return value
