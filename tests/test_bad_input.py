"""Bad input stops tools/train.py with one message naming what is at fault."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools/misc'))
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


def test_bad_backbone_argument_is_named(tmp_path, shapes):
    """A typo in --cfg-options stops at the backbone's argument check, not deep inside a layer."""
    last = train(tmp_path, shapes, '--cfg-options', 'model.backbone.channels=abc')
    assert last.endswith("InternImage: channels must be a positive integer, got 'abc'"), last


TINY = dict(channels=16, depths=[1, 1, 1, 1], groups=[1, 2, 4, 8])


@pytest.mark.parametrize('core_op', ['DCNv3', 'DCNv3_pytorch', 'DCNv4', 'DCNv4_pytorch'])
@pytest.mark.parametrize('change, message', [
    (dict(channels='abc'), "channels must be a positive integer, got 'abc'"),
    (dict(channels=0), 'channels must be a positive integer, got 0'),
    (dict(depths=[1, 1, 'x', 1]), "depths must be a non-empty list of positive integers, got [1, 1, 'x', 1]"),
    (dict(groups=[1, 2, 0, 8]), 'groups must be a non-empty list of positive integers, got [1, 2, 0, 8]'),
    (dict(groups=[1, 2, 4]), 'depths [1, 1, 1, 1] and groups [1, 2, 4] differ in length'),
    (dict(groups=[1, 2, 5, 8]), 'groups[2] = 5 does not divide the 64 channels of level 2'),
    (dict(dw_kernel_size=4), 'dw_kernel_size must be None or a positive odd integer, got 4'),
    (dict(layer_scale='1e-5'), "layer_scale must be None or a number, got '1e-5'"),
    (dict(post_norm='False'), "post_norm must be True or False, got 'False'"),
    (dict(mlp_fc2_bias=None), 'mlp_fc2_bias must be True or False, got None'),
    (dict(out_indices=(0, 4)), 'out_indices must be a non-empty list of level indices in 0..3, got (0, 4)'),
    (dict(drop_path_type='cosine'), "drop_path_type must be 'linear' or 'uniform', got 'cosine'"),
])
def test_bad_backbone_arguments_are_named_for_every_core_op(core_op, change, message):
    from internimage import InternImage
    with pytest.raises(ValueError) as error:
        InternImage(**{**TINY, 'core_op': core_op, **change})
    assert str(error.value).startswith(f'InternImage: {message}')


@pytest.mark.parametrize('arguments, message', [
    (dict(core_op='DCNv5'), "FlashInternImage: core_op must be one of ['DCNv3', 'DCNv3_pytorch', 'DCNv4', "
                            "'DCNv4_pytorch'], got 'DCNv5'"),
    (dict(core_op='DCNv3'), "FlashInternImage: dcn_output_bias=False needs a DCNv4 core_op (DCNv3 layers always "
                            "have an output bias), got 'DCNv3'"),
    (dict(use_dcn_v4_op=True), "FlashInternImage: use_dcn_v4_op (DCNv3 layers on the DCNv4 kernel) needs a DCNv3 "
                               "core_op, got 'DCNv4'"),
])
def test_bad_core_op_and_flags_are_named(arguments, message):
    from internimage import FlashInternImage
    with pytest.raises(ValueError) as error:
        FlashInternImage(**TINY, **arguments)
    assert str(error.value) == message
