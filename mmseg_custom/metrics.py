"""mmseg's IoU metric with each class's IoU among the returned metrics, not only in the logged table:
``IoU.<class>`` (percent, like ``mIoU``), so that a sweep or a test can read one class's figure from
the metrics a Runner returns and logs to its JSON."""
import numpy as np
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS


@METRICS.register_module()
class ClassIoUMetric(IoUMetric):
    """``IoUMetric`` (same arguments, same table and summary) plus ``IoU.<class>`` for every class."""

    def compute_metrics(self, results):
        metrics = super().compute_metrics(results)
        if self.format_only:
            return metrics
        intersect, union = (sum(result[i] for result in results) for i in (0, 1))
        iou = (intersect / union).numpy()  # nan where a class is neither labelled nor predicted
        for name, value in zip(self.dataset_meta['classes'], iou):
            metrics[f'IoU.{name}'] = float(np.round(value * 100, 2))
        return metrics
