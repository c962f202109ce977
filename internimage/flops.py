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


def flop_analyzer(model, inputs):
    """A FlopAnalyzer that also counts the DCNv3 core."""
    analyzer = FlopAnalyzer(model, inputs)
    for name in DCNV3_OP_NAMES:
        analyzer.set_op_handle(name, dcnv3_flop_handle)
    return analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
