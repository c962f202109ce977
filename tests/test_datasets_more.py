"""The configs of the other published datasets (issue 25) on generated data in each dataset's own
on-disk layout, through tools/train.py (a few iterations, validation with the dataset's metric; the
segmentation ones through tools/test.py too): Cityscapes, Mapillary Vistas v1.2 validated on Cityscapes,
NYU Depth V2; LVIS v1 (json), PASCAL VOC (XML tree with ImageSets), Open Images (CSV set with image
metas) and CrowdHuman (.odgt) on the published detectors, narrow. A missing dataset folder or file ends
with a message naming where it looked; VOC 2012 test results are written in the evaluation server's
format. The published settings and layouts are checked in test_published_configs.py /
test_published_models.py."""
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


# ------------------------------------------------------------------------------------------ detection
# The published CB-InternImage-H DINO (LVIS, VOC, OpenImages) at a CPU's size: the H-layout composite
# backbone (dw kernel 5, post-norms, centre feature scale; two backbones, the assistant's features through
# the head too) narrow and shallow, a 1-layer encoder and 2-layer decoder, 30 queries; published checkpoints
# are not loaded (load_from None).
REDUCED_CB_DINO = """
load_from = None
model = dict(
    num_queries=30,
    backbone=dict(channels=16, depths=[1, 1, 2, 1], groups=[1, 2, 4, 8], level2_post_norm_block_ids=[1],
                  with_cp=False),
    neck=dict(in_channels=[32, 64, 128]),
    encoder=dict(num_layers=1), decoder=dict(num_layers=2),
    dn_cfg=dict(group_cfg=dict(num_dn_queries=10)),
    test_cfg=dict(max_per_img=30))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=5, depths=[1, 1, 2, 1]))
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=[(128, 48), (128, 80)], keep_ratio=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 64), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys={meta_keys}),
]
loader = dict(num_workers=0, persistent_workers=False)
"""
DET_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')

LVIS = """
_base_ = ['{root}/configs/lvis/dino_4scale_cbinternimage_h_objects365_lvis_val_ss.py']
""" + REDUCED_CB_DINO.replace('{meta_keys}', repr(DET_META_KEYS)) + """
train_dataloader = dict(**loader, dataset=dict(dataset=dict(data_root='{data}/', pipeline=train_pipeline)))
val_dataloader = dict(**loader, dataset=dict(data_root='{data}/', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file='{data}/annotations/lvis_v1_val.json')
test_evaluator = val_evaluator
"""

VOC = """
_base_ = ['{root}/configs/voc/dino_4scale_cbinternimage_h_objects365_voc07.py']
""" + REDUCED_CB_DINO.replace('{meta_keys}', repr(DET_META_KEYS)) + """
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(128, 64), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
voc = dict(type='VOCDataset', data_root='{data}/', filter_cfg=dict(filter_empty_gt=True, min_size=32),
           pipeline=train_pipeline)
train_dataloader = dict(**loader, dataset=dict(dataset=dict(datasets=[
    dict(**voc, ann_file='VOC2007/ImageSets/Main/trainval.txt', data_prefix=dict(sub_data_root='VOC2007/')),
    dict(**voc, ann_file='VOC2012/ImageSets/Main/trainval.txt', data_prefix=dict(sub_data_root='VOC2012/')),
])))
val_dataloader = dict(**loader, dataset=dict(data_root='{data}/', pipeline=test_pipeline))
test_dataloader = val_dataloader
"""

OPENIMAGES = """
_base_ = ['{root}/configs/openimages/dino_4scale_cbinternimage_h_objects365_openimages_ss.py']
""" + REDUCED_CB_DINO.replace('{meta_keys}', repr(DET_META_KEYS + ('instances', 'image_level_labels'))) + """
train_dataloader = dict(**loader, dataset=dict(data_root='{data}/', pipeline=train_pipeline))
val_dataloader = dict(**loader, dataset=dict(data_root='{data}/', pipeline=test_pipeline))
test_dataloader = val_dataloader
"""

# The published Cascade R-CNN XL of CrowdHuman, narrow: XL flags (layer scale, offset scale 2, post-norm),
# 32-channel FPN, box heads with 64-wide fcs; the published augmentation at 1/8 of its scale.
CROWDHUMAN = """
_base_ = ['{root}/configs/crowd_human/cascade_internimage_xl_fpn_3x_crowd_human.py']
model = dict(
    backbone=dict(channels=16, depths=[1, 1, 2, 1], groups=[1, 2, 4, 8], init_cfg=None),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=32),
    rpn_head=dict(in_channels=32, feat_channels=32),
    roi_head=dict(bbox_roi_extractor=dict(out_channels=32),
                  bbox_head=[dict(type='Shared2FCBBoxHead', in_channels=32, fc_out_channels=64, num_classes=1,
                                  bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_stds=stds),
                                  reg_class_agnostic=True)
                             for stds in ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067])]))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=5, depths=[1, 1, 2, 1]))
scales = [(60, 167), (80, 167), (100, 167)]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomChoice', transforms=[
        [dict(type='RandomChoiceResize', scales=scales, keep_ratio=True)],
        [dict(type='RandomChoiceResize', scales=[(50, 167), (75, 167)], keep_ratio=True),
         dict(type='RandomCrop', crop_type='absolute_range', crop_size=(48, 75), allow_negative_crop=True),
         dict(type='RandomChoiceResize', scales=scales, keep_ratio=True)],
    ]),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(167, 100), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(**loader, dataset=dict(data_root='{data}/', pipeline=train_pipeline))
val_dataloader = dict(**loader, dataset=dict(data_root='{data}/', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file='{data}/annotations/annotation_val.odgt', num_ji_process=1)
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1))
"""


def boxes_image(rng, size, boxes):
    """A noisy image with a bright rectangle per box (x1, y1, x2, y2)."""
    image = rng.uniform(0, 120, (*size, 3))
    for x1, y1, x2, y2 in boxes:
        image[int(y1):int(y2), int(x1):int(x2)] += 120
    return image.astype(np.uint8)


def random_boxes(rng, size, count):
    height, width = size
    boxes = []
    for _ in range(count):
        w, h = rng.uniform(0.3, 0.6) * width, rng.uniform(0.3, 0.6) * height
        x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
        boxes.append((round(x, 1), round(y, 1), round(x + w, 1), round(y + h, 1)))
    return boxes


def make_lvis(root, counts=(('train', 3), ('val', 2)), size=(48, 64), seed=3):
    """LVIS v1 as mmdet reads it: COCO 2017 images (train2017/, val2017/, named by ``coco_url``) and
    annotations/lvis_v1_{train,val}.json with LVIS's 1203 categories (frequency groups r / c / f), boxes
    from three of them, and each image's negative / not-exhaustively-annotated category lists."""
    import json

    from mmdet.datasets import LVISV1Dataset
    rng = np.random.default_rng(seed)
    categories = [dict(id=i + 1, name=name, frequency='rcf'[i % 3], image_count=1, instance_count=1)
                  for i, name in enumerate(LVISV1Dataset.METAINFO['classes'])]
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    image_id = annotation_id = 0
    for split, count in counts:
        images, annotations = [], []
        for _ in range(count):
            image_id += 1
            boxes = random_boxes(rng, size, 2)
            path = root / f'{split}2017' / f'{image_id:012d}.jpg'
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(boxes_image(rng, size, boxes)).save(path)
            images.append(dict(id=image_id, height=size[0], width=size[1], neg_category_ids=[4],
                               not_exhaustive_category_ids=[],
                               coco_url=f'http://images.cocodataset.org/{split}2017/{path.name}'))
            for category, (x1, y1, x2, y2) in zip(rng.choice([1, 2, 3], 2), boxes):
                annotation_id += 1
                annotations.append(dict(id=annotation_id, image_id=image_id, category_id=int(category),
                                        bbox=[x1, y1, x2 - x1, y2 - y1], area=(x2 - x1) * (y2 - y1),
                                        segmentation=[[x1, y1, x2, y1, x2, y2, x1, y2]]))
        (root / 'annotations' / f'lvis_v1_{split}.json').write_text(
            json.dumps(dict(images=images, annotations=annotations, categories=categories)))
    return root


VOC_OBJECT = ('<object><name>{name}</name><difficult>{difficult}</difficult><bndbox><xmin>{x1}</xmin>'
              '<ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>')


def make_voc(root, size=(48, 64), seed=4):
    """VOCdevkit as mmdet reads it: VOC<year>/{JPEGImages/<id>.jpg, Annotations/<id>.xml (size, objects with
    a name, difficult flag and 1-based box), ImageSets/Main/<split>.txt}: VOC2007 trainval and test,
    VOC2012 trainval, and VOC2012test (the server's test set: no objects in its annotations)."""
    rng = np.random.default_rng(seed)
    for year, split, count in (('VOC2007', 'trainval', 2), ('VOC2007', 'test', 2), ('VOC2012', 'trainval', 2),
                               ('VOC2012test', 'test', 2)):
        folder = root / year
        for sub in ('JPEGImages', 'Annotations', 'ImageSets/Main'):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        names = [f'{year[3:7]}_{split}_{index:04d}' for index in range(count)]  # e.g. 2012_test_0000
        for name in names:
            boxes = random_boxes(rng, size, 2) if year != 'VOC2012test' else []
            Image.fromarray(boxes_image(rng, size, boxes)).save(folder / 'JPEGImages' / f'{name}.jpg')
            objects = ''.join(  # the second box of a test image is "difficult"
                VOC_OBJECT.format(name=rng.choice(['dog', 'car', 'person']), difficult=int(i == 1 and split == 'test'),
                                  x1=int(x1) + 1, y1=int(y1) + 1, x2=int(x2), y2=int(y2))
                for i, (x1, y1, x2, y2) in enumerate(boxes))
            (folder / 'Annotations' / f'{name}.xml').write_text(
                f'<annotation><filename>{name}.jpg</filename><size><width>{size[1]}</width><height>{size[0]}'
                f'</height><depth>3</depth></size>{objects}</annotation>')
        (folder / 'ImageSets' / 'Main' / f'{split}.txt').write_text('\n'.join(names) + '\n')
    return root


def make_openimages(root, size=(48, 64), seed=5):
    """Open Images V6 boxes as mmdet reads them: train/ and validation/ images (<ImageID>.jpg);
    annotations/class-descriptions-boxable.csv (601 classes: MID, name), bbox_labels_600_hierarchy.json (a
    root with a parent class over two children), {oidv6-train,validation}-annotations-bbox.csv (boxes
    normalised to the image, group-of flags), the validation image-level labels, and the image metas
    ({train,validation}-image-metas.pkl: file name and shape, as mmdet's tools/misc/get_image_metas.py writes)."""
    import pickle
    rng = np.random.default_rng(seed)
    annotations = root / 'annotations'
    annotations.mkdir(parents=True, exist_ok=True)
    mids = [f'/m/c{index:03d}' for index in range(601)]
    (annotations / 'class-descriptions-boxable.csv').write_text(
        ''.join(f'{mid},Class {index}\n' for index, mid in enumerate(mids)))
    (annotations / 'bbox_labels_600_hierarchy.json').write_text(
        '{"LabelName": "/m/0bl9f", "Subcategory": [{"LabelName": "%s", "Subcategory": [{"LabelName": "%s"}, '
        '{"LabelName": "%s"}]}]}' % tuple(mids[:3]))
    header = ('ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,'
              'IsDepiction,IsInside\n')
    height, width = size
    for split, count, csv_name in (('train', 3, 'oidv6-train'), ('validation', 2, 'validation')):
        (root / split).mkdir(exist_ok=True)
        rows, labels, metas = [header], ['ImageID,Source,LabelName,Confidence\n'], []
        for index in range(count):
            image_id = f'{split[0]}{index:015x}'
            boxes = random_boxes(rng, size, 2)
            Image.fromarray(boxes_image(rng, size, boxes)).save(root / split / f'{image_id}.jpg')
            for number, (x1, y1, x2, y2) in enumerate(boxes):
                mid = mids[1 + number]
                rows.append(f'{image_id},xclick,{mid},1,{x1 / width:.4f},{x2 / width:.4f},{y1 / height:.4f},'
                            f'{y2 / height:.4f},0,0,{int(number == 1)},0,0\n')
                labels.append(f'{image_id},verification,{mid},1\n')
            metas.append(dict(filename=str(root / split / f'{image_id}.jpg'), ori_shape=(height, width, 3)))
        (annotations / f'{csv_name}-annotations-bbox.csv').write_text(''.join(rows))
        if split == 'validation':
            (annotations / 'validation-annotations-human-imagelabels-boxable.csv').write_text(''.join(labels))
        with open(annotations / f'{split}-image-metas.pkl', 'wb') as f:
            pickle.dump(metas, f, protocol=4)
    return root


def make_crowdhuman(root, counts=(('train', 2), ('val', 2)), size=(64, 48), seed=6):
    """CrowdHuman as released: Images/<ID>.jpg and annotations/annotation_{train,val}.odgt, one json record
    per line with full-body, visible and head boxes (x, y, w, h) per person, plus a "mask" region and an
    ignored person (ignored by the dataset)."""
    import json
    rng = np.random.default_rng(seed)
    (root / 'Images').mkdir(parents=True, exist_ok=True)
    (root / 'annotations').mkdir(exist_ok=True)
    for split, count in counts:
        records = []
        for index in range(count):
            image_id = f'{273271 + index},{split}{index:08x}'
            boxes = random_boxes(rng, size, 3)
            Image.fromarray(boxes_image(rng, size, boxes)).save(root / 'Images' / f'{image_id}.jpg')
            gtboxes = []
            for number, (x1, y1, x2, y2) in enumerate(boxes):
                box = [x1, y1, x2 - x1, y2 - y1]
                ignored = int(number == 1 and index == 1)
                gtboxes.append(dict(tag='mask' if number == 2 else 'person', fbox=box, vbox=box,
                                    hbox=[x1, y1, box[2], box[3] / 4], extra=dict(ignore=ignored)))
            records.append(json.dumps(dict(ID=image_id, gtboxes=gtboxes)))
        (root / 'annotations' / f'annotation_{split}.odgt').write_text('\n'.join(records) + '\n')
    return root


def train(config_text, tmp_path, name, **fields):
    config = tmp_path / f'{name}.py'
    config.write_text(config_text.format(root=ROOT, **fields))
    code, log = run_tool('tools/train.py', config, '--work-dir', tmp_path / 'w')
    assert code == 0, log[-4000:]
    return config, log


def test_lvis_trains_and_validates(tmp_path):
    """ClassBalancedDataset over LVIS v1, LVISMetric (lvis 0.5.3 under numpy 2) with its per-frequency APs."""
    data = make_lvis(tmp_path / 'lvis_v1')
    _, log = train(LVIS, tmp_path, 'lvis_small', data=data)
    assert 'Iter(train) [2/2]' in log and 'Iter(val) [2/2]' in log
    assert 'lvis/bbox_APr' in log and 'lvis/bbox_APf' in log, log[-3000:]


def test_voc_trains_and_validates(tmp_path):
    """VOC 2007 + 2012 trainval (RepeatDataset over ConcatDataset), VOC 2007 test scored with VOCMetric."""
    data = make_voc(tmp_path / 'VOCdevkit')
    _, log = train(VOC, tmp_path, 'voc_small', data=data)
    assert 'Iter(train) [2/2]' in log and 'pascal_voc/mAP' in log, log[-3000:]


def test_voc2012_test_server_files(tmp_path):
    """VOCResultWriter on the VOC2012 test set (no objects): one file per class, one line per box with the
    image id, the score and the box in VOC's 1-based pixel coordinates."""
    import torch
    from mmdet.registry import DATASETS, METRICS
    from mmengine.registry import DefaultScope

    import mmdet_custom  # noqa: F401
    data = make_voc(tmp_path / 'VOCdevkit')
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = DATASETS.build(dict(type='VOCDataset', data_root=str(data), test_mode=True, pipeline=[],
                                      ann_file='VOC2012test/ImageSets/Main/test.txt',
                                      data_prefix=dict(sub_data_root='VOC2012test/')))
        writer = METRICS.build(dict(type='VOCResultWriter', out_dir=str(tmp_path / 'server')))
    writer.dataset_meta = dataset.metainfo
    classes = dataset.metainfo['classes']
    samples = [dict(img_path=info['img_path'], pred_instances=dict(
        bboxes=torch.tensor([[0., 1.5, 20., 30.], [5., 6., 7., 8.]]), scores=torch.tensor([0.9, 0.25]),
        labels=torch.tensor([classes.index('dog'), classes.index('car')]))) for info in dataset]
    writer.process({}, samples)
    assert writer.evaluate(len(samples)) == {}
    folder = tmp_path / 'server' / 'results' / 'VOC2012' / 'Main'
    assert sorted(f.name for f in folder.iterdir()) == sorted(f'comp4_det_test_{c}.txt' for c in classes)
    assert (folder / 'comp4_det_test_dog.txt').read_text().splitlines() == [
        '2012_test_0000 0.900000 1.0 2.5 21.0 31.0', '2012_test_0001 0.900000 1.0 2.5 21.0 31.0']
    assert (folder / 'comp4_det_test_car.txt').read_text().splitlines()[0] == '2012_test_0000 0.250000 6.0 7.0 8.0 9.0'
    assert (folder / 'comp4_det_test_cat.txt').read_text() == ''


def test_openimages_trains_and_validates(tmp_path):
    """OpenImagesDataset from the CSV set and image metas; OpenImagesMetric (group-of boxes, hierarchy)."""
    data = make_openimages(tmp_path / 'OpenImages')
    _, log = train(OPENIMAGES, tmp_path, 'openimages_small', data=data)
    assert 'Iter(train) [2/2]' in log and 'openimages/mAP' in log, log[-3000:]


def test_crowdhuman_trains_and_validates(tmp_path):
    """CrowdHumanDataset from the .odgt release; CrowdHumanMetric's AP, MR^-2 and JI."""
    data = make_crowdhuman(tmp_path / 'CrowdHuman')
    _, log = train(CROWDHUMAN, tmp_path, 'crowdhuman_small', data=data)
    assert 'Epoch(train) [1][1/1]' in log and 'crowd_human/mAP' in log and 'crowd_human/mMR' in log, log[-3000:]
    assert 'crowd_human/JI' in log


def with_data_root(dataset, root):
    """The dataset config, every dataset in it (inside wrappers and concatenations) reading ``root``."""
    dataset = dict(dataset)
    for key in ('dataset', 'datasets'):
        if key in dataset:
            inner = dataset[key]
            dataset[key] = ([with_data_root(d, root) for d in inner] if key == 'datasets'
                            else with_data_root(inner, root))
    if 'data_root' in dataset:
        dataset['data_root'] = f'{root}/'
    return dataset


@pytest.mark.parametrize('config', ['lvis/dino_4scale_cbinternimage_h_objects365_lvis_val_ss.py',
                                    'voc/dino_4scale_cbinternimage_h_objects365_voc07.py',
                                    'openimages/dino_4scale_cbinternimage_h_objects365_openimages_ss.py',
                                    'crowd_human/cascade_internimage_xl_fpn_3x_crowd_human.py'])
def test_missing_detection_data_is_named(config, tmp_path):
    """The training set of each config, from a folder that does not exist: one message naming the path
    (tools/train.py's handling, internimage.engine.launch.run_safely), no traceback."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import mmdet_custom  # noqa: F401
    from internimage.engine.launch import build_checked_dataset, run_safely
    dataset = with_data_root(Config.fromfile(str(ROOT / 'configs' / config)).train_dataloader.dataset,
                             tmp_path / 'nowhere')
    with DefaultScope.overwrite_default_scope('mmdet'), pytest.raises(SystemExit) as exit:
        run_safely(lambda: build_checked_dataset(dataset))
    assert str(exit.value).startswith(f'file not found: {tmp_path / "nowhere"}/'), exit.value


def test_missing_openimages_metas_are_named(tmp_path):
    """mmdet 3 needs the image metas for Open Images training too: without them, the message names the file."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import mmdet_custom  # noqa: F401
    from internimage.engine.launch import build_checked_dataset, run_safely
    data = make_openimages(tmp_path / 'OpenImages')
    (data / 'annotations' / 'train-image-metas.pkl').unlink()
    config = ROOT / 'configs' / 'openimages' / 'dino_4scale_cbinternimage_h_objects365_openimages_ss.py'
    dataset = with_data_root(Config.fromfile(str(config)).train_dataloader.dataset, data)
    with DefaultScope.overwrite_default_scope('mmdet'), pytest.raises(SystemExit) as exit:
        run_safely(lambda: build_checked_dataset(dataset))
    assert str(exit.value) == f'file not found: {data / "annotations" / "train-image-metas.pkl"}'
