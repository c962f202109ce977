"""Sharded checkpoints (tools/train.py --fsdp --sharded-checkpoints) through tools/dist_train.sh on two CPU
processes (gloo), with the reduced UperNet-H of tests/test_fsdp.py; its heads normalise with GroupNorm (the
config's SyncBN becomes BatchNorm on CPUs, whose batch statistics would differ between 2 processes x 2
images and 1 process x 4 images). Nothing draws at random after the initialisation.

The runs, from the same weights (``load_from``):

- ``full``: --fsdp with full checkpoints (rank 0 gathers), iterations 1-4, checkpoints at 2 and 4: the
  uninterrupted run (the kind of checkpoint changes nothing in the training's arithmetic);
- ``stopped``: sharded, a checkpoint every iteration, ``max_keep_ckpts=2``; every process is killed while
  the checkpoint of iteration 3 is saved (shards and index written, folder not yet renamed); then
  ``--resume`` (the newest checkpoint of the work dir) to iteration 4;
- ``one_process``: resumes the stopped run's iteration-2 checkpoint in a single process with 4 images a
  batch (the two processes' batches together, in the same order).

The sharded checkpoints are read through the converter's library (``load_plain_model``); the converter
tool itself runs once.
"""
import os
import pickle
import shutil
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools/misc'))
sys.path.insert(0, str(ROOT / 'tests'))
from make_shapes_dataset import make_dataset  # noqa: E402

from internimage.checkpoint.safe_loading import CheckpointError  # noqa: E402
from internimage.checkpoint.sharded import load_plain_model  # noqa: E402
from test_distributed import free_port, run  # noqa: E402
from test_fsdp import CONFIG, H_CONFIG, logged, plain_model  # noqa: E402

GN = "dict(type='GN', num_groups=8, requires_grad=True)"
SHARDED_CONFIG = CONFIG.replace('fsdp_test_hooks', 'sharded_test_hooks').replace(
    "num_classes=4, dropout_ratio=0.0),\n    auxiliary_head=dict(in_channels=64, channels=16, num_classes=4, dropout_ratio=0.0))",
    f'num_classes=4, dropout_ratio=0.0, norm_cfg={GN}),\n'
    f'    auxiliary_head=dict(in_channels=64, channels=16, num_classes=4, dropout_ratio=0.0, norm_cfg={GN}))'
).replace("custom_hooks = [dict(type='StateMemoryHook'), dict(type='KillAfterIterHook')]",
          "custom_hooks = [dict(type='KillDuringSaveHook')]")
HOOKS = """
import os
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class KillDuringSaveHook(Hook):
    \"\"\"Ends every process while the checkpoint of iteration KILL_DURING_SAVE is saved: after every
    process has written its shards (and rank 0 the index), before rank 0 renames the folder.\"\"\"

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint['meta']['iter'] != int(os.environ.get('KILL_DURING_SAVE', 0)):
            return
        from internimage.engine import sharded_checkpoint
        save = sharded_checkpoint.save

        def save_then_die(*args, **kwargs):
            save(*args, **kwargs)
            os._exit(3)
        sharded_checkpoint.save = save_then_die
"""


def train(config, work_dir, processes, *args, **extra_env):
    """tools/dist_train.sh CONFIG PROCESSES --fsdp ARGS (full checkpoints unless ARGS say --sharded-checkpoints)."""
    return run(['bash', 'tools/dist_train.sh', str(config), str(processes), '--work-dir', str(work_dir),
                '--fsdp', *args], timeout=600, PORT=free_port(), PYTHONPATH=str(config.parent), **extra_env)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('sharded')
    data = make_dataset(tmp / 'shapes', train=8, val=1, size=64, seed=5)
    (tmp / 'sharded_test_hooks.py').write_text(HOOKS)
    config = tmp / 'h_small.py'
    config.write_text(SHARDED_CONFIG.format(h_config=H_CONFIG, data=data, init=tmp / 'init.pth'))
    assert "type='GN'" in config.read_text() and 'KillDuringSaveHook' in config.read_text()
    torch.save(dict(state_dict=plain_model(config).state_dict()), tmp / 'init.pth')
    logs = {}
    code, logs['full'] = train(config, tmp / 'full', 2)
    assert code == 0, logs['full'][-4000:]
    every_iteration = ('--sharded-checkpoints', '--cfg-options', 'default_hooks.checkpoint.interval=1',
                       'default_hooks.checkpoint.max_keep_ckpts=2')
    stopped = tmp / 'stopped'
    code, logs['killed'] = train(config, stopped, 2, *every_iteration, KILL_DURING_SAVE='3')
    assert code != 0, logs['killed'][-4000:]
    after_kill = dict(entries=entries(stopped), last=(stopped / 'last_checkpoint').read_text().strip())
    shutil.copytree(stopped / 'iter_2.pth', tmp / 'stopped_iter_2.pth')
    code, logs['resumed'] = train(config, stopped, 2, *every_iteration, '--resume')
    assert code == 0, logs['resumed'][-4000:]
    code, logs['one_process'] = train(config, tmp / 'one_process', 1, '--sharded-checkpoints', '--resume',
                                      str(tmp / 'stopped_iter_2.pth'), '--cfg-options', 'train_dataloader.batch_size=4')
    assert code == 0, logs['one_process'][-4000:]
    return dict(tmp=tmp, config=config, logs=logs, after_kill=after_kill)


def entries(work_dir):
    return sorted(p.name for p in work_dir.iterdir() if p.name.startswith('iter_'))


def sharded(runs, path):
    """The plain model's state dict and meta of a sharded checkpoint (the converter's library)."""
    return load_plain_model(runs['tmp'] / path)


def full(runs, iteration):
    return torch.load(runs['tmp'] / 'full' / f'iter_{iteration}.pth', map_location='cpu', weights_only=False)


def assert_equal(state_dict, reference):
    assert state_dict.keys() == reference.keys()
    for key, value in reference.items():
        assert torch.equal(state_dict[key], value), key


def test_a_sharded_checkpoint_is_a_folder_of_shards_rotated_as_files(runs):
    """Every process wrote its own file; rotation (max_keep_ckpts=2) deleted the folders of iterations 1
    and 2; last_checkpoint names the newest; no leftover."""
    stopped = runs['tmp'] / 'stopped'
    folder = stopped / 'iter_4.pth'
    assert sorted(p.name for p in folder.iterdir()) == ['.metadata', '__0_0.distcp', '__1_0.distcp', 'extra.pth']
    assert entries(stopped) == ['iter_3.pth', 'iter_4.pth']
    assert (stopped / 'last_checkpoint').read_text().strip() == str(folder)
    assert (stopped / 'iter_3.pth' / '.metadata').is_file()


def test_a_kill_during_the_save_leaves_the_previous_checkpoint_newest(runs):
    """Killed after writing the shards of iteration 3, before the rename: no iter_3.pth, only its .part
    leftover; iteration 1 (due for deletion by the rotation) still there; last_checkpoint names iteration
    2. --resume takes iteration 2 with every process's generators, and deletes the leftover."""
    assert runs['after_kill']['entries'] == ['iter_1.pth', 'iter_2.pth', 'iter_3.pth.part']
    assert runs['after_kill']['last'].endswith('iter_2.pth')
    log = runs['logs']['resumed']
    assert 'Load sharded checkpoint from' in log and 'resumed epoch: 0, iter: 2' in log
    assert 'exact resume: 2 generator state(s) restored' in log
    assert not list((runs['tmp'] / 'stopped').glob('*.part'))


def test_a_resumed_sharded_run_ends_with_the_uninterrupted_weights_bit_for_bit(runs):
    resumed, meta = sharded(runs, 'stopped/iter_4.pth')
    assert meta['iter'] == 4
    assert_equal(resumed, full(runs, 4)['state_dict'])
    losses_resumed, losses_uninterrupted = logged(runs['tmp'] / 'stopped'), logged(runs['tmp'] / 'full')
    assert [losses_resumed[step]['loss'] for step in (1, 2, 3, 4)] == \
        [losses_uninterrupted[step]['loss'] for step in (1, 2, 3, 4)]


def test_the_converter_writes_the_full_checkpoints_model(runs, tmp_path):
    """tools/model_converters/sharded_to_plain.py: its file loads strictly into the plain model and holds,
    bit for bit, the full checkpoint's (rank 0 gathering) weights of the same iteration."""
    code, log = run([sys.executable, 'tools/model_converters/sharded_to_plain.py',
                     str(runs['tmp'] / 'stopped_iter_2.pth'), str(tmp_path / 'plain.pth')])
    assert code == 0, log
    converted = torch.load(tmp_path / 'plain.pth', map_location='cpu', weights_only=True)
    assert sorted(converted) == ['meta', 'state_dict'] and converted['meta']['iter'] == 2
    plain_model(runs['config']).load_state_dict(converted['state_dict'], strict=True)
    assert_equal(converted['state_dict'], full(runs, 2)['state_dict'])


def test_resumed_in_one_process_the_run_continues(runs):
    """The two processes' shards of iteration 2 load into one process (resharded by DCP), with the
    optimizer state: trained on with the same 4 images a step, its updates from iteration 2 to 4 are the
    two-process run's up to the summation order of the gradients (seen: 8e-7 relative)."""
    log = runs['logs']['one_process']
    assert 'resumed epoch: 0, iter: 2' in log and 'world size: 1' in log
    one, _ = sharded(runs, 'one_process/iter_4.pth')
    start, two = full(runs, 2)['state_dict'], full(runs, 4)['state_dict']
    floats = [key for key in start if start[key].is_floating_point()]
    difference = sum(float((one[k] - two[k]).double().pow(2).sum()) for k in floats) ** 0.5
    update = sum(float((two[k] - start[k]).double().pow(2).sum()) for k in floats) ** 0.5
    print(f'updates from iteration 2 to 4: norm {update:.4f}, one process vs two: {difference:.2e}')
    assert update > 0.1
    assert difference <= 1e-4 * update


def test_what_is_not_a_sharded_checkpoint_is_named(runs, tmp_path):
    """A folder without an index, a file, a missing shard, an index carrying a foreign global: each is
    refused with a message naming the path at fault (nothing unpickled runs)."""
    code, log = run([sys.executable, 'tools/model_converters/sharded_to_plain.py', str(runs['tmp'] / 'full'),
                     str(tmp_path / 'out.pth')])
    assert code != 0 and 'is not a sharded checkpoint: it has no .metadata' in log and 'iter_2.pth' in log, log
    with pytest.raises(CheckpointError, match='is a file, not a sharded checkpoint'):
        load_plain_model(runs['tmp'] / 'full' / 'iter_2.pth')
    damaged = shutil.copytree(runs['tmp'] / 'stopped_iter_2.pth', tmp_path / 'iter_2.pth')
    (damaged / '__1_0.distcp').unlink()
    with pytest.raises(CheckpointError, match=r'lacks its shard file __1_0\.distcp'):
        load_plain_model(damaged)
    (damaged / '.metadata').write_bytes(pickle.dumps(os.system))
    with pytest.raises(CheckpointError, match=r'index .*\.metadata.*global posix\.system'):
        load_plain_model(damaged)
