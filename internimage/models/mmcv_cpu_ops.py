"""mmcv's RoIAlign and NMS on the CPU, for every detector of the process (ours and mmdet's stock ones):

- ``RoIAlign`` (average pooling) runs torchvision's ``roi_align``, the same arithmetic as mmcv's
  kernel (equal to the bit in forward and backward, aligned or not, any sampling ratio: tested), but
  parallel over the RoIs, where mmcv's CPU kernel runs on one thread: 16% of a Mask R-CNN's
  inference at 800x1344. Max pooling, GPUs and export (ONNX tracing, TorchScript) keep mmcv's path,
  which mmdeploy's rewriters and the ONNX symbolic know.
- Under CPU autocast (bfloat16), mmcv's NMS and RoIAlign kernels refuse bfloat16 tensors
  ("expected scalar type Float but found BFloat16"): they get float32 copies, as
  ``torch.autocast`` does for the operators it lists as float32-only. Detection then runs end to end
  in bfloat16 (backbone, neck and heads in bfloat16; NMS on float32 scores and boxes).

``use_fast_cpu_roi_ops()`` installs both (idempotent); ``mmdet_custom`` calls it on import.
``use_stock_cpu_roi_ops()`` puts mmcv's own back (the benchmarks' figures before).
"""
import torch
from mmcv.ops.nms import NMSop
from mmcv.ops.roi_align import RoIAlign

from .float32 import float32

_INSTALLED = '_internimage_cpu_path'


def _exporting():
    return torch.onnx.is_in_onnx_export() or torch.jit.is_tracing() or torch.jit.is_scripting()


def _roi_align_forward(mmcv_forward):
    from torchvision.ops import roi_align as torchvision_roi_align

    def forward(self, input, rois):
        if input.device.type != 'cpu' or _exporting():
            return mmcv_forward(self, input, rois)
        if self.pool_mode == 'avg':
            if rois.dtype != input.dtype:  # torchvision asks for one dtype (autocast: bfloat16 features)
                input, rois = input.float(), rois.float()
            return torchvision_roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio,
                                         self.aligned)
        return mmcv_forward(self, *float32((input, rois)))

    forward.__doc__ = mmcv_forward.__doc__
    setattr(forward, _INSTALLED, mmcv_forward)
    return forward


def _nms_forward(mmcv_forward):
    def forward(ctx, bboxes, scores, *args):
        return mmcv_forward(ctx, *float32((bboxes, scores)), *args)

    setattr(forward, _INSTALLED, mmcv_forward)
    return staticmethod(forward)


def use_fast_cpu_roi_ops():
    """Install the CPU paths of the module docstring into mmcv's ``RoIAlign`` and ``NMSop``."""
    if not hasattr(RoIAlign.forward, _INSTALLED):
        RoIAlign.forward = _roi_align_forward(RoIAlign.forward)
    if not hasattr(NMSop.forward, _INSTALLED):
        NMSop.forward = _nms_forward(NMSop.forward)


def use_stock_cpu_roi_ops():
    """mmcv's own ``RoIAlign`` and ``NMSop`` forwards again."""
    if hasattr(RoIAlign.forward, _INSTALLED):
        RoIAlign.forward = getattr(RoIAlign.forward, _INSTALLED)
    if hasattr(NMSop.forward, _INSTALLED):
        NMSop.forward = staticmethod(getattr(NMSop.forward, _INSTALLED))
