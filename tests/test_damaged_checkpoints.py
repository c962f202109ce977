"""Checkpoints that do not load are told apart, each in one message naming the file: not a checkpoint,
damaged or truncated (with its size), refused because it carries code (tests/test_classification_e2e.py).
`tools/train.py --resume` skips a damaged newest checkpoint and resumes from the newest one that loads.
The damaged checkpoint is made by a real training run that dies half-way through writing its second
checkpoint straight to its name, as a save without atomic writes would (tools/train.py writes under a
temporary name and renames: tests/test_preemption.py); a damaged copy or disk gives the same file."""
import os
import shutil
import subprocess
import sys

import pytest
from test_classification_e2e import ROOT, SMALL_CONFIG, run_tool, write_imagenet

# Loaded through custom_imports: the second checkpoint's write goes to its final name, stops half-way
# and the process dies.
KILLED_WHILE_SAVING = """
import os
from internimage.engine.atomic_files import AtomicLocalBackend as LocalBackend

write = LocalBackend.put


def put_then_die(self, obj, filepath):
    if str(filepath).endswith('epoch_2.pth'):
        with open(filepath, 'wb') as f:
            f.write(obj[:len(obj) // 2])
        os._exit(9)
    write(self, obj, filepath)


LocalBackend.put = put_then_die
"""


@pytest.fixture(scope='module')
def killed_run(tmp_path_factory):
    """A work dir whose run died while writing epoch_2.pth: epoch_1.pth intact, epoch_2.pth half written."""
    tmp = tmp_path_factory.mktemp('killed')
    write_imagenet(tmp / 'imagenet')
    (tmp / 'killed_while_saving.py').write_text(KILLED_WHILE_SAVING)
    config = tmp / 'small_t.py'
    config.write_text(SMALL_CONFIG.format(root=ROOT, data=tmp / 'imagenet'))
    killing = tmp / 'killing.py'
    killing.write_text(f"_base_ = ['{config}']\n"
                       "custom_imports = dict(imports=['mmcls_custom', 'killed_while_saving'], "
                       "allow_failed_imports=False)\n")
    work = tmp / 'work'
    result = subprocess.run([sys.executable, 'tools/train.py', str(killing), '--work-dir', str(work)], cwd=ROOT,
                            capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(tmp)))
    assert result.returncode == 9, (result.stdout + result.stderr)[-3000:]
    full = (work / 'epoch_1.pth').stat().st_size
    assert 0 < (work / 'epoch_2.pth').stat().st_size < full
    return config, work


def test_file_that_is_not_a_checkpoint(killed_run, tmp_path):
    config, _ = killed_run
    garbage = tmp_path / 'x.pth'
    garbage.write_text('garbage\n')
    result = run_tool('tools/test.py', str(config), str(garbage))
    assert result.returncode != 0
    assert f'{garbage} is not a PyTorch checkpoint (8 bytes' in result.stderr
    assert 'Refused' not in result.stderr and 'Traceback' not in result.stderr


def test_truncated_checkpoint_is_named_with_its_size(killed_run):
    config, work = killed_run
    damaged = work / 'epoch_2.pth'
    result = run_tool('tools/test.py', str(config), str(damaged))
    assert result.returncode != 0
    assert f'The checkpoint {damaged} is damaged or truncated ({damaged.stat().st_size} bytes)' in result.stderr
    assert 'Refused' not in result.stderr and 'Traceback' not in result.stderr


def test_resume_skips_the_damaged_newest_checkpoint(killed_run, tmp_path):
    config, killed_work = killed_run
    work = tmp_path / 'work'
    shutil.copytree(killed_work, work)
    # The run died before recording epoch_2 as its last checkpoint; point at it as a damaged disk would.
    (work / 'last_checkpoint').write_text(str(work / 'epoch_2.pth'))
    result = run_tool('tools/train.py', str(config), '--work-dir', str(work), '--resume')
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert f'--resume: skipped a checkpoint that does not load. The checkpoint {work / "epoch_2.pth"} is damaged' in log
    assert 'resumed epoch: 1' in log and 'Epoch(train) [2][2/2]' in log and 'Epoch(train) [1]' not in log
    assert (work / 'epoch_1.pth').exists()  # nothing lost


def test_resume_with_no_loadable_checkpoint_stops_and_says_why(killed_run, tmp_path):
    config, work = killed_run
    broken = tmp_path / 'work'
    broken.mkdir()
    (broken / 'iter_5.pth').write_bytes((work / 'epoch_1.pth').read_bytes()[:1000])
    result = run_tool('tools/train.py', str(config), '--work-dir', str(broken), '--resume')
    assert result.returncode != 0
    assert f'--resume: no checkpoint in {broken} loads' in result.stderr
    assert f'The checkpoint {broken / "iter_5.pth"} is damaged or truncated (1000 bytes)' in result.stderr
