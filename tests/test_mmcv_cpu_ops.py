"""internimage.models.mmcv_cpu_ops (installed by mmdet_custom): mmcv's RoIAlign on torchvision's parallel
kernel computes what mmcv's own CPU kernel computes, to the bit, forward and backward; max pooling and
export keep mmcv's path; under bfloat16 autocast NMS and RoIAlign take float32 inputs and keep what
float32 keeps."""
import mmdet_custom  # noqa: F401  (installs the CPU paths)
import pytest
import torch
from mmcv.ops.nms import NMSop, batched_nms
from mmcv.ops.roi_align import RoIAlign, RoIAlignFunction

from internimage.models.mmcv_cpu_ops import _INSTALLED, use_fast_cpu_roi_ops


def mmcv_roi_align(layer, features, rois):
    """mmcv's own forward (the one the CPU path replaced)."""
    return getattr(RoIAlign.forward, _INSTALLED)(layer, features, rois)


def random_rois(generator, count, height, width, stride):
    corners = torch.rand(count, 2, 2, generator=generator) * torch.tensor([width, height]) * stride
    boxes = torch.cat([corners.min(1).values, corners.max(1).values], 1)
    boxes[::7, 2:] = boxes[::7, :2] + 0.3  # some boxes smaller than a pixel
    images = torch.randint(0, 2, (count, 1), generator=generator).float()
    return torch.cat([images, boxes], 1)


def test_install_is_idempotent_and_keeps_mmcv_forward():
    first = RoIAlign.forward
    use_fast_cpu_roi_ops()
    assert RoIAlign.forward is first and hasattr(NMSop.forward, _INSTALLED)


@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('sampling_ratio', [0, 2])
def test_roi_align_equals_mmcv_kernel_forward_and_backward(aligned, sampling_ratio):
    generator = torch.Generator().manual_seed(sampling_ratio + 2 * aligned)
    features = torch.randn(2, 32, 25, 42, generator=generator)
    rois = random_rois(generator, 300, 25, 42, stride=8)
    layer = RoIAlign(7, spatial_scale=1 / 8, sampling_ratio=sampling_ratio, aligned=aligned)
    ours_in, theirs_in = features.clone().requires_grad_(), features.clone().requires_grad_()
    ours, theirs = layer(ours_in, rois), mmcv_roi_align(layer, theirs_in, rois)
    assert torch.equal(ours, theirs)
    grad = torch.randn(ours.shape, generator=generator)
    (ours * grad).sum().backward()
    (theirs * grad).sum().backward()
    assert torch.equal(ours_in.grad, theirs_in.grad)


def test_roi_align_max_pooling_keeps_mmcv_path():
    generator = torch.Generator().manual_seed(3)
    features = torch.randn(1, 8, 20, 20, generator=generator)
    rois = random_rois(generator, 40, 20, 20, stride=4)
    rois[:, 0] = 0
    layer = RoIAlign(5, spatial_scale=1 / 4, pool_mode='max')
    expected = RoIAlignFunction.apply(features, rois, (5, 5), 1 / 4, 0, 'max', True)
    assert torch.equal(layer(features, rois), expected)


def test_bfloat16_autocast_roi_align_and_nms():
    generator = torch.Generator().manual_seed(4)
    features = torch.randn(1, 16, 30, 30, generator=generator)
    rois = random_rois(generator, 50, 30, 30, stride=4)
    rois[:, 0] = 0
    layer = RoIAlign(7, spatial_scale=1 / 4)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        pooled = layer(features.bfloat16(), rois)  # bfloat16 features (a convolution's output), float32 boxes
    assert pooled.dtype == torch.float32  # pooled in float32 at float32 box coordinates
    assert torch.equal(pooled, layer(features.bfloat16().float(), rois))

    boxes = rois[:, 1:].clone()
    scores = torch.rand(50, generator=generator)
    labels = torch.randint(0, 3, (50,), generator=generator)
    nms_cfg = dict(type='nms', iou_threshold=0.5)
    _, keep32 = batched_nms(boxes, scores.bfloat16().float(), labels, nms_cfg)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        dets, keep = batched_nms(boxes.bfloat16().float(), scores.bfloat16(), labels, nms_cfg)
    assert torch.equal(keep, keep32) and len(keep) > 0
