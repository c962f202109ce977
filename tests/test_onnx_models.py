"""Whole models exported by tools/deploy/export_onnx.py, checked, run in ONNX Runtime, against PyTorch,
with DCNv3 offsets and masks perturbed so that sampling is really deformed."""
import sys
from pathlib import Path

import onnx
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools' / 'deploy'))
from export_onnx import export_model, load_model, run_onnxruntime, sample_pixels, verify  # noqa: E402

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


def check(proto):
    onnx.checker.check_model(proto, full_check=True)
    assert {n.domain for n in proto.graph.node} <= {'', 'ai.onnx'}
    assert sum(n.op_type == 'DeformConv' for n in proto.graph.node) == 30  # InternImage-T's 30 blocks


@pytest.mark.parametrize('config,name,size', [(CLASSIFIER, 'logits', (64, 64)), (UPERNET, 'seg_logits', (64, 96))],
                         ids=['classifier', 'upernet'])
def test_dense_model_static_and_dynamic(config, name, size):
    cfg, model, task = load_model(str(config))
    deform(model)
    pixels = sample_pixels(1, *size)
    static = export_model(cfg, model, task, pixels, dynamic=False)
    check(static)
    assert verify(model, task, static, pixels)[name] <= 1e-4
    dynamic = export_model(cfg, model, task, pixels, dynamic=True)
    check(dynamic)
    other = sample_pixels(2, size[0] + 32, size[1] - 32, seed=1)  # another batch and size, same file
    assert verify(model, task, dynamic, other)[name] <= 1e-4
    # the deformation matters: the same weights without it give other logits
    out = run_onnxruntime(static, pixels)[name]
    with torch.no_grad():
        for module in model.modules():
            if hasattr(module, 'offset_scale') and hasattr(module, 'offset'):
                module.offset.bias.zero_()
    assert verify(model, task, static, pixels)[name] > 1e-3, out.shape
