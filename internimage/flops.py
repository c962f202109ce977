"""FLOP counting for models that contain the DCNv3 core.

mmengine's FlopAnalyzer traces the model with torch.jit and counts each op it has
a handle for (multiply-accumulates, as fvcore and the published numbers do). The
DCNv3 core is a custom op, so it needs its own handle: every output element
gathers P points, each a 4-tap bilinear interpolation plus its mask weight,
i.e. 5 multiply-accumulates per point.
"""
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape

# The op, and its variant taking the mask as logits (the layer's CPU path): same count.
DCNV3_OP_NAMES = ('ops_dcnv3::dcnv3_forward', 'ops_dcnv3::dcnv3_softmax_forward')
MACS_PER_POINT = 5


def dcnv3_flop_handle(inputs, outputs):
    output_numel = 1
    for size in get_shape(outputs[0]):
        output_numel *= size
    group = inputs[11].toIValue()
    points = get_shape(inputs[2])[-1] // group  # mask or its logits: (N, H_out, W_out, group * points)
    return output_numel * points * MACS_PER_POINT


def dcnv4_flop_handle(inputs, outputs):
    """The DCNv4 core (value, offset_mask, kernel_h, kernel_w, ..., remove_center): the same count,
    its points from the kernel (offset_mask's width is padded)."""
    output_numel = 1
    for size in get_shape(outputs[0]):
        output_numel *= size
    points = inputs[2].toIValue() * inputs[3].toIValue() - (1 if inputs[13].toIValue() else 0)
    return output_numel * points * MACS_PER_POINT


def flop_analyzer(model, inputs):
    """A FlopAnalyzer that also counts the DCNv3 and DCNv4 cores."""
    analyzer = FlopAnalyzer(model, inputs)
    for name in DCNV3_OP_NAMES:
        analyzer.set_op_handle(name, dcnv3_flop_handle)
    analyzer.set_op_handle('ops_dcnv3::dcnv4_forward', dcnv4_flop_handle)
    return analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
