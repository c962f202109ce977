"""Whole models exported by internimage.deploy (tools/deploy/export_onnx.py), checked, run in ONNX Runtime
and in OpenVINO (the same export), against PyTorch, with DCNv3 offsets and masks perturbed so that
sampling is really deformed."""
import copy
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import onnx
import pytest
import torch

from internimage.deploy.export import export_model
from internimage.deploy.files import external_data_path, save_onnx, save_openvino
from internimage.deploy.model import load_model
from internimage.deploy.runtime import DeployedModel, open_session
from internimage.deploy.verify import (as_file, compare_detections, differences, reference, relative_difference,
                                       run_file, sample_pixels, second_shape, verify)
from pipeline_reference import reference_outputs, write_image
from reduced_models import MASK2FORMER_STOCK_WIDTHS

ROOT = Path(__file__).resolve().parents[1]
CLASSIFIER = ROOT / 'configs/imagenet/internimage_t_1k_224.py'
UPERNET = ROOT / 'configs/ade20k/upernet_internimage_t_512_160k_ade20k.py'


def load(config, cfg_options=None):
    """The model with its initial weights, drawn from a seeded generator (init_weights uses torch's)."""
    torch.manual_seed(0)
    return load_model(str(config), cfg_options=cfg_options)


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


def run_onnx_infer(model, tmp_path, size, runtime='onnxruntime'):
    """Draw the model's predictions on a generated image: a PNG of the image's size is written.
    ``model``: a ModelProto, or the path of a file (an OpenVINO IR, say)."""
    from PIL import Image
    path = model
    if not isinstance(model, (str, Path)):
        path = tmp_path / 'model.onnx'
        onnx.save(model, str(path))
    rgb = (np.random.default_rng(0).random((size[0] + 20, size[1] - 10, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / 'image.jpg')
    result = subprocess.run([sys.executable, '-c', NO_TORCH, str(ROOT / 'tools/deploy/onnx_infer.py'), str(path),
                             str(tmp_path / 'image.jpg'), '--out', str(tmp_path / 'vis'), '--score-thr', '0.05',
                             '--runtime', runtime], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / 'vis' / 'image.png') as drawn:
        assert drawn.size == (size[1] - 10, size[0] + 20)
    return result.stdout


def check(proto, deform_convs=30):
    """Full ONNX check, standard ops only, one DeformConv per DCNv3 block (InternImage-T: 30)."""
    onnx.checker.check_model(proto, full_check=True)
    assert {n.domain for n in proto.graph.node} <= {'', 'ai.onnx'}
    assert sum(n.op_type == 'DeformConv' for n in proto.graph.node) == deform_convs


RUNTIMES = ('onnxruntime', 'openvino')  # the same file in each (OpenVINO: with the DeformConv extension)


def verify_everywhere(model, task, proto, pixels, dynamic):
    """``{runtime: [differences]}``: the file in each runtime against PyTorch, at the export sample and,
    for a dynamic file, at a second input of another height and width (and, for classifiers and
    segmentors, another batch). Each runtime loads the file once."""
    samples = [pixels]
    if dynamic:
        batch, _, height, width = pixels.shape
        other = sample_pixels(*second_shape(task, batch, height, width), seed=1)
        assert other.shape[0] != batch or task == 'detection'
        assert other.shape[2] != height and other.shape[3] != width
        samples.append(other)
    expected = [reference(model, task, sample) for sample in samples]
    diffs, seconds = {}, {}
    for runtime in RUNTIMES:
        start = time.perf_counter()
        with as_file(proto) as path:
            session = open_session(path, runtime)
            diffs[runtime] = [differences(task, session.run(sample.numpy()), want)
                              for sample, want in zip(samples, expected)]
        seconds[runtime] = round(time.perf_counter() - start, 1)
    print(diffs, 'seconds', seconds)  # the figures, shown with pytest -rA
    return diffs


def against_pipeline(cfg, model, task, proto, tmp_path, size):
    """The same JPEG file through the deployed file (onnx_infer's reading of it) and through the
    config's test pipeline, the model's own data preprocessor and forward: their difference."""
    from PIL import Image
    image = write_image(tmp_path / 'pipeline.jpg', *size)
    onnx.save(proto, str(tmp_path / 'pipeline.onnx'))
    outputs, scale, _ = DeployedModel(str(tmp_path / 'pipeline.onnx'))(np.asarray(Image.open(image).convert('RGB')))
    assert scale == 1.0
    expected = reference_outputs(cfg, model, image, *size)
    if task == 'detection':
        return compare_detections(outputs, expected)
    name = 'logits' if task == 'classification' else 'seg_logits'
    return {name: relative_difference(outputs[name][0], expected)}


def cpu_runs_bf16():
    import openvino as ov
    return 'BF16' in ov.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES')


@pytest.fixture(scope='module')
def classifier():
    """InternImage-T, deformed, and its static export at 64 x 64 (one export for the tests below)."""
    cfg, model, task = load(CLASSIFIER)
    deform(model)
    pixels = sample_pixels(1, 64, 64)
    return cfg, model, task, pixels, export_model(cfg, model, task, pixels, dynamic=False)


def test_classifier_static_and_dynamic(classifier, tmp_path):
    cfg, model, task, pixels, static = classifier
    check(static)
    for runtime, (diff,) in verify_everywhere(model, task, static, pixels, dynamic=False).items():
        assert diff['logits'] <= 1e-4, runtime
    bf16 = verify(model, task, static, pixels, 'openvino', precision='bf16')  # OpenVINO's bf16 precision hint
    print('openvino bf16', bf16)
    if cpu_runs_bf16():
        assert 1e-4 < bf16['logits'] <= 0.05  # bf16 ran (not f32), and is close
    else:  # OpenVINO runs f32 where the CPU has no bf16 instructions
        assert bf16['logits'] <= 1e-4
    assert 'top-1' in run_onnx_infer(static, tmp_path, (64, 64))
    pipeline_diff = against_pipeline(cfg, model, task, static, tmp_path, (64, 64))
    print('pipeline', pipeline_diff)
    assert pipeline_diff['logits'] <= 1e-4
    dynamic = export_model(cfg, model, task, pixels, dynamic=True)
    check(dynamic)
    for runtime, diffs in verify_everywhere(model, task, dynamic, pixels, dynamic=True).items():
        assert all(diff['logits'] <= 1e-4 for diff in diffs), runtime
    # The deformation matters: the file (deformed weights) no longer matches the model without it.
    undeformed = copy.deepcopy(model)
    with torch.no_grad():
        for module in undeformed.modules():
            if hasattr(module, 'offset_scale') and hasattr(module, 'offset'):
                module.offset.bias.zero_()
    assert verify(undeformed, task, static, pixels)['logits'] > 1e-3


def test_external_data_and_openvino_ir(classifier, tmp_path):
    """Weights over the threshold (2 GB by default; here 0) go to FILE.onnx.data beside the file, which
    ONNX Runtime and OpenVINO read. ``export_onnx.py --openvino``'s IR, made from that pair: plain
    OpenVINO (no extension) loads it, with the ONNX file's input and outputs; onnx_infer runs it."""
    import openvino as ov
    _, model, task, pixels, static = classifier
    path = str(tmp_path / 'cls.onnx')
    written = save_onnx(static, path, external_data_threshold=0)
    data = Path(external_data_path(path))
    assert written == [path, str(data)]
    assert Path(path).stat().st_size < 0.05 * data.stat().st_size  # the weights are in the data file
    assert all(t.raw_data for t in static.graph.initializer)  # the proto keeps its tensors in memory
    xml, weights = save_openvino(path)
    assert Path(xml).name == 'cls.xml' and Path(weights).is_file()
    ir = ov.Core().read_model(xml)
    assert [i.get_any_name() for i in ir.inputs] == ['input'] and [o.get_any_name() for o in ir.outputs] == ['logits']
    assert 'DeformableConvolution' in {op.get_type_name() for op in ir.get_ops()}
    expected = reference(model, task, pixels)
    for source, runtime in ((path, 'onnxruntime'), (path, 'openvino'), (xml, 'openvino')):
        diff = differences(task, run_file(source, pixels, runtime), expected)
        print(Path(source).name, runtime, diff)
        assert diff['logits'] <= 1e-4, (source, runtime)
    assert 'top-1' in run_onnx_infer(xml, tmp_path, (64, 64), runtime='openvino')
    save_onnx(static, path)  # under the threshold again: one file, and no stale data file
    assert not data.exists()


SMALL_BACKBONE = {'model.backbone.channels': 16, 'model.backbone.depths': [1, 1, 2, 1],
                  'model.backbone.groups': [1, 2, 4, 8]}
# Mask2Former-H's backbone flags and head layout, at mmseg's stock Mask2Former widths (256 channels,
# 8 heads, FFN 1024) on a small backbone: what is exported is the same, at a test's cost.
SMALL_MASK2FORMER = {
    **SMALL_BACKBONE, 'model.backbone.level2_post_norm_block_ids': [1],
    'model.decode_head.in_channels': [16, 32, 64, 128], **MASK2FORMER_STOCK_WIDTHS}
MASK2FORMER = ROOT / 'configs/ade20k/mask2former_internimage_h_896_80k_cocostuff2ade20k_ss.py'


@pytest.mark.parametrize('config,options,size,dynamic,deform_convs', [
    (UPERNET, None, (64, 96), False, 30), (UPERNET, None, (64, 96), True, 30),
    (MASK2FORMER, SMALL_MASK2FORMER, (64, 64), True, 5)],
    ids=['upernet-static', 'upernet-dynamic', 'mask2former-dynamic'])
def test_segmentor(config, options, size, dynamic, deform_convs, tmp_path):
    """A dynamic export is checked at the sample and at another batch, height and width (UPerNet's
    pyramid pooling included; Mask2Former's deformable attention as the standard GridSample)."""
    cfg, model, task = load(config, options)
    deform(model)
    pixels = sample_pixels(1, *size)
    proto = export_model(cfg, model, task, pixels, dynamic=dynamic)
    check(proto, deform_convs)
    for runtime, diffs in verify_everywhere(model, task, proto, pixels, dynamic).items():
        assert all(diff['seg_logits'] <= 1e-4 for diff in diffs), runtime
    assert 'classes present' in run_onnx_infer(proto, tmp_path, size)
    pipeline_diff = against_pipeline(cfg, model, task, proto, tmp_path, size)
    print('pipeline', pipeline_diff)
    assert pipeline_diff['seg_logits'] <= 1e-4


DINO = ROOT / 'configs/coco/dino_4scale_internimage_t_1x_coco_layer_wise_lr.py'
MASK_RCNN = ROOT / 'configs/coco/mask_rcnn_internimage_t_fpn_1x_coco.py'


def spread_scores(model, seed=0):
    """Randomly initialised detection heads score every box alike (and below the thresholds):
    random classifier biases give confident, varied detections to compare."""
    gen = torch.Generator().manual_seed(seed)
    heads = []
    if hasattr(model, 'roi_head'):
        bbox_heads = model.roi_head.bbox_head  # Cascade: one per stage
        bbox_heads = bbox_heads if isinstance(bbox_heads, torch.nn.ModuleList) else [bbox_heads]
        heads = [(head.fc_cls, 2.0) for head in bbox_heads]
        with torch.no_grad():
            for head in bbox_heads:
                head.fc_cls.bias[-1] = -4.0  # mmdet's background class is the last one
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


CASCADE = ROOT / 'configs/coco/cascade_internimage_l_fpn_1x_coco.py'
# Cascade-L's class-specific box heads (3 stages) and mask head on a small backbone.
SMALL_CASCADE = {**SMALL_BACKBONE, 'model.neck.in_channels': [16, 32, 64, 128]}


@pytest.mark.parametrize('config,options,size,dynamic,deform_convs', [
    (MASK_RCNN, None, (128, 160), False, 30), (MASK_RCNN, None, (128, 160), True, 30),
    (CASCADE, SMALL_CASCADE, (128, 160), True, 5), (DINO, None, (256, 256), False, 30),
    (DINO, None, (256, 256), True, 30)],
    ids=['mask_rcnn-static', 'mask_rcnn-dynamic', 'cascade-dynamic', 'dino-static', 'dino-dynamic'])
def test_detector(config, options, size, dynamic, deform_convs, tmp_path):
    cfg, model, task = load(config, options)
    spread_scores(deform(model))
    pixels = sample_pixels(1, *size)
    proto = export_model(cfg, model, task, pixels, dynamic=dynamic)
    check(proto, deform_convs)
    for diffs in verify_everywhere(model, task, proto, pixels, dynamic).values():
        for diff in diffs:
            assert_same_detections(diff)
    assert ' 0 detections' not in run_onnx_infer(proto, tmp_path, size)
    diffs = against_pipeline(cfg, model, task, proto, tmp_path, size)
    print('pipeline', diffs)
    assert_same_detections(diffs)


def assert_same_detections(diffs):
    """Most detections kept by both sides match, with boxes within half a pixel and the same scores."""
    (ours, theirs), = diffs['counts']
    assert diffs['matched'] >= 5 and diffs['matched'] >= 0.8 * min(ours, theirs), diffs
    assert diffs['box'] <= 0.5 and diffs['score'] <= 1e-4, diffs


FLASH_CLASSIFIER = ROOT / 'configs/imagenet/flash_intern_image_s_1k_224.py'
# FlashInternImage-S's flags (post-norm, layer scale, bare 3x3 depthwise conv feeding the offsets) on a
# small backbone with the published 16 channels per group.
SMALL_FLASH = {'model.backbone.channels': 32, 'model.backbone.depths': [1, 1, 2, 1],
               'model.backbone.groups': [2, 4, 8, 16], 'model.head.in_channels': 256}


def test_flash_classifier_dynamic(tmp_path):
    """FlashInternImage: each DCNv4 layer as one standard DeformConv (raw masks), offsets and masks
    perturbed; ONNX Runtime and OpenVINO against PyTorch at two shapes and batches."""
    from ops_dcnv3.modules import DCNv4
    cfg, model, task = load(FLASH_CLASSIFIER, SMALL_FLASH)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, DCNv4):
                layer = module.offset_mask
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) * 0.05)
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen))
    pixels = sample_pixels(1, 64, 64)
    proto = export_model(cfg, model, task, pixels, dynamic=True)
    check(proto, deform_convs=5)
    for runtime, diffs in verify_everywhere(model, task, proto, pixels, dynamic=True).items():
        assert all(diff['logits'] <= 1e-4 for diff in diffs), runtime
    assert 'top-1' in run_onnx_infer(proto, tmp_path, (64, 64))


class PyramidPooling(torch.nn.Module):
    """Adaptive average pools at UPerNet's scales, concatenated flat."""

    def __init__(self, pool=torch.nn.AdaptiveAvgPool2d):
        super().__init__()
        self.pools = torch.nn.ModuleList(pool(scale) for scale in (1, 2, 3, 6, (2, 5)))

    def forward(self, x):
        return torch.cat([pool(x).flatten(1) for pool in self.pools], 1)


SIZES = [(6, 6), (7, 11), (13, 17), (64, 5), (25, 38)]  # divisible and not, taller and wider


def test_matrix_adaptive_pool_is_adaptive_pool():
    from internimage.deploy.dynamic_pooling import MatrixAdaptiveAvgPool2d, adaptive_pools_as_matrices
    gen = torch.Generator().manual_seed(0)
    for height, width in SIZES:
        x = torch.randn(2, 3, height, width, dtype=torch.float64, generator=gen)
        torch.testing.assert_close(PyramidPooling(MatrixAdaptiveAvgPool2d)(x), PyramidPooling()(x), rtol=0, atol=1e-12)
    model = PyramidPooling()
    with adaptive_pools_as_matrices(model):
        assert [type(p) for p in model.pools] == [torch.nn.AdaptiveAvgPool2d] + [MatrixAdaptiveAvgPool2d] * 4
    assert all(type(p) is torch.nn.AdaptiveAvgPool2d for p in model.pools)  # put back


def test_matrix_adaptive_pool_exports_for_any_size():
    """Exported once (dynamic) at one size, the pools compute nn.AdaptiveAvgPool2d's output at others."""
    import onnxruntime as ort
    from internimage.deploy.dynamic_pooling import MatrixAdaptiveAvgPool2d
    dim = torch.export.Dim.DYNAMIC
    program = torch.onnx.export(PyramidPooling(MatrixAdaptiveAvgPool2d), (torch.randn(1, 3, 12, 12),), dynamo=True,
                                opset_version=19, input_names=['x'], dynamic_shapes={'x': {0: dim, 2: dim, 3: dim}})
    session = ort.InferenceSession(program.model_proto.SerializeToString(), providers=['CPUExecutionProvider'])
    gen = torch.Generator().manual_seed(0)
    for height, width in SIZES:
        x = torch.randn(2, 3, height, width, generator=gen)
        got, = session.run(None, {'x': x.numpy()})
        np.testing.assert_allclose(got, PyramidPooling()(x).numpy(), rtol=0, atol=1e-5)
