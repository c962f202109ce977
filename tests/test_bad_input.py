"""Bad input stops tools/train.py with one message naming what is at fault."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
from make_shapes_dataset import make_dataset  # noqa: E402

CONFIG = """
_base_ = ['{root}/configs/demo/mask_rcnn_internimage_tiny_shapes.py']
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(data_root='{data}/'))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(data_root='{data}/'))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file='{data}/annotations/instances_val.json')
test_evaluator = val_evaluator
train_cfg = dict(max_iters=1, val_interval=1)
"""


def train(tmp_path, data, *extra):
    config = tmp_path / 'cfg.py'
    config.write_text(CONFIG.format(root=ROOT, data=data))
    result = subprocess.run([sys.executable, 'tools/train.py', str(config), '--work-dir', str(tmp_path / 'w'),
                             *extra], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    return result.stderr.strip().splitlines()[-1]


@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp('shapes'), train=4, val=2, size=64, seed=2) / 'coco'


def test_missing_annotation_file_is_named(tmp_path):
    (tmp_path / 'empty').mkdir()
    last = train(tmp_path, tmp_path / 'empty')
    assert last == f"file not found: {tmp_path / 'empty' / 'annotations' / 'instances_train.json'}"


def test_missing_image_is_named(tmp_path, shapes):
    missing = shapes / 'train' / 'train_00001.jpg'
    moved = tmp_path / 'moved.jpg'
    missing.rename(moved)
    try:  # two iterations of two images visit all four training images
        last = train(tmp_path, shapes, '--cfg-options', 'train_cfg.max_iters=2')
    finally:
        moved.rename(missing)
    assert last.startswith('file not found:') and str(missing) in last


def test_unknown_type_is_named_with_its_registry(tmp_path, shapes):
    last = train(tmp_path, shapes, '--cfg-options', 'model.backbone.type=InternImageX')
    assert 'InternImageX is not in the mmdet::model registry' in last


def test_empty_dataset_stops_with_a_message(tmp_path, shapes):
    data = tmp_path / 'coco'
    (data / 'annotations').mkdir(parents=True)
    for split in ('train', 'val'):
        content = json.loads((shapes / 'annotations' / f'instances_{split}.json').read_text())
        content['annotations'] = []  # no annotations: filter_cfg drops every image
        (data / 'annotations' / f'instances_{split}.json').write_text(json.dumps(content))
    last = train(tmp_path, data)
    assert last.startswith('error: the dataset is empty: CocoDataset(') and 'found no samples' in last
    assert 'instances_train.json' in last
