"""Run an ONNX file written by tools/deploy/export_onnx.py on images with ONNX Runtime alone (no torch,
no OpenMMLab package) and draw the predictions to PNG, like tools/image_demo.py::

    python tools/deploy/onnx_infer.py FILE IMAGE... [--out DIR] [--score-thr 0.3]

Detection: boxes, labels and scores (and masks for instance segmentation); segmentation: a
coloured label overlay; classification: the top-5 classes. Images are resized to fit a static
input (keeping their aspect ratio) and padded with the mean colour, which the graph's
normalisation maps to zero, as the PyTorch pipelines pad after normalising.
"""
import argparse
import json
import os
import os.path as osp
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageDraw


class OnnxModel:
    """An exported InternImage model and the conventions stored in its metadata."""

    def __init__(self, path, threads=None):
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        meta = self.session.get_modelmeta().custom_metadata_map
        if 'internimage.task' not in meta:
            raise ValueError(f'{path}: no internimage.* metadata; export it with tools/deploy/export_onnx.py')
        self.task = meta['internimage.task']
        self.classes = json.loads(meta['internimage.classes'])
        self.mean = np.asarray(json.loads(meta['internimage.mean']), np.float32)
        self.size_divisor = int(meta['internimage.size_divisor'])
        self.input = self.session.get_inputs()[0]
        _, _, height, width = self.input.shape
        self.static_size = (height, width) if isinstance(height, int) and isinstance(width, int) else None

    def prepare(self, rgb):
        """(1, 3, H, W) float32 input and the scale from the image to it."""
        h, w = rgb.shape[:2]
        if self.static_size is not None:
            target_h, target_w = self.static_size
            scale = min(target_h / h, target_w / w)
        else:
            scale = 1.0
            divisor = self.size_divisor
            target_h, target_w = -(-h // divisor) * divisor, -(-w // divisor) * divisor
        new_w, new_h = max(int(round(w * scale)), 1), max(int(round(h * scale)), 1)
        resized = np.asarray(Image.fromarray(rgb).resize((new_w, new_h), Image.BILINEAR), np.float32)
        canvas = np.empty((target_h, target_w, 3), np.float32)
        canvas[:] = self.mean
        canvas[:new_h, :new_w] = resized
        return canvas.transpose(2, 0, 1)[None], scale, (new_h, new_w)

    def __call__(self, rgb):
        pixels, scale, valid = self.prepare(rgb)
        outputs = self.session.run(None, {self.input.name: pixels})
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, outputs)), scale, valid


def palette(count):
    """A fixed colour per class (deterministic, no randomness between runs)."""
    index = np.arange(count)
    return np.stack([(index * 67 + 41) % 256, (index * 139 + 89) % 256, (index * 211 + 157) % 256], 1).astype(np.uint8)


def class_name(classes, label):
    return classes[label] if 0 <= label < len(classes) else str(label)


def draw_detections(rgb, outputs, scale, classes, score_thr):
    image = rgb.copy()
    dets, labels = outputs['dets'][0], outputs['labels'][0]
    keep = dets[:, 4] >= score_thr
    colours = palette(max(len(classes), int(labels.max(initial=0)) + 1))
    masks = outputs.get('masks')
    h, w = image.shape[:2]
    boxes = dets[keep, :4] / scale
    if masks is not None:
        for box, mask, label in zip(boxes, masks[0][keep], labels[keep]):
            x0, y0, x1, y1 = np.clip(np.round(box), 0, [w, h, w, h]).astype(int)
            if x1 <= x0 or y1 <= y0:
                continue
            pasted = np.asarray(Image.fromarray(mask.astype(np.float32)).resize((x1 - x0, y1 - y0), Image.BILINEAR))
            region = image[y0:y1, x0:x1]
            region[pasted >= 0.5] = (0.5 * region[pasted >= 0.5] + 0.5 * colours[label]).astype(np.uint8)
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    for box, score, label in zip(boxes, dets[keep, 4], labels[keep]):
        colour = tuple(int(c) for c in colours[label])
        draw.rectangle([float(v) for v in box], outline=colour, width=2)
        draw.text((float(box[0]) + 2, float(box[1]) + 1), f'{class_name(classes, int(label))} {score:.2f}', fill=colour)
    return canvas, int(keep.sum())


def draw_segmentation(rgb, outputs, valid, classes):
    logits = outputs['seg_logits'][0][:, :valid[0], :valid[1]]
    labels = logits.argmax(0).astype(np.int32)
    labels = np.asarray(Image.fromarray(labels).resize((rgb.shape[1], rgb.shape[0]), Image.NEAREST))
    colours = palette(max(len(classes), logits.shape[0]))
    return Image.fromarray((0.5 * rgb + 0.5 * colours[labels]).astype(np.uint8)), len(np.unique(labels))


def draw_classification(rgb, outputs, classes):
    logits = outputs['logits'][0].astype(np.float64)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    top = np.argsort(-probs)[:5]
    canvas = Image.fromarray(rgb)
    draw = ImageDraw.Draw(canvas)
    for row, label in enumerate(top):
        draw.text((4, 4 + 12 * row), f'{class_name(classes, int(label))} {probs[label]:.3f}', fill=(255, 255, 0))
    return canvas, int(top[0])


def predict_and_draw(model, image_path, out_file, score_thr=0.3):
    rgb = np.asarray(Image.open(image_path).convert('RGB'))
    outputs, scale, valid = model(rgb)
    if model.task == 'detection':
        canvas, summary = draw_detections(rgb, outputs, scale, model.classes, score_thr)
        summary = f'{summary} detections'
    elif model.task == 'segmentation':
        canvas, summary = draw_segmentation(rgb, outputs, valid, model.classes)
        summary = f'{summary} classes present'
    else:
        canvas, top = draw_classification(rgb, outputs, model.classes)
        summary = f'top-1 {class_name(model.classes, top)}'
    canvas.save(out_file)
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('file', help='an .onnx file from tools/deploy/export_onnx.py')
    parser.add_argument('images', nargs='+')
    parser.add_argument('--out', default='onnx_vis', help='folder for the PNGs')
    parser.add_argument('--score-thr', type=float, default=0.3, help='detections below are not drawn')
    parser.add_argument('--threads', type=int, default=None)
    args = parser.parse_args()
    for path in [args.file, *args.images]:
        if not osp.isfile(path):
            sys.exit(f'not found: {path}')
    try:
        model = OnnxModel(args.file, args.threads)
    except ValueError as error:
        sys.exit(str(error))
    os.makedirs(args.out, exist_ok=True)
    for image in args.images:
        out_file = osp.join(args.out, osp.splitext(osp.basename(image))[0] + '.png')
        print(f'{image}: {predict_and_draw(model, image, out_file, args.score_thr)} -> {out_file}')


if __name__ == '__main__':
    main()
