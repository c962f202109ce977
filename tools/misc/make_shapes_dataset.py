"""Generate the embedded demo dataset: coloured geometric shapes on textured backgrounds.

Each image holds 1-3 shapes (circle, square, triangle), of varied size, rotation and colour (a
jittered hue family per class), that may overlap (later shapes occlude earlier ones). Written twice, reproducibly from a seed:

- COCO instance format: ``<out>/coco/{train,val}/*.jpg`` and
  ``<out>/coco/annotations/instances_{train,val}.json`` (boxes, RLE masks of the visible parts);
- ADE20K-style semantic format: ``<out>/ade/images/{training,validation}/*.jpg`` and
  ``<out>/ade/annotations/{training,validation}/*.png`` with 0 = unlabelled (ignored),
  1 = background, 2.. = the shape classes.

    python tools/misc/make_shapes_dataset.py data/shapes --train 400 --val 100 --size 128 --seed 0
"""
import argparse
import colorsys
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

VERSION = 2  # bump when the generated data changes; tools/demo.py regenerates older data
CLASSES = ('circle', 'square', 'triangle')
# Each class has its own hue family (degrees), jittered per instance, with random saturation and
# brightness: colour hints at the class, shape and context settle it. With fully random colours the
# class depends on shape alone, which tiny models trained from scratch for minutes do not learn.
CLASS_HUES = (0, 120, 240)
HUE_JITTER = 30
SEMANTIC_CLASSES = ('background', ) + CLASSES  # ADE-style labels 1.. (0 is ignored)


def textured_background(rng, size):
    """Smooth random colour gradient plus pixel noise."""
    corners = rng.uniform(40, 215, size=(2, 2, 3))
    t = np.linspace(0, 1, size)
    rows = corners[0][None] * (1 - t[:, None, None]) + corners[1][None] * t[:, None, None]  # (size, 2, 3)
    image = rows[:, :1] * (1 - t[None, :, None]) + rows[:, 1:] * t[None, :, None]
    return np.clip(image + rng.normal(0, 18, size=(size, size, 3)), 0, 255)


def shape_mask(rng, kind, size):
    """A filled shape of random position and scale, as a boolean mask."""
    canvas = Image.new('L', (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    radius = rng.uniform(0.1, 0.28) * size
    cx, cy = rng.uniform(radius, size - radius, size=2)
    if kind == 'circle':
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=1)
    elif kind == 'square':
        angle = rng.uniform(0, np.pi / 2)
        corners = [(cx + radius * np.cos(angle + k * np.pi / 2), cy + radius * np.sin(angle + k * np.pi / 2))
                   for k in range(4)]
        draw.polygon(corners, fill=1)
    else:
        angle = rng.uniform(0, 2 * np.pi)
        corners = [(cx + radius * np.cos(angle + k * 2 * np.pi / 3), cy + radius * np.sin(angle + k * 2 * np.pi / 3))
                   for k in range(3)]
        draw.polygon(corners, fill=1)
    return np.array(canvas, dtype=bool)


def class_colour(rng, label):
    """An RGB colour (0..255) of the class's hue family."""
    hue = (CLASS_HUES[label] + rng.uniform(-HUE_JITTER, HUE_JITTER)) % 360 / 360
    saturation, value = rng.uniform(0.45, 1.0), rng.uniform(0.45, 1.0)
    return np.array(colorsys.hsv_to_rgb(hue, saturation, value)) * 255


def make_sample(rng, size, max_shapes=3, min_visible=40):
    """An image, its instances (class index, visible mask) and its semantic label map."""
    image = textured_background(rng, size)
    semantic = np.ones((size, size), np.uint8)  # 1 = background
    instances = []
    for _ in range(rng.integers(1, max_shapes + 1)):
        label = int(rng.integers(len(CLASSES)))
        mask = shape_mask(rng, CLASSES[label], size)
        colour = class_colour(rng, label)
        shade = rng.uniform(0.85, 1.15, size=(size, size, 1))
        image = np.where(mask[..., None], np.clip(colour * shade, 0, 255), image)
        instances = [(lbl, m & ~mask) for lbl, m in instances]  # the new shape occludes older ones
        instances.append((label, mask))
        semantic[mask] = label + 2
    instances = [(lbl, m) for lbl, m in instances if m.sum() >= min_visible]
    return image.astype(np.uint8), instances, semantic


def encode_rle(mask):
    from pycocotools import mask as mask_utils
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle


def write_split(out, split, count, size, rng):
    ade_split = {'train': 'training', 'val': 'validation'}[split]
    for folder in (out / 'coco' / split, out / 'ade' / 'images' / ade_split, out / 'ade' / 'annotations' / ade_split):
        folder.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index in range(count):
        image, instances, semantic = make_sample(rng, size)
        name = f'{split}_{index:05d}'
        Image.fromarray(image).save(out / 'coco' / split / f'{name}.jpg', quality=95)
        Image.fromarray(image).save(out / 'ade' / 'images' / ade_split / f'{name}.jpg', quality=95)
        Image.fromarray(semantic).save(out / 'ade' / 'annotations' / ade_split / f'{name}.png')
        images.append(dict(id=index + 1, file_name=f'{name}.jpg', height=size, width=size))
        for label, mask in instances:
            ys, xs = np.nonzero(mask)
            x0, y0 = int(xs.min()), int(ys.min())
            annotations.append(dict(
                id=len(annotations) + 1, image_id=index + 1, category_id=label + 1, iscrowd=0,
                area=int(mask.sum()), bbox=[x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1],
                segmentation=encode_rle(mask)))
    categories = [dict(id=i + 1, name=name) for i, name in enumerate(CLASSES)]
    (out / 'coco' / 'annotations').mkdir(exist_ok=True)
    with open(out / 'coco' / 'annotations' / f'instances_{split}.json', 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=categories), f)


def make_dataset(out, train=400, val=100, size=128, seed=0):
    out = Path(out)
    rng = np.random.default_rng(seed)
    write_split(out, 'train', train, size, rng)
    write_split(out, 'val', val, size, rng)  # held out: generated after, never used in training
    with open(out / 'dataset.json', 'w') as f:
        json.dump(dict(version=VERSION, train=train, val=val, size=size, seed=seed), f)
    return out


def is_current(out):
    """Whether ``out`` holds data written by this version of the generator."""
    try:
        with open(Path(out) / 'dataset.json') as f:
            return json.load(f).get('version') == VERSION
    except (OSError, ValueError):
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('out', help='output folder')
    parser.add_argument('--train', type=int, default=400, help='training images')
    parser.add_argument('--val', type=int, default=100, help='held-out images')
    parser.add_argument('--size', type=int, default=128, help='image side in pixels')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    make_dataset(args.out, args.train, args.val, args.size, args.seed)
    print(f'wrote {args.train} training and {args.val} held-out images to {args.out}')


if __name__ == '__main__':
    main()
