"""A pipeline check that reports bad label maps by file name, before they turn into shape
errors deep inside a crop or a loss."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


class LabelMapError(ValueError):
    pass


@TRANSFORMS.register_module()
class CheckSegLabels(BaseTransform):
    """Place right after ``LoadAnnotations``: the label map must have its image's size, and every
    label must be a class index (< ``num_classes``) or ``ignore_index``. Without a label map
    (inference drops ``LoadAnnotations``) it does nothing."""

    def __init__(self, num_classes, ignore_index=255):
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results):
        if 'gt_seg_map' not in results:  # inference pipelines load no labels
            return results
        labels = results['gt_seg_map']
        path = results.get('seg_map_path', '<unknown label map>')
        image_shape = tuple(results['ori_shape'][:2])
        if tuple(labels.shape[:2]) != image_shape:
            raise LabelMapError(f'{path}: label map is {labels.shape[1]}x{labels.shape[0]} but its image '
                                f'{results.get("img_path", "")} is {image_shape[1]}x{image_shape[0]}')
        values = np.unique(labels)
        bad = values[(values >= self.num_classes) & (values != self.ignore_index)]
        if bad.size:
            raise LabelMapError(f'{path}: labels {bad.tolist()} are outside the {self.num_classes} classes '
                                f'(0..{self.num_classes - 1}, ignore index {self.ignore_index})')
        return results

    def __repr__(self):
        return f'{type(self).__name__}(num_classes={self.num_classes}, ignore_index={self.ignore_index})'
