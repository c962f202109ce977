"""Set-up scripts fail legibly, and the op is built with CUDA where a toolkit is present."""
import os
import subprocess
import sys
from pathlib import Path

import torch

import ops_dcnv3

ROOT = Path(__file__).resolve().parents[1]


def test_missing_compiler_gives_one_clear_message(tmp_path):
    env = dict(os.environ, INTERNIMAGE_CACHE=str(tmp_path), CXX='no-such-compiler-xyz')
    result = subprocess.run(['bash', 'tools/install/build_mmcv.sh', sys.executable], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "ERROR: no C++ compiler found (looked for 'no-such-compiler-xyz')" in result.stderr
    assert len(result.stderr.splitlines()) <= 3


def test_failed_step_prints_log_path_not_its_contents(tmp_path):
    script = (f'source {ROOT}/tools/install/common.sh; '
              'run_logged "$LOG_DIR/step.log" "a failing step" bash -c "for i in \\$(seq 500); do echo line \\$i; done; exit 3"')
    result = subprocess.run(['bash', '-c', script], env=dict(os.environ, INTERNIMAGE_CACHE=str(tmp_path)),
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert f'ERROR: a failing step failed. Full log: {tmp_path}/logs/step.log' in result.stderr
    assert len(result.stderr.splitlines()) < 25  # a short tail, not 500 lines
    assert (tmp_path / 'logs' / 'step.log').read_text().count('\n') == 500


def cuda_toolkit_present():
    for root in [os.environ.get('CUDA_HOME'), '/usr/local/cuda']:
        if root and (Path(root) / 'bin' / 'nvcc').exists():
            return True
    return False


def test_extension_has_cuda_kernels_when_torch_and_toolkit_have_cuda():
    expected = torch.version.cuda is not None and cuda_toolkit_present() and os.environ.get('FORCE_CUDA') != '0'
    assert ('cuda' in ops_dcnv3.backends()) == expected
    if expected:
        library = ops_dcnv3._extension._C.__file__
        linked = subprocess.run(['ldd', library], capture_output=True, text=True).stdout
        assert 'libcudart' in linked, linked
