"""FLOP counting for models that contain the DCNv3 or DCNv4 core, or multi-scale deformable attention.

mmengine's FlopAnalyzer traces the model with torch.jit and counts each op it has
a handle for (multiply-accumulates, as fvcore and the published numbers do). The
cores are custom ops, so they need their own handle: every output element
gathers P points, each a 4-tap bilinear interpolation plus its mask weight,
i.e. 5 multiply-accumulates per point.
"""
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape

# Each core op and its number of tensor arguments; the scalar arguments follow (kernel_h first,
# remove_center last). The DCNv3 variant taking the mask as logits (the layer's CPU path) counts the
# same, and so does DCNv4 (its offset_mask's width is padded, so points come from the kernel).
CORE_OPS = {'ops_dcnv3::dcnv3_forward': 3, 'ops_dcnv3::dcnv3_softmax_forward': 3, 'ops_dcnv3::dcnv4_forward': 2}
MACS_PER_POINT = 5


def core_flop_handle(tensors):
    """FlopAnalyzer handle of a core op with ``tensors`` tensor arguments: output elements x points
    (kernel_h x kernel_w, less the centre with remove_center) x MACS_PER_POINT."""
    def handle(inputs, outputs):
        output_numel = 1
        for size in get_shape(outputs[0]):
            output_numel *= size
        kernel_h, kernel_w = inputs[tensors].toIValue(), inputs[tensors + 1].toIValue()
        points = kernel_h * kernel_w - (1 if inputs[tensors + 11].toIValue() else 0)
        return output_numel * points * MACS_PER_POINT
    return handle


def ms_deform_attn_flop_handle(inputs, outputs):
    """Multi-scale deformable attention as mmcv's grid_sample path counts (FlopAnalyzer's 4 per
    grid_sample output element, one grid_sample per level): output elements x levels x points x 4."""
    output_numel = 1
    for size in get_shape(outputs[0]):
        output_numel *= size
    _, _, _, levels, points, _ = get_shape(inputs[3])  # sampling_locations
    return output_numel * levels * points * 4


def flop_analyzer(model, inputs):
    """A FlopAnalyzer that also counts the DCNv3 and DCNv4 cores and multi-scale deformable attention."""
    analyzer = FlopAnalyzer(model, inputs)
    for name, tensors in CORE_OPS.items():
        analyzer.set_op_handle(name, core_flop_handle(tensors))
    analyzer.set_op_handle('ops_dcnv3::ms_deform_attn_forward', ms_deform_attn_flop_handle)
    return analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
