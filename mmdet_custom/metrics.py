"""mmdet's COCO metric with each class's AP among the returned metrics for every evaluated kind.

mmdet's ``CocoMetric(classwise=True)`` logs a per-class table and returns ``<class>_precision``, but the
key carries no metric name, so with ``metric=['bbox', 'segm']`` the mask APs overwrite the box APs.
This evaluates one kind at a time and renames: ``bbox_<class>_AP`` and ``segm_<class>_AP``."""
from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS


@METRICS.register_module()
class ClassAPCocoMetric(CocoMetric):
    """``CocoMetric`` (same arguments and results, ``classwise`` forced on) plus ``<metric>_<class>_AP``."""

    def __init__(self, *args, **kwargs):
        kwargs['classwise'] = True
        super().__init__(*args, **kwargs)

    def compute_metrics(self, results):
        # mmdet returns the per-class figures first; they go last here, so that the first key, the one
        # CheckpointHook(save_best='auto') and tools reading "the" metric take, stays ``<kind>_mAP``.
        kinds, metrics, class_aps = self.metrics, {}, {}
        try:
            for kind in kinds:
                self.metrics = [kind]
                for key, value in super().compute_metrics(results).items():
                    if key.endswith('_precision'):
                        class_aps[f'{kind}_{key[:-len("_precision")]}_AP'] = value
                    else:
                        metrics[key] = value
        finally:
            self.metrics = kinds
        return {**metrics, **class_aps}
