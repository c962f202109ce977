"""The PASCAL VOC evaluation server's detection result files, for a test set without ground truth (VOC
2012 test): ``VOCResultWriter`` writes ``<out_dir>/results/VOC2012/Main/comp4_det_test_<class>.txt``, one
line per box, ``<image id> <score> <xmin> <ymin> <xmax> <ymax>`` in VOC's 1-based pixel coordinates
(mmdet's VOCDataset subtracts 1 as it loads; this adds it back). Pack the ``results`` folder
(``tar -czf results.tgz results``, run in ``out_dir``) and upload it; the server computes the mAP."""
import os.path as osp
from typing import Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmengine.utils import mkdir_or_exist

from mmdet.registry import METRICS


@METRICS.register_module()
class VOCResultWriter(BaseMetric):
    """Writes the server's files (competition 4: any training data) and returns no figure.

    Args:
        out_dir (str): where ``results/VOC<year>/Main/`` goes.
        year (int): the VOC year of the test set. Defaults to 2012.
    """

    def __init__(self, out_dir: str, year: int = 2012, **kwargs):
        super().__init__(**kwargs)
        self.out_dir, self.year = out_dir, year

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            pred = sample['pred_instances']
            self.results.append((osp.splitext(osp.basename(sample['img_path']))[0], pred['bboxes'].cpu().numpy(),
                                 pred['scores'].cpu().numpy(), pred['labels'].cpu().numpy()))

    def compute_metrics(self, results: list) -> dict:
        classes = self.dataset_meta['classes']
        lines = {name: [] for name in classes}
        for image_id, bboxes, scores, labels in results:
            for (x1, y1, x2, y2), score, label in zip(bboxes, scores, labels):
                lines[classes[label]].append(
                    f'{image_id} {score:.6f} {x1 + 1:.1f} {y1 + 1:.1f} {x2 + 1:.1f} {y2 + 1:.1f}\n')
        folder = osp.join(self.out_dir, 'results', f'VOC{self.year}', 'Main')
        mkdir_or_exist(folder)
        for name, class_lines in lines.items():
            with open(osp.join(folder, f'comp4_det_test_{name}.txt'), 'w') as f:
                f.writelines(class_lines)
        MMLogger.get_current_instance().info(f'VOC {self.year} result files for the evaluation server: {folder}')
        return {}
