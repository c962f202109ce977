"""tools/demo.py (``make demo``) end to end with a very short schedule on a small generated set:
both models trained and evaluated, drawings and summary.json written; a second run gives the same
models and figures (the demo configs fix the seed)."""
import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
from make_shapes_dataset import make_dataset  # noqa: E402


def run_demo(data, work):
    result = subprocess.run([sys.executable, 'tools/demo.py', '--data', str(data), '--work-dir', str(work),
                             '--max-iters', '2', '--visualize', '1'], cwd=ROOT, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result


def trained_weights(work, task):
    checkpoint = (work / task / 'last_checkpoint').read_text().strip()
    return torch.load(checkpoint, map_location='cpu', weights_only=False)['state_dict']


def test_demo_runs_end_to_end_and_again_the_same(tmp_path):
    data = make_dataset(tmp_path / 'shapes', train=16, val=4, size=96, seed=4)
    work = tmp_path / 'demo'
    result = run_demo(data, work)
    summary = json.loads((work / 'summary.json').read_text())
    assert set(summary['detection']) == {'bbox_mAP', 'bbox_mAP_50', 'segm_mAP', 'segm_mAP_50'}
    assert set(summary['segmentation']) == {'mIoU', 'aAcc'} and summary['seconds'] > 0
    assert 0 <= summary['segmentation']['aAcc'] <= 100
    drawings = sorted(p.name for p in work.glob('*.png'))
    assert drawings == ['detection_val_00000.png', 'segmentation_val_00000.png']
    assert 'InternImage demo on held-out shapes' in result.stdout

    again = tmp_path / 'again'
    run_demo(data, again)
    for task in ('detection', 'segmentation'):
        first, second = trained_weights(work, task), trained_weights(again, task)
        assert first.keys() == second.keys()
        differing = [key for key in first if not torch.equal(first[key], second[key])]
        assert not differing, f'{task}: {len(differing)} tensors differ between two runs, e.g. {differing[:3]}'
    summary_again = json.loads((again / 'summary.json').read_text())
    for task in ('detection', 'segmentation'):
        assert summary_again[task] == summary[task]
