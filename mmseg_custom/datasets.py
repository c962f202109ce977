"""The 40-class semantic segmentation of NYU Depth V2 that the published InternImage reports (mmseg 1's
``NYUDataset`` is the depth-estimation task of the same images): images ``image/<name>.png``, label maps
``label40/<name>.png`` (0 unlabelled, 1-40 the classes), the split as a list of names (``train.txt``,
``test.txt``)."""
import os.path as osp

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS


@DATASETS.register_module()
class NYUDepthV2Dataset(BaseSegDataset):
    """NYU Depth V2, 40 semantic classes (label 0, unlabelled, ignored: ``reduce_zero_label``).

    Args:
        img_suffix, seg_map_suffix: file name endings of images and label maps.
        reduce_zero_label: label 0 becomes ignored and every other label one less.
        **kwargs: mmseg's ``BaseSegDataset`` arguments (``data_root``, ``data_prefix``, ``pipeline``, ...).
    """

    METAINFO = dict(
        classes=('wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door', 'window', 'bookshelf',
                 'picture', 'counter', 'blinds', 'desk', 'shelves', 'curtain', 'dresser', 'pillow', 'mirror',
                 'floor mat', 'clothes', 'ceiling', 'books', 'refridgerator', 'television', 'paper', 'towel',
                 'shower curtain', 'box', 'whiteboard', 'person', 'night stand', 'toilet', 'sink', 'lamp',
                 'bathtub', 'bag', 'otherstructure', 'otherfurniture', 'otherprop'),
        palette=[[120, 120, 120], [180, 120, 120], [6, 230, 230], [80, 50, 50], [4, 200, 3], [120, 120, 80],
                 [140, 140, 140], [204, 5, 255], [230, 230, 230], [4, 250, 7], [224, 5, 255], [235, 255, 7],
                 [150, 5, 61], [120, 120, 70], [8, 255, 51], [255, 6, 82], [143, 255, 140], [204, 255, 4],
                 [255, 51, 7], [204, 70, 3], [0, 102, 200], [61, 230, 250], [255, 6, 51], [11, 102, 255],
                 [255, 7, 71], [255, 9, 224], [9, 7, 230], [220, 220, 220], [255, 9, 92], [112, 9, 255],
                 [8, 255, 214], [7, 255, 224], [255, 184, 6], [10, 255, 71], [255, 41, 10], [7, 255, 255],
                 [224, 255, 8], [102, 8, 255], [255, 61, 6], [255, 194, 7]])

    def __init__(self, img_suffix='.png', seg_map_suffix='.png', reduce_zero_label=True, **kwargs):
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)

    def load_data_list(self):
        # mmseg asserts on a missing split file; name it the way a missing folder is named.
        if self.ann_file and not osp.isfile(self.ann_file):
            raise FileNotFoundError(2, 'split file (one image name per line) not found', self.ann_file)
        return super().load_data_list()
