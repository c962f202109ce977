"""The memory of a training step measured on fake tensors (internimage/analysis/training_memory.py,
tools/analysis_tools/training_memory.py) against real training steps on this CPU, and the documented table
(docs/en/user_guides/sharded_training.md) against the tool. Reduced models keep the published H / G
structure (UperNet-H's blocks and heads; DINO-G's post-norms, EfficientFFN checkpointed in chunks, the
denoising queries, multi-scale deformable attention) with few blocks and channels."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMALL_BACKBONE = "channels=16, groups=[1, 2, 4, 8], drop_path_rate=0.0, init_cfg=None"
MODELS = {
    'upernet_h': (f"""
_base_ = ['{ROOT}/configs/ade20k/upernet_internimage_h_896_160k_ade20k.py']
model = dict(
    backbone=dict({SMALL_BACKBONE}, depths=[1, 1, 4, 1], level2_post_norm_block_ids=[1, 3]),
    decode_head=dict(in_channels=[16, 32, 64, 128], channels=32, num_classes=4),
    auxiliary_head=dict(in_channels=64, channels=16, num_classes=4))
""", (512, 512)),
    # 100 queries (of the encoder's 340 tokens at 128x128) and 40 denoising queries (20 boxes an image)
    # instead of 900 and 200: the decoder's self-attention is otherwise 4 GB at any image size.
    'dino_g': (f"""
_base_ = ['{ROOT}/configs/coco/dino_4scale_internimage_g_objects365_coco_ss.py']
model = dict(
    backbone=dict({SMALL_BACKBONE}, depths=[1, 1, 3, 1], level2_post_norm_block_ids=[1]),
    neck=dict(in_channels=[32, 64, 128]), num_queries=100,
    dn_cfg=dict(group_cfg=dict(num_dn_queries=20)))
""", (384, 384)),
}


def measure_for_real(tmp_path, name):
    text, (height, width) = MODELS[name]
    config = tmp_path / f'{name}.py'
    config.write_text(text)
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536', PYTHONPATH=str(ROOT), OMP_NUM_THREADS='2')
    result = subprocess.run([sys.executable, str(ROOT / 'tests/real_training_memory.py'), str(config),
                             str(height), str(width)], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith('RESULTS '))
    return json.loads(line[len('RESULTS '):])


@pytest.mark.parametrize('name', sorted(MODELS))
def test_fake_measurement_equals_a_real_training_step(tmp_path, name):
    results = measure_for_real(tmp_path, name)
    for checkpointing, result in results.items():
        # What the step adds to the process (the weights were there before) is what was counted, within
        # 5% (a few MiB at these sizes: the CPU kernels' own buffers, the order in which tensors are freed).
        step = result['fake']['peak'] - result['fake']['weights']
        print(f"{name} checkpointing={checkpointing}: counted {step / 2**20:.1f} MiB, "
              f"resident {result['resident'] / 2**20:.1f} MiB")
        assert result['resident'] == pytest.approx(step, rel=0.05), checkpointing
    plain, checkpointed = results['False']['fake'], results['True']['fake']
    assert checkpointed['saved'] < plain['saved']
    assert checkpointed['parameters'] == plain['parameters'] > 0


def test_documented_table_is_the_tools_output():
    """The memory table of docs/en/user_guides/sharded_training.md is what
    tools/analysis_tools/training_memory.py prints (UperNet-H's row, at 896x896)."""
    result = subprocess.run([sys.executable, 'tools/analysis_tools/training_memory.py', '--markdown',
                             'configs/ade20k/upernet_internimage_h_896_160k_ade20k.py'],
                            cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr[-4000:]
    header, _, row = [line for line in result.stdout.splitlines() if line.startswith('|')]
    page = (ROOT / 'docs/en/user_guides/sharded_training.md').read_text()
    assert header in page and row in page, result.stdout
