"""Whole models exported by tools/deploy/export_onnx.py, checked, run in ONNX Runtime, against PyTorch,
with DCNv3 offsets and masks perturbed so that sampling is really deformed."""
import subprocess
import sys
from pathlib import Path

import numpy as np

import onnx
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools' / 'deploy'))
from export_onnx import export_model, load_model, sample_pixels, verify  # noqa: E402

CLASSIFIER = ROOT / 'configs/imagenet/internimage_t_1k_224.py'
UPERNET = ROOT / 'configs/ade20k/upernet_internimage_t_512_160k_ade20k.py'


def deform(model, seed=0):
    """Random offsets (several pixels) and non-uniform masks in every DCNv3 layer."""
    from ops_dcnv3.modules import DCNv3
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, DCNv3):
                for layer, std, bias in ((module.offset, 0.05, 1.5), (module.mask, 0.05, 1.0)):
                    layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) * std)
                    layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen) * bias)
    return model


# onnx_infer.py in a Python where torch and the OpenMMLab packages cannot be imported.
NO_TORCH = ("import runpy, sys\n"
            "for name in ('torch', 'torchvision', 'mmcv', 'mmdet', 'mmengine', 'mmseg', 'mmpretrain', 'mmdeploy'):\n"
            "    sys.modules[name] = None\n"
            "sys.argv = sys.argv[1:]\n"
            "runpy.run_path(sys.argv[0], run_name='__main__')\n")


def run_onnx_infer(proto, tmp_path, size):
    """Draw the model's predictions on a generated image: a PNG of the image's size is written."""
    from PIL import Image
    onnx.save(proto, str(tmp_path / 'model.onnx'))
    rgb = (np.random.default_rng(0).random((size[0] + 20, size[1] - 10, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / 'image.jpg')
    result = subprocess.run([sys.executable, '-c', NO_TORCH, str(ROOT / 'tools/deploy/onnx_infer.py'),
                             str(tmp_path / 'model.onnx'), str(tmp_path / 'image.jpg'), '--out', str(tmp_path / 'vis'),
                             '--score-thr', '0.05'], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / 'vis' / 'image.png') as drawn:
        assert drawn.size == (size[1] - 10, size[0] + 20)
    return result.stdout


def check(proto):
    onnx.checker.check_model(proto, full_check=True)
    assert {n.domain for n in proto.graph.node} <= {'', 'ai.onnx'}
    assert sum(n.op_type == 'DeformConv' for n in proto.graph.node) == 30  # InternImage-T's 30 blocks


@pytest.mark.parametrize('config,name,size', [(CLASSIFIER, 'logits', (64, 64)), (UPERNET, 'seg_logits', (64, 96))],
                         ids=['classifier', 'upernet'])
def test_dense_model_static_and_dynamic(config, name, size, tmp_path):
    cfg, model, task = load_model(str(config))
    deform(model)
    pixels = sample_pixels(1, *size)
    static = export_model(cfg, model, task, pixels, dynamic=False)
    check(static)
    static_diff = verify(model, task, static, pixels)
    print('static', static_diff)  # the figures, shown with pytest -rA
    assert static_diff[name] <= 1e-4
    assert 'top-1' in run_onnx_infer(static, tmp_path, size) or task == 'segmentation'
    dynamic = export_model(cfg, model, task, pixels, dynamic=True)
    check(dynamic)
    # Another batch (and, for the classifier, another size) through the same file. UPerNet's pyramid
    # pooling (adaptive pooling) is exported for the sample's feature size: its height and width stay fixed.
    other_size = (size[0] + 32, size[1] - 32) if task == 'classification' else size
    other = sample_pixels(2, *other_size, seed=1)
    dynamic_diff = verify(model, task, dynamic, other)
    print('dynamic', dynamic_diff)
    assert dynamic_diff[name] <= 1e-4
    # The deformation matters: the file (deformed weights) no longer matches the model without it.
    with torch.no_grad():
        for module in model.modules():
            if hasattr(module, 'offset_scale') and hasattr(module, 'offset'):
                module.offset.bias.zero_()
    assert verify(model, task, static, pixels)[name] > 1e-3


# The DINO config's path: another branch renames it (..._layer_wise_lr.py); switch here when merging.
DINO = ROOT / 'configs/coco/dino_4scale_internimage_t_1x_coco_layer_wise_lr.py'
MASK_RCNN = ROOT / 'configs/coco/mask_rcnn_internimage_t_fpn_1x_coco.py'


def spread_scores(model, seed=0):
    """Randomly initialised detection heads score every box alike (and below the thresholds):
    random classifier biases give confident, varied detections to compare."""
    gen = torch.Generator().manual_seed(seed)
    heads = []
    if hasattr(model, 'roi_head'):
        bbox_head = model.roi_head.bbox_head
        heads = [(bbox_head.fc_cls, 2.0)]
        with torch.no_grad():
            bbox_head.fc_cls.bias[-1] = -4.0  # mmdet's background class is the last one
    if hasattr(model, 'bbox_head') and hasattr(model.bbox_head, 'cls_branches'):
        heads = [(branch, 2.0) for branch in model.bbox_head.cls_branches]
    with torch.no_grad():
        for layer, std in heads:
            layer.weight.mul_(4.0)
            background = layer.bias[-1].item()
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen) * std)
            if hasattr(model, 'roi_head'):
                layer.bias[-1] = background
    return model


@pytest.mark.parametrize('config,size,dynamic', [(MASK_RCNN, (128, 160), False), (MASK_RCNN, (128, 160), True),
                                                 (DINO, (256, 256), False)],
                         ids=['mask_rcnn-static', 'mask_rcnn-dynamic', 'dino-static'])
def test_detector(config, size, dynamic, tmp_path):
    cfg, model, task = load_model(str(config))
    spread_scores(deform(model))
    pixels = sample_pixels(1, *size)
    proto = export_model(cfg, model, task, pixels, dynamic=dynamic)
    check(proto)
    diffs = verify(model, task, proto, pixels)
    print(diffs)
    (ours, theirs), = diffs['counts']
    assert diffs['matched'] >= 5 and diffs['matched'] >= 0.8 * min(ours, theirs), diffs
    assert diffs['box'] <= 0.5 and diffs['score'] <= 1e-4, diffs
    assert ' 0 detections' not in run_onnx_infer(proto, tmp_path, size)
