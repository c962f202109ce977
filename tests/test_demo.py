"""tools/demo.py (``make demo``) end to end with a very short schedule on a small generated set:
both models trained and evaluated, drawings and summary.json written."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
from make_shapes_dataset import make_dataset  # noqa: E402


def test_demo_runs_end_to_end(tmp_path):
    data = make_dataset(tmp_path / 'shapes', train=16, val=4, size=96, seed=4)
    work = tmp_path / 'demo'
    result = subprocess.run([sys.executable, 'tools/demo.py', '--data', str(data), '--work-dir', str(work),
                             '--max-iters', '2', '--visualize', '1'], cwd=ROOT, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    summary = json.loads((work / 'summary.json').read_text())
    assert set(summary['detection']) == {'bbox_mAP', 'bbox_mAP_50', 'segm_mAP', 'segm_mAP_50'}
    assert set(summary['segmentation']) == {'mIoU', 'aAcc'} and summary['seconds'] > 0
    assert 0 <= summary['segmentation']['aAcc'] <= 100
    drawings = sorted(p.name for p in work.glob('*.png'))
    assert drawings == ['detection_val_00000.png', 'segmentation_val_00000.png']
    assert 'InternImage demo on held-out shapes' in result.stdout
