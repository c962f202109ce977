"""Export an InternImage model to ONNX (opset >= 19, DCNv3 as the standard DeformConv), run the file in
ONNX Runtime on a sample input and print the largest difference against PyTorch::

    python tools/deploy/export_onnx.py CONFIG [CHECKPOINT] --out FILE [--shape H W] [--batch N]
                                       [--dynamic] [--opset 19] [--image IMAGE] [--cfg-options K=V ...]

The file's input ``input`` is (N, 3, H, W) float32 RGB pixel values (0-255); the normalisation of
the config's data preprocessor is inside the graph. Outputs:

- classifier (mmpretrain): ``logits`` (N, classes);
- segmentor (mmseg, UPerNet, Mask2Former): ``seg_logits`` (N, classes, H, W), at input resolution;
- detector (mmdet, through mmdeploy): ``dets`` (N, K, 5: x1 y1 x2 y2 score, input pixels),
  ``labels`` (N, K) and, for instance segmentation, ``masks`` (N, K, 28, 28 RoI masks).

The task, class names and input conventions are stored in the file's metadata for
``tools/deploy/onnx_infer.py``. Without CHECKPOINT the model keeps its initial weights (the
backbone's ``init_cfg`` is dropped: published weights are a download away). A ``--dynamic`` file
(any batch, height and width) is also checked on a second input of another shape.
"""
import argparse
import contextlib
import copy
import io
import json
import os.path as osp
import sys
import tempfile

import numpy as np
import torch
from torch import nn

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEPLOY_CONFIGS = osp.join(ROOT, 'configs', 'deploy')
MIN_OPSET = 19
TASKS = {'mmpretrain': 'classification', 'mmseg': 'segmentation', 'mmdet': 'detection'}


# --- the model -------------------------------------------------------------------------------

def load_model(config, checkpoint=None, cfg_options=None):
    """``(cfg, model, task)`` for a config file (or Config), in eval mode on the CPU."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner.checkpoint import CheckpointLoader, load_state_dict
    from mmengine.utils import import_modules_from_strings

    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope')
    if scope not in TASKS:
        raise ValueError(f'{config}: default_scope must be one of {sorted(TASKS)}, got {scope!r}')
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    # As mmengine's Runner builds the model: the config's top-level data_preprocessor is the
    # model's unless the model sets its own (mmpretrain configs keep it at the top level only).
    if cfg.get('data_preprocessor') is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    if checkpoint is None and cfg.model.get('backbone', {}).get('init_cfg'):
        cfg.model.backbone.init_cfg = None
    registry = {'mmpretrain': 'mmpretrain.registry', 'mmseg': 'mmseg.registry', 'mmdet': 'mmdet.registry'}[scope]
    models = __import__(registry, fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = models.build(copy.deepcopy(cfg.model))  # DINO writes into its bbox_head dict
        if checkpoint is None:
            model.init_weights()
    if checkpoint is not None:
        from internimage.checkpoint import unwrap_state_dict
        from internimage.safe_loading import allow_mmengine_checkpoints
        allow_mmengine_checkpoints()
        state = unwrap_state_dict(CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu'), checkpoint)
        load_state_dict(model, state, strict=True)
    return cfg, model.eval(), TASKS[scope]


def pixel_normalisation(model):
    """``(mean, std, order)`` such that the model's input channel ``c`` is
    ``(rgb[order[c]] - mean[order[c]]) / std[order[c]]`` for RGB pixels ``rgb``: found by running the
    model's own data preprocessor on probe images, whatever its kind and however it names its flags.

    The test pipelines load images BGR (mmcv's convention); the probes are fed in that order."""
    pre = model.data_preprocessor
    probes = torch.zeros(4, 3, 2, 2, dtype=torch.uint8)  # black, then each BGR channel at 255
    for channel in range(3):
        probes[channel + 1, channel] = 255
    responses = _preprocess(pre, probes)[:, :, 0, 0]  # (probe, model channel)
    black, gains = responses[0], (responses[1:] - responses[0]) / 255  # gains[bgr channel, model channel]
    source = gains.abs().argmax(0)
    if sorted(source.tolist()) != [0, 1, 2] or (gains.abs() > 1e-6).sum() != 3:
        raise ValueError(f'{type(pre).__name__}: the data preprocessor does not map each pixel channel onto '
                         f'one input channel (gains {gains.tolist()}); cannot put it in the graph')
    order = [2 - int(bgr) for bgr in source]  # model channel c reads RGB channel order[c]
    mean, std = torch.empty(3, dtype=torch.float64), torch.empty(3, dtype=torch.float64)
    for c, rgb in enumerate(order):
        std[rgb] = 1 / gains[2 - rgb, c]
        mean[rgb] = -black[c] * std[rgb]
    # The map must be affine per channel: check it on a random probe.
    sample = torch.randint(0, 256, (1, 3, 5, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    expected = _preprocess(pre, sample)[:, :, :5, :7]
    got = ((sample.flip(1).double() - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1))[:, order]
    if not torch.allclose(got, expected, rtol=1e-5, atol=1e-5):
        raise ValueError(f'{type(pre).__name__}: the data preprocessor is not a per-channel affine map of the '
                         f'pixels (largest difference {float((got - expected).abs().max()):.3g}); cannot put it in the graph')
    return mean.float(), std.float(), order


def _preprocess(pre, images):
    """The preprocessor's test-mode output for a batch of uint8 images (N, 3, H, W), as float64."""
    from mmengine.structures import BaseDataElement
    # Empty samples: some preprocessors record pad shapes in them (mmseg's with a test_cfg).
    samples = [BaseDataElement() for _ in images]
    with torch.no_grad():
        inputs = pre(dict(inputs=list(images), data_samples=samples), False)['inputs']
    if isinstance(inputs, (list, tuple)):  # a preprocessor that does not stack (mmengine's base one)
        inputs = torch.stack(list(inputs))
    return inputs.double()


class Normalize(nn.Module):
    """RGB pixels -> the model's input, as its data preprocessor computes it from the loaded image."""

    def __init__(self, model):
        super().__init__()
        mean, std, order = pixel_normalisation(model)
        self.register_buffer('mean', mean.view(1, 3, 1, 1))
        self.register_buffer('std', std.view(1, 3, 1, 1))
        self.order = None if order == [0, 1, 2] else order

    def forward(self, pixels):
        normalised = (pixels - self.mean) / self.std
        return normalised if self.order is None else normalised[:, self.order]


class NormalizedModel(nn.Module):
    """A model fed RGB pixels: its normalisation first (subclasses pick the model's output)."""

    def __init__(self, model):
        super().__init__()
        self.normalize = Normalize(model)
        self.model = model
        # The TorchScript exporter puts every module back in the wrapper's mode after exporting:
        # a wrapper left in training mode would switch drop-path and dropout on in the model.
        self.eval()


class ClassifierLogits(NormalizedModel):
    def forward(self, pixels):
        return self.model(self.normalize(pixels), mode='tensor')


class SegmentorLogits(NormalizedModel):
    """Seg logits at input resolution (UPerNet and Mask2Former alike: the head's own predict)."""

    def forward(self, pixels):
        shape = pixels.shape[2:]
        # The heads read the first image's meta only (one size per batch); one entry keeps the
        # batch size out of Python, so that it stays dynamic.
        metas = [dict(img_shape=shape, pad_shape=shape, ori_shape=shape)]
        return self.model.encode_decode(self.normalize(pixels), metas)


class DetectorPredict(NormalizedModel):
    """Normalisation, then the detector's predict path (rewritten by mmdeploy during export)."""

    def forward(self, pixels, data_samples=None, mode='predict'):
        return self.model(self.normalize(pixels), data_samples, mode=mode)


def det_data_samples(batch, height, width):
    from mmdet.structures import DetDataSample
    shape = (height, width)
    return [DetDataSample(metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape,
                                        batch_input_shape=shape, scale_factor=(1.0, 1.0)))
            for _ in range(batch)]


# --- export ----------------------------------------------------------------------------------

def export_dense(wrapper, pixels, output_name, dynamic, opset, exporter):
    """Classifier or segmentor: torch.onnx.export with the DCNv3 translation. A dynamic export
    swaps adaptive average pools (UPerNet's pyramid pooling) for a form exported for any size."""
    from dynamic_pooling import adaptive_pools_as_matrices
    with adaptive_pools_as_matrices(wrapper) if dynamic else contextlib.nullcontext():
        return _torch_export(wrapper, pixels, output_name, dynamic, opset, exporter)


def _torch_export(wrapper, pixels, output_name, dynamic, opset, exporter):
    from ops_dcnv3.onnx import custom_translation_table
    if exporter == 'dynamo':
        dynamic_shapes = None
        if dynamic:
            dim = torch.export.Dim.DYNAMIC
            dynamic_shapes = {'pixels': {0: dim, 2: dim, 3: dim}}
        program = torch.onnx.export(wrapper, (pixels,), dynamo=True, opset_version=opset,
                                    input_names=['input'], output_names=[output_name],
                                    dynamic_shapes=dynamic_shapes, custom_translation_table=custom_translation_table())
        return program.model_proto
    import onnx
    buffer = io.BytesIO()
    dynamic_axes = None
    if dynamic:
        dynamic_axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}, output_name: {0: 'batch'}}
        if output_name == 'seg_logits':
            dynamic_axes[output_name].update({2: 'height', 3: 'width'})
    from torchscript_fixes import torchscript_exporter_fixes
    with torch.no_grad(), torchscript_exporter_fixes():
        torch.onnx.export(wrapper, (pixels,), buffer, dynamo=False, opset_version=opset, input_names=['input'],
                          output_names=[output_name], dynamic_axes=dynamic_axes)
    return onnx.load_from_string(buffer.getvalue())


def deploy_config(model, dynamic, opset):
    """mmdeploy's onnxruntime deploy config for this detector (configs/deploy/)."""
    from mmengine.config import Config
    with_mask = getattr(model, 'with_mask', False)
    name = f"{'instance-seg' if with_mask else 'detection'}_onnxruntime_{'dynamic' if dynamic else 'static'}.py"
    cfg = Config.fromfile(osp.join(DEPLOY_CONFIGS, name))
    cfg.onnx_config.opset_version = opset
    return cfg


def export_detector(cfg, model, pixels, opset, dynamic):
    """Detector through mmdeploy's rewriters (post-processing and NMS in the graph)."""
    import onnx
    from mmdeploy.apis.onnx import export
    from mmdeploy.codebase import import_codebase
    from mmdeploy.utils import get_codebase, get_dynamic_axes, get_onnx_config
    from mmdeploy_compat import mmdeploy_on_torch214

    deploy_cfg = deploy_config(model, dynamic, opset)
    import_codebase(get_codebase(deploy_cfg))  # registers mmdeploy's mmdet rewriters
    import mmdeploy_rewriters  # noqa: F401 (registers the rewriters that keep to mmdet: RPN, Cascade)
    onnx_cfg = get_onnx_config(deploy_cfg)
    names = onnx_cfg['input_names'] + onnx_cfg['output_names']
    samples = det_data_samples(pixels.shape[0], *pixels.shape[2:])
    from torchscript_fixes import torchscript_exporter_fixes
    with tempfile.TemporaryDirectory() as tmp, mmdeploy_on_torch214(), torchscript_exporter_fixes():
        prefix = osp.join(tmp, 'end2end')
        export(DetectorPredict(model), pixels, prefix, backend=deploy_cfg.backend_config.type,
               input_metas=dict(data_samples=samples, mode='predict'),
               context_info=dict(deploy_cfg=deploy_cfg, cfg=deploy_cfg), input_names=onnx_cfg['input_names'],
               output_names=onnx_cfg['output_names'], opset_version=opset,
               dynamic_axes=get_dynamic_axes(deploy_cfg, names) if dynamic else None,
               keep_initializers_as_inputs=False, optimize=False)
        return onnx.load(prefix + '.onnx'), deploy_cfg


def add_metadata(model_proto, task, model, cfg, dynamic):
    mean, std, _ = pixel_normalisation(model)
    meta = model.dataset_meta if getattr(model, 'dataset_meta', None) else {}
    classes = meta.get('classes')
    if classes is None:
        classes = _dataset_classes(cfg)
    pre = model.data_preprocessor
    entries = {
        'task': task,
        'classes': json.dumps(list(classes) if classes else []),
        'mean': json.dumps(mean.flatten().tolist()),
        'std': json.dumps(std.flatten().tolist()),
        'size_divisor': str(getattr(pre, 'pad_size_divisor', 1) or 1),
        'dynamic': str(bool(dynamic)),
        'input': 'float32 (N, 3, H, W) RGB pixels 0-255; pad with the mean colour',
    }
    for key, value in entries.items():
        prop = model_proto.metadata_props.add()
        prop.key, prop.value = f'internimage.{key}', value


def _dataset_classes(cfg):
    """Class names of the config's test dataset type, from its registry (no data needed)."""
    try:
        dataset = cfg.test_dataloader.dataset
        scope = cfg.default_scope
        registry = __import__(f'{scope}.registry', fromlist=['DATASETS']).DATASETS
        dataset_cls = registry.get(dataset.type)
        return dataset.get('metainfo', {}).get('classes') or dataset_cls.METAINFO.get('classes')
    except (AttributeError, KeyError, TypeError):
        return None


# --- ONNX Runtime and the comparison -----------------------------------------------------------

def run_onnxruntime(model_proto, pixels, threads=None):
    import onnxruntime as ort
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(model_proto.SerializeToString(), options, providers=['CPUExecutionProvider'])
    outputs = session.run(None, {session.get_inputs()[0].name: pixels.numpy()})
    return {o.name: value for o, value in zip(session.get_outputs(), outputs)}


def torch_detections(model, pixels):
    """The PyTorch detector's own predictions on ``pixels``: per image (boxes, scores, labels)."""
    with torch.no_grad():
        samples = model.predict(Normalize(model)(pixels), det_data_samples(pixels.shape[0], *pixels.shape[2:]))
    return [(s.pred_instances.bboxes.numpy(), s.pred_instances.scores.numpy(), s.pred_instances.labels.numpy())
            for s in samples]


def box_iou(a, b):
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=-1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def match_detections(ours, theirs, iou=0.9):
    """Pairs (i, j) of detections with the same label and IoU >= ``iou``, greedily by IoU."""
    (boxes_a, _, labels_a), (boxes_b, _, labels_b) = ours, theirs
    if len(boxes_a) == 0 or len(boxes_b) == 0:
        return []
    overlap = box_iou(boxes_a, boxes_b) * (labels_a[:, None] == labels_b[None, :])
    pairs = []
    for flat in np.argsort(-overlap, axis=None):
        i, j = np.unravel_index(flat, overlap.shape)
        if overlap[i, j] < iou:
            break
        if all(i != p and j != q for p, q in pairs):
            pairs.append((i, j))
    return pairs


def compare_detections(ort_outputs, reference):
    """Largest box and score differences over the detections both keep, and how many those are."""
    box_diff, score_diff, matched, counts = 0.0, 0.0, 0, []
    for image, (ref_boxes, ref_scores, ref_labels) in enumerate(reference):
        dets, labels = ort_outputs['dets'][image], ort_outputs['labels'][image]
        keep = dets[:, 4] > 0
        ours = (dets[keep, :4], dets[keep, 4], labels[keep])
        pairs = match_detections(ours, (ref_boxes, ref_scores, ref_labels))
        for i, j in pairs:
            box_diff = max(box_diff, float(np.abs(ours[0][i] - ref_boxes[j]).max()))
            score_diff = max(score_diff, float(abs(ours[1][i] - ref_scores[j])))
        matched += len(pairs)
        counts.append((int(keep.sum()), len(ref_boxes)))
    return dict(box=box_diff, score=score_diff, matched=matched, counts=counts)


def relative_difference(got, expected):
    return float(np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-12))


def sample_pixels(batch, height, width, image=None, seed=0):
    """(N, 3, H, W) RGB pixels: an image file resized to (H, W), or a seeded smooth random image."""
    if image is not None:
        from PIL import Image
        rgb = np.asarray(Image.open(image).convert('RGB').resize((width, height), Image.BILINEAR), np.float32)
        one = torch.from_numpy(rgb.transpose(2, 0, 1).copy())[None]
    else:
        gen = torch.Generator().manual_seed(seed)
        coarse = torch.rand(1, 3, max(height // 8, 1), max(width // 8, 1), generator=gen) * 255
        one = nn.functional.interpolate(coarse, size=(height, width), mode='bilinear', align_corners=False)
    return one.repeat(batch, 1, 1, 1)


def reads_shapes_as_tensors(model):
    """Whether ``model`` has mmdet's deformable-attention pixel decoder (Mask2Former): it reads feature
    sizes with ``torch._shape_as_tensor`` and splits by them, written for the TorchScript exporter;
    torch.export (the dynamo exporter) cannot trace it."""
    from mmdet.models.layers import MSDeformAttnPixelDecoder
    return any(isinstance(module, MSDeformAttnPixelDecoder) for module in model.modules())


def export_model(cfg, model, task, pixels, dynamic=False, opset=MIN_OPSET, exporter=None):
    """Export ``model``; returns the ModelProto (checked, metadata added). ``exporter`` (classifiers and
    segmentors): 'dynamo' or 'torchscript'; None picks dynamo, or TorchScript for Mask2Former."""
    import onnx
    if opset < MIN_OPSET:
        raise ValueError(f'--opset {opset}: DCNv3 exports as ONNX DeformConv, which needs opset >= {MIN_OPSET}')
    needs_torchscript = task == 'segmentation' and reads_shapes_as_tensors(model)
    if exporter is None:
        exporter = 'torchscript' if needs_torchscript else 'dynamo'
    elif exporter == 'dynamo' and needs_torchscript:
        raise ValueError(f'{type(model.decode_head).__name__}: its pixel decoder (mmdet MSDeformAttnPixelDecoder) '
                         'reads feature sizes as tensors, which the dynamo exporter cannot trace; '
                         'use --exporter torchscript')
    if task == 'classification':
        proto = export_dense(ClassifierLogits(model), pixels, 'logits', dynamic, opset, exporter)
    elif task == 'segmentation':
        proto = export_dense(SegmentorLogits(model), pixels, 'seg_logits', dynamic, opset, exporter)
    else:
        proto, _ = export_detector(cfg, model, pixels, opset, dynamic)
    add_metadata(proto, task, model, cfg, dynamic)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def verify(model, task, proto, pixels):
    """Run ``proto`` in ONNX Runtime and the model in PyTorch on ``pixels``: the differences."""
    outputs = run_onnxruntime(proto, pixels)
    model.eval()
    if task == 'detection':
        return compare_detections(outputs, torch_detections(model, pixels))
    wrapper = ClassifierLogits(model) if task == 'classification' else SegmentorLogits(model)
    name = 'logits' if task == 'classification' else 'seg_logits'
    with torch.no_grad():
        expected = wrapper(pixels).numpy()
    return {name: relative_difference(outputs[name], expected),
            f'{name}_abs': float(np.abs(outputs[name] - expected).max())}


def main():
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), default=None,
                        help='sample input size (default 224 224, detectors 800 1344, segmentors 512 512)')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--dynamic', action='store_true', help='dynamic batch, height and width')
    parser.add_argument('--opset', type=int, default=MIN_OPSET)
    parser.add_argument('--exporter', choices=['dynamo', 'torchscript'], default=None,
                        help='torch exporter for classifiers and segmentors (default: dynamo; TorchScript for '
                             'Mask2Former, whose pixel decoder dynamo cannot trace; detectors: mmdeploy, TorchScript)')
    parser.add_argument('--image', help='an image for the sample input (default: a seeded random image)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    args = parser.parse_args()
    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint'), (args.image, 'image')):
        if path is not None and not osp.isfile(path) and '://' not in path:
            sys.exit(f'{what} not found: {path}')
    if args.opset < MIN_OPSET:
        sys.exit(f'--opset {args.opset}: DCNv3 exports as ONNX DeformConv, which needs opset >= {MIN_OPSET}')
    sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

    cfg, model, task = load_model(args.config, args.checkpoint, args.cfg_options)
    default_shape = {'classification': (224, 224), 'segmentation': (512, 512), 'detection': (800, 1344)}[task]
    height, width = args.shape or default_shape
    pixels = sample_pixels(args.batch, height, width, args.image)
    try:
        proto = export_model(cfg, model, task, pixels, args.dynamic, args.opset, args.exporter)
    except ValueError as error:  # a model / exporter combination that cannot work, explained
        sys.exit(f'{args.config}: {error}')
    import onnx
    onnx.save(proto, args.out)
    print(f'wrote {args.out} ({task}, opset {args.opset}, {"dynamic" if args.dynamic else "static"} shape)')
    print_differences(task, verify(model, task, proto, pixels), f'the sample {tuple(pixels.shape)}')
    if args.dynamic:  # the same file at another input shape
        other = sample_pixels(*second_shape(task, batch=args.batch, height=height, width=width), args.image, seed=1)
        print_differences(task, verify(model, task, proto, other), f'another input {tuple(other.shape)}')


def second_shape(task, batch, height, width):
    """(batch, height, width) of the second input a dynamic file is checked on: another height and
    width (not multiples of 32) and, for classifiers and segmentors, another batch."""
    return batch + (task != 'detection'), height + height // 4 + 1, width - width // 4 + 1


def print_differences(task, diffs, where):
    if task == 'detection':
        print(f"ONNX Runtime vs PyTorch on {where}: max box difference {diffs['box']:.3g} px, max score "
              f"difference {diffs['score']:.3g} over {diffs['matched']} detections both keep "
              f"(kept per image, ONNX / PyTorch: {diffs['counts']})")
    else:
        name = next(iter(diffs))
        print(f'ONNX Runtime vs PyTorch on {where}: {name} max difference {diffs[name + "_abs"]:.3g} '
              f'({diffs[name]:.3g} of the largest value)')


if __name__ == '__main__':
    main()
