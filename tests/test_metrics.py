"""The per-class metrics of the plugins (the demo's evaluators): the same summary figures as mmdet's /
mmseg's own metrics, and each class's figure equal to what those metrics compute for it."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools/misc'))
from make_shapes_dataset import CLASSES, make_dataset  # noqa: E402


def test_class_iou_metric_returns_each_class_iou():
    import mmseg_custom  # noqa: F401
    from mmseg.evaluation import IoUMetric
    from mmseg.registry import METRICS
    gen = torch.Generator().manual_seed(0)
    classes = ('background', 'circle', 'square', 'triangle')
    labels = torch.randint(0, 4, (3, 16, 16), generator=gen)
    labels[0, :2] = 255  # ignored pixels
    noisy = torch.rand(labels.shape, generator=gen) < 0.3
    preds = torch.where(noisy, torch.randint(0, 3, labels.shape, generator=gen), labels)  # never 3 by mistake
    preds[1] = torch.where(preds[1] == 3, 0, preds[1])
    samples = [dict(pred_sem_seg=dict(data=p[None]), gt_sem_seg=dict(data=g[None])) for p, g in zip(preds, labels)]

    def evaluate(metric):
        metric.dataset_meta = dict(classes=classes)
        metric.process({}, samples)
        return metric.evaluate(len(samples))

    with DefaultScope.overwrite_default_scope('mmseg'):  # whatever scope an earlier test left current
        ours = evaluate(METRICS.build(dict(type='ClassIoUMetric', iou_metrics=['mIoU'])))
    stock = evaluate(IoUMetric(iou_metrics=['mIoU']))
    assert {k: v for k, v in ours.items() if not k.startswith('IoU.')} == stock
    valid = labels != 255
    for index, name in enumerate(classes):
        p, g = preds[valid] == index, labels[valid] == index
        expected = (p & g).sum().item() / (p | g).sum().item() * 100
        assert ours[f'IoU.{name}'] == pytest.approx(expected, abs=0.006)  # rounded to 2 decimals
    assert np.mean([ours[f'IoU.{name}'] for name in classes]) == pytest.approx(ours['mIoU'], abs=0.01)
    assert_best_checkpoint_rule(ours, 'aAcc')


def assert_best_checkpoint_rule(metrics, first):
    """CheckpointHook(save_best='auto') keeps the best of the first metric: it must be the summary figure,
    one whose direction mmengine can infer (a per-class key first failed training with a ValueError)."""
    from mmengine.hooks import CheckpointHook
    assert next(iter(metrics)) == first
    assert CheckpointHook(save_best=first).rules == ['greater']


def test_class_ap_coco_metric_keeps_box_and_mask_ap_apart(tmp_path):
    """Predictions = the ground truth, boxes jittered (more for later classes), masks exact: every class's
    mask AP is 1 and its box AP below; ours equal mmdet's CocoMetric(classwise=True) run on one kind at a
    time (with both kinds at once, mmdet's own returns the mask APs alone, under one name)."""
    import mmdet_custom  # noqa: F401
    from mmdet.evaluation import CocoMetric
    from mmdet.registry import METRICS
    from pycocotools import mask as mask_utils
    data = make_dataset(tmp_path / 'shapes', train=1, val=12, size=64, seed=2)
    ann_file = str(data / 'coco/annotations/instances_val.json')
    coco = json.loads(Path(ann_file).read_text())
    rng = np.random.default_rng(0)
    samples = []
    for image in coco['images']:
        anns = [a for a in coco['annotations'] if a['image_id'] == image['id']]
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in anns)], np.float32).reshape(-1, 4)
        labels = np.array([a['category_id'] - 1 for a in anns], np.int64)
        boxes += rng.normal(0, 1.0 + 2.0 * labels[:, None], boxes.shape).astype(np.float32)  # worse per class
        masks = np.stack([mask_utils.decode(dict(a['segmentation'], counts=a['segmentation']['counts'].encode()))
                          for a in anns]).astype(bool) if anns else np.zeros((0, 64, 64), bool)
        samples.append(dict(img_id=image['id'], ori_shape=(64, 64), pred_instances=dict(
            bboxes=torch.from_numpy(boxes), scores=torch.from_numpy(rng.uniform(0.5, 1, len(anns))).float(),
            labels=torch.from_numpy(labels), masks=torch.from_numpy(masks))))

    def evaluate(metric):
        metric.dataset_meta = dict(classes=CLASSES)
        metric.process({}, samples)
        return metric.evaluate(len(samples))

    with DefaultScope.overwrite_default_scope('mmdet'):
        ours = evaluate(METRICS.build(dict(type='ClassAPCocoMetric', ann_file=ann_file, metric=['bbox', 'segm'])))
    for kind in ('bbox', 'segm'):
        stock = evaluate(CocoMetric(ann_file=ann_file, metric=kind, classwise=True))
        for key, value in stock.items():
            if key.endswith('_precision'):
                assert ours[f'coco/{kind}_{key[len("coco/"):-len("_precision")]}_AP'] == value
            else:
                assert ours[key] == value
    for name in CLASSES:
        assert ours[f'coco/segm_{name}_AP'] == 1.0 and ours[f'coco/bbox_{name}_AP'] < 0.9
    assert not any(key.endswith('_precision') for key in ours)
    assert_best_checkpoint_rule(ours, 'coco/bbox_mAP')
