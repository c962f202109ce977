"""tools/train.py then tools/test.py on generated ImageNet-format data, with a reduced InternImage-T;
resume and the refusal of a checkpoint carrying a pickle payload."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from published import published_checkpoint

ROOT = Path(__file__).resolve().parents[1]

SMALL_CONFIG = """
_base_ = ['{root}/configs/imagenet/internimage_t_1k_224.py']
model = dict(backbone=dict(channels=16, depths=[1, 1, 1, 1], groups=[1, 2, 4, 8]), head=dict(in_channels=128))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=73, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root='{data}', pipeline=train_pipeline))
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root='{data}', pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=2)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1),
]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
"""


def write_imagenet(root, per_split=8, classes=(0, 1, 7, 999)):
    rng = np.random.default_rng(0)
    for split in ('train', 'val'):
        lines = []
        (root / split).mkdir(parents=True)
        for i in range(per_split):
            label = classes[i % len(classes)]
            name = f'{split}_{i}.JPEG'
            Image.fromarray((rng.random((80, 96, 3)) * 255).astype(np.uint8)).save(root / split / name)
            lines.append(f'{name} {label}')
        (root / 'meta').mkdir(exist_ok=True)
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')


def run_tool(*args, cwd=ROOT):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONUNBUFFERED='1'))


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('cls')
    write_imagenet(tmp / 'imagenet')
    config = tmp / 'small_t.py'
    config.write_text(SMALL_CONFIG.format(root=ROOT, data=tmp / 'imagenet'))
    work = tmp / 'work'
    result = run_tool('tools/train.py', str(config), '--work-dir', str(work))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return config, work, result.stdout + result.stderr


def test_train_runs_and_saves_checkpoints(trained):
    config, work, log = trained
    assert (work / 'epoch_1.pth').exists() and (work / 'epoch_2.pth').exists()
    assert 'Epoch(train) [2][2/2]' in log and 'accuracy/top1' in log


def test_test_tool_reports_accuracy(trained, tmp_path):
    config, work, _ = trained
    result = run_tool('tools/test.py', str(config), str(work / 'epoch_2.pth'), '--work-dir', str(tmp_path),
                      '--out', str(tmp_path / 'preds.pkl'))
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'accuracy/top1' in result.stdout + result.stderr
    assert (tmp_path / 'preds.pkl').exists()


def test_resume_continues_from_saved_epoch(trained, tmp_path):
    config, work, _ = trained
    result = run_tool('tools/train.py', str(config), '--work-dir', str(work), '--resume', str(work / 'epoch_1.pth'),
                      '--cfg-options', 'train_cfg.max_epochs=2')
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert 'resumed epoch: 1' in log
    assert 'Epoch(train) [2][2/2]' in log and 'Epoch(train) [1]' not in log


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), 'payload ran'))


def test_checkpoint_with_pickle_payload_is_refused(trained, tmp_path):
    import torch
    config, work, _ = trained
    marker = tmp_path / 'marker.txt'
    state = torch.load(work / 'epoch_2.pth', weights_only=False)
    state['meta']['payload'] = Payload(str(marker))
    torch.save(state, tmp_path / 'crafted.pth')
    for tool in (['tools/test.py', str(config), str(tmp_path / 'crafted.pth')],
                 ['tools/train.py', str(config), '--work-dir', str(tmp_path / 'w'), '--resume',
                  str(tmp_path / 'crafted.pth')]):
        result = run_tool(*tool)
        assert result.returncode != 0
        assert 'Refused to load the checkpoint' in result.stderr and 'Nothing from it was executed' in result.stderr
        assert not marker.exists()


def test_test_tool_takes_published_checkpoint_as_it_is(trained, tmp_path):
    """tools/test.py with the full T config and a checkpoint in the published layout."""
    config, work, _ = trained
    published_checkpoint('t', tmp_path / 'internimage_t_1k_224.pth')
    data = Path(str(config)).parent / 'imagenet'
    result = run_tool('tools/test.py', 'configs/imagenet/internimage_t_1k_224.py',
                      str(tmp_path / 'internimage_t_1k_224.pth'), '--work-dir', str(tmp_path / 'w'),
                      '--cfg-options', f'test_dataloader.dataset.data_root={data}', 'test_dataloader.num_workers=0',
                      'test_dataloader.persistent_workers=False', 'test_dataloader.batch_size=4')
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert 'Load checkpoint from' in log and 'accuracy/top1' in log
    assert 'missing keys' not in log and 'unexpected key' not in log and 'do not match exactly' not in log
