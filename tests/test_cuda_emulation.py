"""The op package's CUDA kernels (ops_dcnv3/csrc/cuda), run on the CPU through the CUDA emulation
(tests/cuda_emulation): the real operator wrappers and host wrappers of the CUDA path on CPU tensors,
compared with the CPU kernels and the PyTorch references over a matrix that reaches every kernel
instantiation, in two thread orders; the emulator's own rules; the level-table check and the
deterministic-algorithms alert of the CUDA path; and the mutation check (each planted bug fails).

The emulation library is built on first use (about a minute and a half on 2 cores) and cached in
tests/cuda_emulation/build/.
"""
import json
import pathlib
import subprocess
import sys

import pytest
import torch

from cuda_emulation import build
from cuda_emulation.cases import ALL_INSTANTIATIONS, CASES, ORDERS, run_case
from cuda_emulation.mutations import MUTATIONS

TESTS = pathlib.Path(__file__).resolve().parent


@pytest.fixture(scope='module')
def emulation():
    return build.load()


@pytest.mark.parametrize('order', list(ORDERS))
@pytest.mark.parametrize('case', CASES, ids=[case.id for case in CASES])
def test_emulated_kernels_match_cpu_kernels_and_references(emulation, case, order):
    _, launched = run_case(emulation, case, order)
    assert launched == case.expected_kernels()


def test_the_matrix_reaches_every_kernel_instantiation():
    reached = set().union(*(case.expected_kernels() for case in CASES))
    assert reached == ALL_INSTANTIATIONS, f'not reached: {sorted(ALL_INSTANTIATIONS - reached)}'
    assert len(ALL_INSTANTIATIONS) == 36  # 4 dtypes x (2 forward + 3 backward + 2 + 2 MSDA)


def test_the_rewrite_converts_every_launch():
    _, launches = build.generate()
    assert launches['dcnv3_cuda.cu (clean)'] == 5 and launches['ms_deform_attn_cuda.cu (clean)'] == 2
    assert launches['dcnv3_cuda.cu (mutant)'] == 5 and launches['ms_deform_attn_cuda.cu (mutant)'] == 2


RULE_BREAKERS = {
    'exited-lane': 'names lane 5 in its shuffle mask, which has exited',
    'missing-lane': 'names lane 8 in its shuffle mask, which the block does not have',
    'split-barrier': 'waits at the barrier .*selftest.cu:39, others at .*selftest.cu:37',
    'shuffle-against-barrier': 'names lane 16, which waits at .*selftest.cu:49 instead',
    'outside-mask': 'reads lane 16 outside its mask',
    'shared-overrun': 'faulted',
    'stack-overflow': 'faulted',
    'misaligned-vector': 'trapped',
    'too-many-threads': r'invalid block \(1025, 1, 1\)',
    'too-much-shared': '49160 bytes of dynamic shared memory',
    'too-many-blocks': r'invalid grid \(2147483648, 1, 1\)',
}


@pytest.mark.parametrize('name', sorted(RULE_BREAKERS))
def test_the_emulator_rejects_undefined_behaviour(emulation, name):
    with pytest.raises(RuntimeError, match=RULE_BREAKERS[name]):
        emulation.selftest(name)


def test_the_emulator_runs_partial_warps_and_early_exits(emulation):
    assert set(emulation.selftest_names()) == set(RULE_BREAKERS) | {'partial-warp-sums'}
    emulation.selftest('partial-warp-sums')  # raises unless every lane sums to 8


def msda_inputs(dtype=torch.float32):
    from cuda_emulation.cases import MsdaCase
    return MsdaCase('checks', dtype, 8).inputs()


@pytest.mark.parametrize('direction', ['forward', 'backward'])
@pytest.mark.parametrize('device', ['cuda-emulated', 'cpu'])
def test_level_tables_are_checked_against_value(emulation, direction, device):
    (value, shapes, starts, locations, weights), grad_output = msda_inputs()
    ops = emulation if device == 'cuda-emulated' else torch.ops.ops_dcnv3

    def call(shapes, starts):
        if direction == 'forward':
            return ops.ms_deform_attn_forward(value, shapes, starts, locations, weights)
        return ops.ms_deform_attn_backward(grad_output, value, shapes, starts, locations, weights)
    call(shapes, starts)
    with pytest.raises(RuntimeError, match=r'level_start_index\[0\] must be 0'):
        call(shapes, starts + 1)
    bigger = shapes.clone()
    bigger[0, 0] += 1  # the levels would hold more keys than value has
    with pytest.raises(RuntimeError, match='the levels hold 33 keys, value has 28'):
        call(bigger, torch.cumsum(bigger.prod(-1), 0) - bigger.prod(-1))
    with pytest.raises(RuntimeError, match='must be non-negative'):
        call(-shapes, starts)


@pytest.fixture
def deterministic():
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(before, warn_only=warn_only)


def test_cuda_backward_alerts_under_deterministic_algorithms(emulation, deterministic):
    from cuda_emulation.cases import DcnCase
    dcn = DcnCase('alert', torch.float32)
    (x, offset, mask), grad_output = dcn.inputs()
    emulation.dcnv3_forward(x, offset, mask, *dcn.params())  # the forward has no atomics
    with pytest.raises(RuntimeError, match='dcnv3_backward_cuda.*does not have a deterministic implementation'):
        emulation.dcnv3_backward(grad_output, x, offset, mask, *dcn.params())
    (value, shapes, starts, locations, weights), grad = msda_inputs()
    emulation.ms_deform_attn_forward(value, shapes, starts, locations, weights)
    with pytest.raises(RuntimeError, match='ms_deform_attn_backward_cuda does not have a deterministic'):
        emulation.ms_deform_attn_backward(grad, value, shapes, starts, locations, weights)
    torch.ops.ops_dcnv3.dcnv3_backward(grad_output, x, offset, mask, *dcn.params())  # the CPU kernels are


def test_every_planted_bug_fails_the_matrix():
    """mutation_check.py in its own process (a planted bug may write outside a tensor)."""
    result = subprocess.run([sys.executable, '-m', 'cuda_emulation.mutation_check'], cwd=TESTS, capture_output=True,
                            text=True, timeout=600)
    assert result.stdout, result.stderr[-3000:]
    table = json.loads(result.stdout)
    assert len(table) == len(MUTATIONS) >= 7
    uncaught = [entry['name'] for entry in table.values() if not entry['caught_by']]
    assert not uncaught and result.returncode == 0, f'uncaught planted bugs: {uncaught}\n{result.stderr[-3000:]}'
