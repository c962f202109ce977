"""The configs of the other published datasets (issue 25) on generated data in each dataset's own
on-disk layout (Cityscapes, Mapillary Vistas v1.2 validated on Cityscapes, NYU Depth V2), through
tools/train.py (a few iterations, validation with the dataset's metric) and tools/test.py; a missing
dataset folder or split file ends with a message naming where it looked. The published settings and
layouts are checked in test_published_configs.py / test_published_models.py."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CITYSCAPES_CLASSES = 19

CITYSCAPES = """
_base_ = ['{root}/configs/cityscapes/upernet_internimage_t_512x1024_160k_cityscapes.py']
# The published T recipe (150-class heads, layer decay, poly schedule) and Cityscapes pipelines at a
# CPU's size: a narrow backbone, (128, 64) images, 64 x 128 crops.
crop_size = (64, 128)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(channels=16, depths=[1, 1, 2, 1], groups=[1, 2, 4, 8], init_cfg=None),
    decode_head=dict(in_channels=[16, 32, 64, 128], channels=32),
    auxiliary_head=dict(in_channels=64, channels=16))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=5, depths=[1, 1, 2, 1]))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=19),
    dict(type='RandomResize', scale=(256, 128), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 64), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=19),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root='{data}', pipeline=train_pipeline))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root='{data}', pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
"""


def make_cityscapes(root, cities=('aachen', 'bochum'), per_city=2, size=(64, 128), seed=0):
    """Cityscapes as mmseg reads it: leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png and
    gtFine/<split>/<city>/..._gtFine_labelTrainIds.png (train ids 0-18, 255 ignored)."""
    rng = np.random.default_rng(seed)
    height, width = size
    for split in ('train', 'val'):
        for city in cities:
            for index in range(per_city):
                stem = f'{city}_{index:06d}_000019'
                labels = np.full(size, 255, np.uint8)
                for band, label in enumerate(rng.choice(CITYSCAPES_CLASSES, 4, replace=False)):
                    labels[band * height // 4:(band + 1) * height // 4, 4:-4] = label  # horizontal bands
                image = (rng.uniform(0, 255, (*size, 3)) * 0.3 + labels[..., None] * 0.7).astype(np.uint8)
                for folder, suffix, array in (('leftImg8bit', 'leftImg8bit', image),
                                              ('gtFine', 'gtFine_labelTrainIds', labels)):
                    path = root / folder / split / city / f'{stem}_{suffix}.png'
                    path.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(array).save(path)
    return root


# The published Mask2Former-H recipes at a CPU's size: H-layout backbone (dw kernel 5, post-norms, centre
# feature scale) and head, both narrow and shallow; 256 sampled points per mask.
REDUCED_MASK2FORMER = """
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(channels=16, depths=[1, 1, 2, 1], groups=[1, 2, 4, 8], level2_post_norm_block_ids=[1],
                  init_cfg=None),
    decode_head=dict(
        in_channels=[16, 32, 64, 128], feat_channels=32, out_channels=32, num_queries=8,
        pixel_decoder=dict(
            encoder=dict(num_layers=1, layer_cfg=dict(self_attn_cfg=dict(embed_dims=32, num_heads=2),
                                                      ffn_cfg=dict(embed_dims=32, feedforward_channels=64))),
            positional_encoding=dict(num_feats=16)),
        positional_encoding=dict(num_feats=16),
        transformer_decoder=dict(num_layers=3, layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=32, num_heads=2), cross_attn_cfg=dict(embed_dims=32, num_heads=2),
            ffn_cfg=dict(embed_dims=32, feedforward_channels=64))),
        train_cfg=dict(num_points=256)))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=5, depths=[1, 1, 2, 1]))
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
"""

MAPILLARY = """
_base_ = ['{root}/configs/mapillary/mask2former_internimage_h_896x896_80k_mapillary.py']
# Mapillary training + validation folders relabelled to Cityscapes' 19 classes, Cityscapes val tested in
# 64x64 sliding windows (stride 32) over (128, 64) images.
crop_size = (64, 64)
""" + REDUCED_MASK2FORMER + """
model.update(test_cfg=dict(mode='slide', crop_size=crop_size, stride=(32, 32)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=66),
    dict(type='MapillaryToCityscapesLabels'),
    dict(type='RandomResize', scale=(128, 64), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 64), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=19),
    dict(type='PackSegInputs'),
]
mapillary = dict(type='MapillaryDataset_v1', data_root='{data}/mapillary/', pipeline=train_pipeline)
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(datasets=[
    dict(**mapillary, data_prefix=dict(img_path='training/images', seg_map_path='training/v1.2/labels')),
    dict(**mapillary, data_prefix=dict(img_path='validation/images', seg_map_path='validation/v1.2/labels')),
]))
val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root='{data}/cityscapes/', pipeline=test_pipeline))
test_dataloader = val_dataloader
"""

NYU = """
_base_ = ['{root}/configs/nyu_depth_v2/mask2former_internimage_h_480_40k_nyu.py']
# NYU Depth V2's 40 classes from (64, 48) images, 48 x 48 crops.
crop_size = (48, 48)
""" + REDUCED_MASK2FORMER + """
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels', num_classes=40),
    dict(type='RandomResize', scale=(64, 48), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 48), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels', num_classes=40),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root='{data}', pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root='{data}', pipeline=test_pipeline))
test_dataloader = val_dataloader
"""


def banded_labels(rng, size, labels, ignore):
    """A label map of horizontal bands, one per label, with an ignored border."""
    height, width = size
    out = np.full(size, ignore, np.uint8)
    for band, label in enumerate(labels):
        out[band * height // len(labels):(band + 1) * height // len(labels), 4:-4] = label
    return out


def make_mapillary(root, per_split=2, size=(64, 128), seed=1):
    """Mapillary Vistas v1.2 as mmseg reads it: <split>/images/<id>.jpg and <split>/v1.2/labels/<id>.png
    (class ids 0-65; 65 unlabelled)."""
    rng = np.random.default_rng(seed)
    for split in ('training', 'validation'):
        for index in range(per_split):
            # road, car, person, sky (kept as Cityscapes classes), bird and banner (ignored)
            labels = banded_labels(rng, size, rng.permutation([13, 55, 19, 27, 0, 32]), ignore=65)
            image = (rng.uniform(0, 255, (*size, 3)) * 0.3 + labels[..., None] * 2).astype(np.uint8)
            for path, array in ((root / split / 'images' / f'{split}_{index:03d}.jpg', image),
                                (root / split / 'v1.2' / 'labels' / f'{split}_{index:03d}.png', labels)):
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(array).save(path)
    return root


def make_nyu(root, train=3, test=2, size=(48, 64), seed=2):
    """NYU Depth V2 segmentation as the published code reads it: image/<name>.png, label40/<name>.png (0
    unlabelled, 1-40), train.txt / test.txt listing the names."""
    rng = np.random.default_rng(seed)
    names = [f'{index:04d}' for index in range(train + test)]
    for name in names:
        labels = banded_labels(rng, size, rng.choice(np.arange(1, 41), 3, replace=False), ignore=0)
        image = (rng.uniform(0, 255, (*size, 3)) * 0.3 + labels[..., None] * 4).astype(np.uint8)
        for folder, array in (('image', image), ('label40', labels)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root / folder / f'{name}.png')
    (root / 'train.txt').write_text('\n'.join(names[:train]) + '\n')
    (root / 'test.txt').write_text('\n'.join(names[train:]) + '\n')
    return root


def run_tool(*args):
    result = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED='1'))
    return result.returncode, result.stdout + result.stderr


def test_cityscapes_trains_and_tests(tmp_path):
    data = make_cityscapes(tmp_path / 'cityscapes')
    config = tmp_path / 'cityscapes_small.py'
    config.write_text(CITYSCAPES.format(root=ROOT, data=data))
    code, log = run_tool('tools/train.py', config, '--work-dir', tmp_path / 'w')
    assert code == 0, log[-4000:]
    assert 'Iter(train) [2/2]' in log and 'mIoU' in log
    code, log = run_tool('tools/test.py', config, tmp_path / 'w' / 'iter_2.pth', '--work-dir', tmp_path / 't')
    assert code == 0, log[-4000:]
    # mmseg's Cityscapes classes and IoU table: the 19 classes, whatever the 150-channel heads predict.
    assert 'traffic light' in log and 'bicycle' in log and 'mIoU' in log


def test_missing_cityscapes_folder_is_named(tmp_path):
    config = tmp_path / 'cityscapes_missing.py'
    config.write_text(CITYSCAPES.format(root=ROOT, data=tmp_path / 'nowhere'))
    code, log = run_tool('tools/train.py', config, '--work-dir', tmp_path / 'w')
    assert code != 0
    assert str(tmp_path / 'nowhere') in log and 'Traceback' not in log, log[-3000:]


def test_mapillary_trains_and_validates_on_cityscapes(tmp_path):
    """Mapillary's two folders (66 classes relabelled to 19) train the Mask2Former-H recipe; validation on
    Cityscapes val in sliding windows reports Cityscapes' 19-class IoU table."""
    make_mapillary(tmp_path / 'mapillary')
    make_cityscapes(tmp_path / 'cityscapes')
    config = tmp_path / 'mapillary_small.py'
    config.write_text(MAPILLARY.format(root=ROOT, data=tmp_path))
    code, log = run_tool('tools/train.py', config, '--work-dir', tmp_path / 'w')
    assert code == 0, log[-4000:]
    assert 'Iter(train) [2/2]' in log and 'Iter(val) [4/4]' in log  # Cityscapes val: 2 cities x 2 images
    assert 'traffic light' in log and 'mIoU' in log


def test_nyu_trains_and_tests(tmp_path):
    data = make_nyu(tmp_path / 'nyu_depth_v2')
    config = tmp_path / 'nyu_small.py'
    config.write_text(NYU.format(root=ROOT, data=data))
    code, log = run_tool('tools/train.py', config, '--work-dir', tmp_path / 'w')
    assert code == 0, log[-4000:]
    assert 'Iter(train) [2/2]' in log and 'Iter(val) [2/2]' in log
    code, log = run_tool('tools/test.py', config, tmp_path / 'w' / 'iter_2.pth', '--work-dir', tmp_path / 't')
    assert code == 0, log[-4000:]
    assert 'refridgerator' in log and 'otherprop' in log and 'mIoU' in log  # the 40-class IoU table


def test_missing_nyu_split_file_is_named(tmp_path):
    data = make_nyu(tmp_path / 'nyu_depth_v2')
    (data / 'train.txt').unlink()
    config = tmp_path / 'nyu_missing.py'
    config.write_text(NYU.format(root=ROOT, data=data))
    code, log = run_tool('tools/train.py', config, '--work-dir', tmp_path / 'w')
    assert code != 0
    assert f'file not found: {data / "train.txt"}' in log and 'Traceback' not in log, log[-3000:]


def test_mapillary_relabelling_by_class_name():
    """MapillaryToCityscapesLabels, read back through the class names of mmseg's Mapillary v1.2 and
    Cityscapes datasets: each Cityscapes class gathers the Mapillary classes the published pre-training
    folded into it; the other 47 (and ids above 65) are ignored."""
    from mmseg.datasets import CityscapesDataset, MapillaryDataset_v1

    import mmseg_custom  # noqa: F401
    from mmseg_custom.transforms import MapillaryToCityscapesLabels
    mapillary, cityscapes = MapillaryDataset_v1.METAINFO['classes'], CityscapesDataset.METAINFO['classes']
    expected = {
        'road': {'Road', 'Lane Marking - General', 'Manhole'}, 'sidewalk': {'Curb', 'Sidewalk'},
        'building': {'Building'}, 'wall': {'Wall'}, 'fence': {'Fence'}, 'pole': {'Pole', 'Utility Pole'},
        'traffic light': {'Traffic Light'}, 'traffic sign': {'Traffic Sign (Front)'},
        'vegetation': {'Vegetation'}, 'terrain': {'Terrain'}, 'sky': {'Sky'}, 'person': {'Person'},
        'rider': {'Bicyclist', 'Motorcyclist', 'Other Rider'}, 'car': {'Car'}, 'truck': {'Truck'},
        'bus': {'Bus'}, 'train': {'On Rails'}, 'motorcycle': {'Motorcycle'}, 'bicycle': {'Bicycle'}}
    ids = np.arange(256, dtype=np.uint8).reshape(16, 16)
    relabelled = MapillaryToCityscapesLabels().transform(dict(gt_seg_map=ids))['gt_seg_map']
    found = {}
    for mapillary_id, label in zip(ids.ravel(), relabelled.ravel()):
        if label != 255:
            found.setdefault(cityscapes[label], set()).add(mapillary[mapillary_id])
    assert found == expected
    assert (relabelled.ravel()[66:] == 255).all() and relabelled.dtype == np.uint8
