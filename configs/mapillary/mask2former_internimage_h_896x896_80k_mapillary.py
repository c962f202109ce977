# Mask2Former with InternImage-H, Mapillary Vistas v1.2 pre-training for Cityscapes, 896x896, 80k
# iterations: the published 256-channel Mask2Former-H recipe (configs/_base_/models/mask2former_internimage_h.py,
# 19 classes) on Mapillary training + validation relabelled to the 19 Cityscapes classes, resized to
# (2048, 1024) x 0.5-2.0, 896 crops; validated on Cityscapes val at (2048, 1024) (resized to a multiple of
# 32) with 896 sliding windows, stride 512. Initialises the mapillary2cityscapes Mask2Former-H.
_base_ = ['../_base_/models/mask2former_internimage_h.py']

crop_size = (896, 896)
model = dict(data_preprocessor=dict(size=crop_size),
             test_cfg=dict(mode='slide', crop_size=crop_size, stride=(512, 512)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=66),  # Mapillary v1.2 ids, before relabelling
    dict(type='MapillaryToCityscapesLabels'),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=19),
    dict(type='PackSegInputs'),
]
mapillary = dict(type='MapillaryDataset_v1', data_root='data/mapillary/', pipeline=train_pipeline)
train_dataloader = dict(dataset=dict(_delete_=True, type='ConcatDataset', datasets=[
    dict(**mapillary, data_prefix=dict(img_path='training/images', seg_map_path='training/v1.2/labels')),
    dict(**mapillary, data_prefix=dict(img_path='validation/images', seg_map_path='validation/v1.2/labels')),
]))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
