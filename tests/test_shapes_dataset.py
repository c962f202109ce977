"""tools/misc/make_shapes_dataset.py: reproducible from the seed, versioned, labels consistent across the
COCO and ADE-style formats, shape colours in their class's hue family."""
import colorsys
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'tools/misc'))
import make_shapes_dataset as shapes  # noqa: E402


def test_same_seed_same_data_and_version_marker(tmp_path):
    a = shapes.make_dataset(tmp_path / 'a', train=4, val=2, size=64, seed=3)
    b = shapes.make_dataset(tmp_path / 'b', train=4, val=2, size=64, seed=3)
    for rel in ('coco/annotations/instances_train.json', 'ade/annotations/validation/val_00001.png'):
        assert (a / rel).read_bytes() == (b / rel).read_bytes()
    assert shapes.is_current(a)
    (a / 'dataset.json').write_text(json.dumps(dict(version=shapes.VERSION - 1)))
    assert not shapes.is_current(a) and not shapes.is_current(tmp_path / 'missing')


def test_class_colours_stay_in_their_hue_family():
    rng = np.random.default_rng(0)
    for label, hue in enumerate(shapes.CLASS_HUES):
        for _ in range(50):
            h, _, _ = colorsys.rgb_to_hsv(*(shapes.class_colour(rng, label) / 255))
            distance = abs((h * 360 - hue + 180) % 360 - 180)
            assert distance <= shapes.HUE_JITTER + 1e-6


def test_semantic_labels_match_instances(tmp_path):
    out = shapes.make_dataset(tmp_path, train=6, val=2, size=64, seed=1)
    coco = json.loads((out / 'coco/annotations/instances_train.json').read_text())
    from pycocotools import mask as mask_utils
    for image in coco['images']:
        name = Path(image['file_name']).stem
        semantic = np.array(Image.open(out / 'ade/annotations/training' / f'{name}.png'))
        for ann in (a for a in coco['annotations'] if a['image_id'] == image['id']):
            rle = dict(ann['segmentation'], counts=ann['segmentation']['counts'].encode())
            mask = mask_utils.decode(rle).astype(bool)
            assert mask.sum() == ann['area'] > 0
            assert (semantic[mask] == ann['category_id'] + 1).all()  # ADE labels: 1 bg, 2.. shapes
