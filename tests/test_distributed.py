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


# Long runs (docs/en/user_guides/long_runs.md): the UPerNet demo with drop path over two gloo processes,
# stopped in three ways and resumed; each time the final weights must equal the uninterrupted run's.
LONG_SEG_CONFIG = SEG_CONFIG + """
model = dict(backbone=dict(drop_path_rate=0.1))
train_cfg = dict(max_iters=4, val_interval=100)
"""
# Ends rank 1 during iteration 3 of the first attempt only (torchrun counts its restarts).
KILL_FIRST_ATTEMPT = """
import os
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class KillFirstAttemptHook(Hook):
    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.rank == 1 and runner.iter + 1 == 3 and os.environ.get('TORCHELASTIC_RESTART_COUNT') == '0':
            os._exit(3)
"""


def same_weights(first, second):
    import torch
    a = torch.load(first, map_location='cpu', weights_only=False)['state_dict']
    b = torch.load(second, map_location='cpu', weights_only=False)['state_dict']
    differing = [key for key in a if not torch.equal(a[key], b[key])]
    largest = max((float((a[k].double() - b[k].double()).abs().max()) for k in differing), default=0.0)
    print(f'{first} vs {second}: {len(differing)} tensors differ, largest difference {largest}')
    return a.keys() == b.keys() and not differing


@pytest.fixture(scope='module')
def long_seg(config, tmp_path_factory):
    """(config, checkpoint after 4 iterations of the uninterrupted two-process run)."""
    tmp = tmp_path_factory.mktemp('long_seg')
    seg_config = tmp / 'long_seg.py'
    seg_config.write_text(LONG_SEG_CONFIG.format(root=ROOT, data=config.parent / 'shapes'))
    code, log = run(['bash', 'tools/dist_train.sh', str(seg_config), '2', '--work-dir', str(tmp / 'w')],
                    PORT=free_port(), OMP_NUM_THREADS='1')
    assert code == 0, log[-4000:]
    return seg_config, tmp / 'w' / 'iter_4.pth'


def test_two_processes_stopped_by_a_signal_to_one_rank_resume_exactly(long_seg, tmp_path):
    from test_preemption import STOPPED, stopping
    seg_config, reference = long_seg
    stopped = stopping(seg_config, tmp_path, ['mmseg_custom'], iteration=3, rank=1, name='SIGUSR1')
    code, log = run(['bash', 'tools/dist_train.sh', str(stopped), '2', '--work-dir', str(tmp_path / 'w')],
                    PORT=free_port(), OMP_NUM_THREADS='1', PYTHONPATH=str(tmp_path))
    assert code != 0 and f'exitcode  : {STOPPED}' in log, log[-4000:]
    assert 'SIGUSR1 received by rank(s) [1]: stopping after iteration 3' in log
    code, log = run(['bash', 'tools/dist_train.sh', str(seg_config), '2', '--work-dir', str(tmp_path / 'w'),
                     '--resume'], PORT=free_port(), OMP_NUM_THREADS='1')
    assert code == 0, log[-4000:]
    assert 'exact resume: 2 generator state(s) restored' in log
    assert same_weights(reference, tmp_path / 'w' / 'iter_4.pth')


def test_dist_train_max_restarts_resumes_exactly(long_seg, tmp_path):
    """A rank dies in iteration 3; torchrun restarts both, which resume from iter_2.pth."""
    seg_config, reference = long_seg
    (tmp_path / 'kill_first_attempt.py').write_text(KILL_FIRST_ATTEMPT)
    dying = tmp_path / 'dying.py'
    dying.write_text(f"_base_ = ['{seg_config}']\n"
                     "custom_imports = dict(imports=['mmseg_custom', 'kill_first_attempt'], "
                     "allow_failed_imports=False)\n"
                     "custom_hooks = [dict(type='KillFirstAttemptHook')]\n")
    code, log = run(['bash', 'tools/dist_train.sh', str(dying), '2', '--max-restarts', '1', '--work-dir',
                     str(tmp_path / 'w')], PORT=free_port(), OMP_NUM_THREADS='1', PYTHONPATH=str(tmp_path))
    assert code == 0, log[-4000:]
    assert 'resumed epoch: 0, iter: 2' in log and 'exact resume: 2 generator state(s) restored' in log
    assert same_weights(reference, tmp_path / 'w' / 'iter_4.pth')


def slurm_job_state(slurm, job):
    out = subprocess.run(['scontrol', 'show', 'job', job], env=slurm.env, capture_output=True, text=True).stdout
    return dict(field.split('=', 1) for field in out.split() if '=' in field)


def test_slurm_batch_signalled_requeues_and_resumes_exactly(slurm, long_seg, tmp_path):
    """tools/slurm_batch.sh: SIGUSR1 to the batch script (scancel --signal --batch, as --signal=B:USR1
    does before the time limit) mid-run; the job checkpoints, requeues itself, resumes and finishes."""
    seg_config, reference = long_seg
    output = tmp_path / 'job.out'
    submit = subprocess.run(
        ['sbatch', '--parsable', '-p', 'ci', '--ntasks=2', '--cpus-per-task=1', f'--output={output}',
         'tools/slurm_batch.sh', str(seg_config), str(tmp_path / 'w')],
        cwd=ROOT, env=env(SLURM_CONF=str(slurm.conf), MASTER_PORT=free_port(), OMP_NUM_THREADS='1'),
        capture_output=True, text=True)
    assert submit.returncode == 0, submit.stderr
    job = submit.stdout.strip().split(';')[0]
    deadline = time.time() + 600
    while 'Iter(train) [1/4]' not in (output.read_text() if output.exists() else ''):
        assert time.time() < deadline, output.read_text()[-3000:] if output.exists() else 'no output'
        time.sleep(0.5)
    subprocess.run(['scancel', '--signal=USR1', '--batch', job], env=slurm.env, check=True)
    hurried = False
    while slurm_job_state(slurm, job).get('JobState') != 'COMPLETED':
        state = slurm_job_state(slurm, job).get('JobState')
        if state == 'PENDING' and not hurried:
            # Slurm makes a requeued job eligible two minutes later; the test does not wait for that, but for a
            # few seconds: a job credential made in the same second as the revocation of the previous run's is
            # refused ("Killing non-startable batch JobId=5: Job credential revoked", the job FAILED). Then
            # StartTime=now, which schedules at once (a future StartTime waits for the next scheduling pass).
            time.sleep(3)
            subprocess.run(['scontrol', 'update', f'JobId={job}', 'StartTime=now'], env=slurm.env, check=True)
            hurried = True
        assert state not in ('FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL'), output.read_text()[-4000:]
        assert time.time() < deadline, output.read_text()[-4000:]
        time.sleep(1)
    log = output.read_text()
    assert 'slurm_batch: SIGUSR1' in log and 'requeueing job' in log, log[-4000:]
    assert 'exact resume: 2 generator state(s) restored' in log and 'Iter(train) [4/4]' in log
    assert slurm_job_state(slurm, job).get('Restarts') == '1'
    assert same_weights(reference, tmp_path / 'w' / 'iter_4.pth')
