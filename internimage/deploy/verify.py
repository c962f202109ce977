"""An exported file against the PyTorch model: both run on the same pixels, their differences.

Classifiers and segmentors: the largest difference of the logits (relative to the largest logit, and
absolute). Detectors: the detections both keep, matched by label and IoU, and their largest box and
score differences.
"""
import contextlib
import os
import os.path as osp
import tempfile

import numpy as np
import torch
from torch import nn


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


def second_shape(task, batch, height, width):
    """(batch, height, width) of the second input a dynamic file is checked on: another height and
    width (not multiples of 32) and, for classifiers and segmentors, another batch."""
    return batch + (task != 'detection'), height + height // 4 + 1, width - width // 4 + 1


def torch_detections(model, pixels):
    """The PyTorch detector's own predictions on ``pixels``: per image (boxes, scores, labels)."""
    from .normalisation import Normalize
    from .wrappers import det_data_samples
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


def compare_detections(outputs, reference):
    """Largest box and score differences over the detections both keep, and how many those are."""
    box_diff, score_diff, matched, counts = 0.0, 0.0, 0, []
    for image, (ref_boxes, ref_scores, ref_labels) in enumerate(reference):
        dets, labels = outputs['dets'][image], outputs['labels'][image]
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


@contextlib.contextmanager
def as_file(model):
    """A path to ``model``: the path itself, or a ModelProto written to a temporary file."""
    if isinstance(model, (str, os.PathLike)):
        yield os.fspath(model)
        return
    import onnx
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'model.onnx')
        onnx.save(model, path)
        yield path


def run_file(model, pixels, runtime='onnxruntime', precision='f32', threads=None):
    """Outputs of ``model`` (a path or ModelProto) on ``pixels`` (a tensor) in ``runtime``."""
    from .runtime import open_session
    with as_file(model) if runtime == 'openvino' else contextlib.nullcontext(model) as source:
        return open_session(source, runtime, threads, precision).run(pixels.numpy())


def reference(model, task, pixels):
    """What the PyTorch model computes on ``pixels``: the logits, or per image (boxes, scores, labels)."""
    from .wrappers import dense_wrapper
    model.eval()
    if task == 'detection':
        return torch_detections(model, pixels)
    wrapper, _ = dense_wrapper(model, task)
    with torch.no_grad():
        return wrapper(pixels).numpy()


def differences(task, outputs, expected):
    """The file's ``outputs`` against the :func:`reference` ``expected`` (see the module docstring)."""
    from .wrappers import OUTPUT_NAMES
    if task == 'detection':
        return compare_detections(outputs, expected)
    name = OUTPUT_NAMES[task]
    return {name: relative_difference(outputs[name], expected),
            f'{name}_abs': float(np.abs(outputs[name] - expected).max())}


def verify(model, task, exported, pixels, runtime='onnxruntime', precision='f32'):
    """Run ``exported`` (a path or ModelProto) in ``runtime`` and the model in PyTorch on ``pixels``:
    the differences."""
    return differences(task, run_file(exported, pixels, runtime, precision), reference(model, task, pixels))


def describe(task, diffs, where, runtime='ONNX Runtime'):
    """One line for the differences :func:`verify` returns."""
    if task == 'detection':
        return (f"{runtime} vs PyTorch on {where}: max box difference {diffs['box']:.3g} px, max score "
                f"difference {diffs['score']:.3g} over {diffs['matched']} detections both keep "
                f"(kept per image, {runtime} / PyTorch: {diffs['counts']})")
    name = next(iter(diffs))
    return (f'{runtime} vs PyTorch on {where}: {name} max difference {diffs[name + "_abs"]:.3g} '
            f'({diffs[name]:.3g} of the largest value)')
