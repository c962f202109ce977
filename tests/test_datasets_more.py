"""The configs of the other published datasets (issue 25) on generated data in each dataset's own
on-disk layout, through tools/train.py (a few iterations) and tools/test.py with the dataset's metric;
a missing dataset folder ends with a message naming where it looked. The published settings and
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
