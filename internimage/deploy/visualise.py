"""Predictions of an exported model drawn onto the image, like tools/image_demo.py: detections (boxes,
labels, scores, pasted instance masks), a coloured label overlay, or the top-5 classes. numpy and PIL
only (no torch, no OpenMMLab package)."""
import numpy as np
from PIL import Image, ImageDraw


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
    """Run ``model`` (a runtime.DeployedModel) on an image file, draw its predictions to ``out_file``;
    returns a one-line summary."""
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


