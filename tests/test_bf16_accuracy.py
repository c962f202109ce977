"""bfloat16 autocast on a trained detector: ``tools/test.py --amp`` (CPU) gives the float32 bbox and mask mAP
within 0.5 points, on the demo Mask R-CNN trained by ``make demo`` (tests/data/trained/README.md) and the demo's
100 held-out images. Without the float32 box heads (internimage.models.bf16_box_heads) this model lost 1.6
points of bbox mAP. The trained weights were saved from the demo's checkpoint with::

    ckpt = torch.load('work_dirs/demo/detection/iter_850.pth', weights_only=False)
    torch.save(dict(state_dict=ckpt['state_dict'], meta=dict(seed=0, iter=850,
               dataset_meta=ckpt['meta']['dataset_meta'])), 'tests/data/trained/mask_rcnn_internimage_tiny_shapes.pth')
"""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
sys.path.insert(0, str(ROOT / 'tools/misc'))
import demo  # noqa: E402
from make_shapes_dataset import make_dataset  # noqa: E402

TRAINED = ROOT / 'tests/data/trained/mask_rcnn_internimage_tiny_shapes.pth'
TOLERANCE = 0.005  # 0.5 points of mAP (mmdet logs mAP as a fraction)


def evaluate(data, work_dir, *extra):
    options = demo.config_options('detection', data, max_iters=None)
    result = subprocess.run([sys.executable, 'tools/test.py', demo.TASKS['detection']['config'], str(TRAINED),
                             '--work-dir', str(work_dir), *extra, '--cfg-options', *options],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    logged = demo.test_metrics(str(work_dir))
    return {name: logged[f'coco/{name}'] for name in ('bbox_mAP', 'segm_mAP')}


def test_bfloat16_detector_keeps_float32_map(tmp_path):
    data = make_dataset(tmp_path / 'shapes')  # the demo's data: the held-out images the weights never saw
    float32 = evaluate(data, tmp_path / 'float32')
    bfloat16 = evaluate(data, tmp_path / 'bfloat16', '--amp')
    print({'float32': float32, 'bfloat16': bfloat16})
    assert float32['bbox_mAP'] >= 0.70 and float32['segm_mAP'] >= 0.70  # a trained model, as the README says
    for name in float32:
        assert abs(bfloat16[name] - float32[name]) <= TOLERANCE, (name, float32, bfloat16)
