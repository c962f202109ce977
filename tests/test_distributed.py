"""The launch scripts, run for real: torchrun with two CPU processes (gloo), and a one-node
Slurm cluster (started here, stopped afterwards) running slurm_train.sh and slurm_test.sh."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools/misc'))
from make_shapes_dataset import make_dataset  # noqa: E402
from slurm_cluster import SlurmCluster  # noqa: E402
from test_classification_e2e import SMALL_CONFIG as CLS_CONFIG  # noqa: E402
from test_classification_e2e import write_imagenet  # noqa: E402

CONFIG = """
_base_ = ['{root}/configs/demo/mask_rcnn_internimage_tiny_shapes.py']
data_root = '{data}/coco/'
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
train_cfg = dict(max_iters=3, val_interval=3)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=3))
"""
SEG_CONFIG = """
_base_ = ['{root}/configs/demo/upernet_internimage_tiny_shapes.py']
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(data_root='{data}/ade'))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(data_root='{data}/ade'))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=100)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
"""
KILLER = """
import os
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class KillRankOneHook(Hook):
    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.rank == 1 and runner.iter >= 1:
            os._exit(3)
"""


@pytest.fixture(scope='module')
def config(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('dist')
    data = make_dataset(tmp / 'shapes', train=8, val=4, size=96, seed=3)
    path = tmp / 'small.py'
    path.write_text(CONFIG.format(root=ROOT, data=data))
    return path


def free_port():
    """A port nothing listens on now: fixed ports collide with another job's, or with a socket of the
    previous test still closing."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def env(**extra):
    return dict(os.environ, PYTHON=sys.executable, PYTHONUNBUFFERED='1', **extra)


def run(command, timeout=900, **extra_env):
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env(**extra_env), timeout=timeout)
    return result.returncode, result.stdout + result.stderr


def test_dist_train_two_processes(config, tmp_path):
    code, log = run(['bash', 'tools/dist_train.sh', str(config), '2', '--work-dir', str(tmp_path / 'w')],
                    PORT=free_port())
    assert code == 0, log[-4000:]
    assert 'world size: 2 (launcher: pytorch)' in log
    assert 'Iter(train) [3/3]' in log and (tmp_path / 'w' / 'iter_3.pth').exists()
    code, log = run(['bash', 'tools/dist_test.sh', str(config), str(tmp_path / 'w' / 'iter_3.pth'), '2',
                     '--work-dir', str(tmp_path / 't')], PORT=free_port())
    assert code == 0, log[-4000:]
    assert 'coco/bbox_mAP' in log


def test_dist_train_segmentor_with_syncbn_on_cpus(config, tmp_path):
    """UPerNet's heads use SyncBN, which torch runs only on GPUs: on CPUs it becomes BatchNorm."""
    seg_config = tmp_path / 'seg.py'
    seg_config.write_text(SEG_CONFIG.format(root=ROOT, data=config.parent / 'shapes'))
    code, log = run(['bash', 'tools/dist_train.sh', str(seg_config), '2', '--work-dir', str(tmp_path / 'w')],
                    PORT=free_port())
    assert code == 0, log[-4000:]
    assert 'SyncBatchNorm needs GPUs' in log and 'Iter(train) [2/2]' in log
    assert (tmp_path / 'w' / 'iter_2.pth').exists()


def test_dist_train_then_test_classifier(tmp_path):
    write_imagenet(tmp_path / 'imagenet')
    config = tmp_path / 'cls.py'
    config.write_text(CLS_CONFIG.format(root=ROOT, data=tmp_path / 'imagenet'))
    code, log = run(['bash', 'tools/dist_train.sh', str(config), '2', '--work-dir', str(tmp_path / 'w')],
                    PORT=free_port())
    assert code == 0, log[-4000:]
    assert 'world size: 2 (launcher: pytorch)' in log and 'accuracy/top1' in log
    code, log = run(['bash', 'tools/dist_test.sh', str(config), str(tmp_path / 'w' / 'epoch_2.pth'), '2',
                     '--work-dir', str(tmp_path / 't')], PORT=free_port())
    assert code == 0, log[-4000:]
    assert 'accuracy/top1' in log


def test_a_dying_rank_ends_the_job(config, tmp_path):
    (tmp_path / 'killer_hook.py').write_text(KILLER)
    (tmp_path / 'dying.py').write_text(
        f"_base_ = ['{config}']\n"
        "custom_imports = dict(imports=['mmdet_custom', 'killer_hook'], allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='KillRankOneHook')]\n")
    start = time.time()
    code, log = run(['bash', 'tools/dist_train.sh', str(tmp_path / 'dying.py'), '2', '--work-dir',
                     str(tmp_path / 'w')], timeout=600, PORT=free_port(), PYTHONPATH=str(tmp_path))
    assert code != 0, log[-3000:]
    assert time.time() - start < 300


@pytest.fixture(scope='module')
def slurm(tmp_path_factory):
    cluster = SlurmCluster(tmp_path_factory.mktemp('slurm')).start()
    yield cluster
    cluster.stop()


def test_slurm_train_then_test(slurm, config, tmp_path):
    slurm_env = dict(GPUS='2', GPUS_PER_NODE='0', CPUS_PER_TASK='1', SLURM_CONF=str(slurm.conf),
                     MASTER_PORT=free_port())
    code, log = run(['bash', 'tools/slurm_train.sh', 'ci', 'internimage-train', str(config), str(tmp_path / 'w')],
                    **slurm_env)
    assert code == 0, log[-4000:]
    assert 'world size: 2 (launcher: pytorch)' in log and (tmp_path / 'w' / 'iter_3.pth').exists()
    code, log = run(['bash', 'tools/slurm_test.sh', 'ci', 'internimage-test', str(config),
                     str(tmp_path / 'w' / 'iter_3.pth'), '--work-dir', str(tmp_path / 't')], **slurm_env)
    assert code == 0, log[-4000:]
    assert 'coco/bbox_mAP' in log
    print(log[-2000:])


def test_slurm_train_sharded_then_test(slurm, config, tmp_path):
    """--fsdp through the Slurm scripts (issue 27): the UPerNet demo trains sharded over two Slurm tasks,
    and its checkpoint (the plain model's) is tested unsharded through slurm_test.sh."""
    seg_config = tmp_path / 'seg.py'
    seg_config.write_text(SEG_CONFIG.format(root=ROOT, data=config.parent / 'shapes'))
    slurm_env = dict(GPUS='2', GPUS_PER_NODE='0', CPUS_PER_TASK='1', SLURM_CONF=str(slurm.conf),
                     MASTER_PORT=free_port())
    code, log = run(['bash', 'tools/slurm_train.sh', 'ci', 'internimage-fsdp', str(seg_config), str(tmp_path / 'w'),
                     '--fsdp'], **slurm_env)
    assert code == 0, log[-4000:]
    assert 'InternImageFSDP' in log and 'world size: 2' in log and 'Iter(train) [2/2]' in log
    code, log = run(['bash', 'tools/slurm_test.sh', 'ci', 'internimage-test', str(seg_config),
                     str(tmp_path / 'w' / 'iter_2.pth'), '--work-dir', str(tmp_path / 't')], **slurm_env)
    assert code == 0, log[-4000:]
    assert 'mIoU' in log
    assert 'tensors; missing: none; unexpected: none; shape mismatch: none' in log  # strict, unsharded names
