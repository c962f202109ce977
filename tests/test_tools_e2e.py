"""tools/train.py, tools/test.py and tools/image_demo.py end to end on generated data, for the
detection (COCO format) and segmentation (ADE20K format) demo configs: metrics reported, an
interrupted run resumed from its saved iteration, predictions drawn."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools/misc'))
from make_shapes_dataset import make_dataset  # noqa: E402

SMALL = """
_base_ = ['{root}/configs/demo/{name}.py']
data_root = '{data}'
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root + '{sub}'))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root + '{sub}'))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=4, val_interval=4)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
"""
TASKS = {
    'detection': dict(name='mask_rcnn_internimage_tiny_shapes', sub='/coco/', metric='coco/bbox_mAP',
                      extra="val_evaluator = dict(ann_file=data_root + '/coco/annotations/instances_val.json')\n"
                            "test_evaluator = val_evaluator\n"),
    'segmentation': dict(name='upernet_internimage_tiny_shapes', sub='/ade', metric='mIoU', extra=''),
}


def run_tool(*args):
    result = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED='1'))
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp('shapes'), train=8, val=4, size=96, seed=1)


@pytest.fixture(scope='module', params=list(TASKS))
def task(request, data, tmp_path_factory):
    spec = TASKS[request.param]
    tmp = tmp_path_factory.mktemp(request.param)
    config = tmp / 'small.py'
    config.write_text(SMALL.format(root=ROOT, data=data, **spec) + spec['extra'])
    return request.param, spec, config, tmp


def test_train_interrupt_resume_test_and_draw(task, data):
    name, spec, config, tmp = task
    work = tmp / 'work'
    # An interrupted run: stopped after its second iteration and checkpoint.
    code, log = run_tool('tools/train.py', config, '--work-dir', work, '--cfg-options', 'train_cfg.max_iters=2')
    assert code == 0, log[-4000:]
    assert (work / 'iter_2.pth').exists()
    code, log = run_tool('tools/train.py', config, '--work-dir', work, '--resume')
    assert code == 0, log[-4000:]
    assert 'resumed epoch: 0, iter: 2' in log
    assert 'Iter(train) [3/4]' in log and 'Iter(train) [1/4]' not in log
    assert spec['metric'] in log  # validation at the end of training
    assert (work / 'iter_4.pth').exists()

    code, log = run_tool('tools/test.py', config, work / 'iter_4.pth', '--work-dir', tmp / 'test',
                         '--out', tmp / 'preds.pkl', '--show-dir', tmp / 'vis')
    assert code == 0, log[-4000:]
    assert spec['metric'] in log and (tmp / 'preds.pkl').exists()
    drawn = [p for p in tmp.rglob('*') if p.suffix in ('.jpg', '.png') and 'vis' in str(p.relative_to(tmp))]
    assert len(drawn) >= 4, sorted(tmp.rglob('*'))  # every held-out image visualised

    image = sorted((data / ('coco/val' if name == 'detection' else 'ade/images/validation')).iterdir())[0]
    code, log = run_tool('tools/image_demo.py', image, config, work / 'iter_4.pth', '--out', tmp / 'drawn.png',
                         '--score-thr', '0')
    assert code == 0, log[-4000:]
    assert (tmp / 'drawn.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_flash_demo_config_trains_evaluates_and_draws(data, tmp_path):
    """The FlashInternImage demo (DCNv4 backbone, FPN_vitdet neck) through tools/train.py (a few
    iterations, validation at the end) and tools/image_demo.py."""
    config = tmp_path / 'small.py'
    config.write_text(SMALL.format(root=ROOT, data=data, name='mask_rcnn_flash_internimage_tiny_shapes',
                                   sub='/coco/') + TASKS['detection']['extra'])
    code, log = run_tool('tools/train.py', config, '--work-dir', tmp_path / 'work', '--cfg-options',
                         'train_cfg.max_iters=2')
    assert code == 0, log[-4000:]
    assert "type='FlashInternImage'" in log and "type='FPN_vitdet'" in log  # the config as run
    assert 'Iter(train) [2/2]' in log and 'coco/bbox_mAP' in log
    image = sorted((data / 'coco/val').iterdir())[0]
    code, log = run_tool('tools/image_demo.py', image, config, tmp_path / 'work' / 'iter_2.pth', '--out',
                         tmp_path / 'drawn.png', '--score-thr', '0')
    assert code == 0, log[-4000:]
    assert (tmp_path / 'drawn.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def first_losses(work):
    """The losses logged at the first iteration (<work>/<timestamp>/vis_data/scalars.json)."""
    scalars = sorted(work.glob('*/vis_data/scalars.json'))[-1]
    first = json.loads(scalars.read_text().splitlines()[0])
    assert first['iter'] == 1, first
    return {key: value for key, value in first.items() if key.startswith('loss')}


def test_amp_trains_and_tests_in_bfloat16_on_cpu(task):
    """--amp on a CPU: tools/train.py under bfloat16 autocast (BFloat16OptimWrapper; mmengine's AmpOptimWrapper
    refuses CPUs), float32 weights; the first losses are float32's to bfloat16's precision but not equal to
    them (the forward did run in bfloat16; for the detector, its RPN's); tools/test.py --amp evaluates (mmcv's NMS, which refuses bfloat16,
    gets float32 boxes and scores)."""
    name, spec, config, tmp = task
    runs = {}
    for mode, extra in (('float32', ()), ('amp', ('--amp', ))):
        work = tmp / f'work_{mode}'
        code, log = run_tool('tools/train.py', config, '--work-dir', work, *extra, '--cfg-options',
                             'train_cfg.max_iters=2')
        assert code == 0, log[-4000:]
        runs[mode] = first_losses(work)
    assert "type='BFloat16OptimWrapper'" in log
    assert runs['amp'].keys() == runs['float32'].keys()
    assert runs['amp'] != runs['float32'] and all(math.isfinite(v) for v in runs['amp'].values())
    # The detector's second stage trains on RoIs sampled among its proposals, which bfloat16 scores
    # reorder: its losses are not float32's. The RPN's are computed on the anchors.
    compared = [key for key in runs['float32'] if name == 'segmentation' or key.startswith('loss_rpn')]
    for key in compared:
        assert runs['amp'][key] == pytest.approx(runs['float32'][key], rel=0.02, abs=1e-4), (key, runs)
    import torch
    weights = torch.load(tmp / 'work_amp' / 'iter_2.pth', map_location='cpu', weights_only=False)['state_dict']
    assert {tensor.dtype for tensor in weights.values() if tensor.is_floating_point()} == {torch.float32}
    code, log = run_tool('tools/test.py', config, tmp / 'work_amp' / 'iter_2.pth', '--work-dir', tmp / 'test_amp',
                         '--amp')
    assert code == 0, log[-4000:]
    assert spec['metric'] in log
