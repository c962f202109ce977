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
    (inference drops ``LoadAnnotations``) it does nothing.

    Args:
        num_classes: labels must be below it ...
        ignore_index: ... or equal to this.
    """

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


# Mapillary Vistas v1.2 class ids (0-65) folded onto the 19 Cityscapes train ids, as the published
# Mapillary pre-training does (its pipeline step "MapillaryHack"): Cityscapes train id -> Mapillary ids.
# Every other Mapillary class (birds, banners, manholes, ..., 'Unlabeled' 65) is ignored (255).
MAPILLARY_V12_TO_CITYSCAPES = (
    (13, 24, 41),    # road: road, lane marking (general), manhole
    (2, 15),         # sidewalk: curb, sidewalk
    (17,),           # building
    (6,),            # wall
    (3,),            # fence
    (45, 47),        # pole: pole, utility pole
    (48,),           # traffic light
    (50,),           # traffic sign: traffic sign (front)
    (30,),           # vegetation
    (29,),           # terrain
    (27,),           # sky
    (19,),           # person
    (20, 21, 22),    # rider: bicyclist, motorcyclist, other rider
    (55,),           # car
    (61,),           # truck
    (54,),           # bus
    (58,),           # train: on rails
    (57,),           # motorcycle
    (52,),           # bicycle
)
MAPILLARY_V12_CLASSES = 66


@TRANSFORMS.register_module()
class MapillaryToCityscapesLabels(BaseTransform):
    """Relabel a Mapillary Vistas v1.2 label map (class ids 0-65) with the 19 Cityscapes train ids
    (MAPILLARY_V12_TO_CITYSCAPES), every other class ``ignore_index``; place it after
    ``LoadAnnotations`` (and a ``CheckSegLabels(num_classes=66)`` that rejects ids above 65).

    Args:
        ignore_index: the label of every Mapillary class without a Cityscapes train id.
    """

    def __init__(self, ignore_index=255):
        self.ignore_index = ignore_index
        self.table = np.full(256, ignore_index, np.uint8)
        for train_id, mapillary_ids in enumerate(MAPILLARY_V12_TO_CITYSCAPES):
            self.table[list(mapillary_ids)] = train_id

    def transform(self, results):
        if 'gt_seg_map' in results:  # inference pipelines load no labels
            results['gt_seg_map'] = self.table[results['gt_seg_map']]
        return results

    def __repr__(self):
        return f'{type(self).__name__}(ignore_index={self.ignore_index})'
