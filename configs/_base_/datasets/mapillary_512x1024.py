# The published Mapillary pre-training data for Cityscapes: mmseg's Mapillary Vistas v1.2 layout
# (data/mapillary/{training,validation}/images/*.jpg with v1.2/labels/*.png, 66 classes), training AND
# validation images both trained on, each label map relabelled to the 19 Cityscapes classes
# (MapillaryToCityscapesLabels; the other 47 classes ignored); resized to (2048, 1024) x 0.5-1.0, 512x1024
# crops, 2 images per GPU. Validation and test on Cityscapes val (./cityscapes_512x1024.py), which is what
# the published models are measured on.
_base_ = ['./cityscapes_512x1024.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=66),  # Mapillary v1.2 ids, before relabelling
    dict(type='MapillaryToCityscapesLabels'),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 1.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(512, 1024), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
mapillary = dict(type='MapillaryDataset_v1', data_root='data/mapillary/', pipeline=train_pipeline)
train_dataloader = dict(dataset=dict(_delete_=True, type='ConcatDataset', datasets=[
    dict(**mapillary, data_prefix=dict(img_path='training/images', seg_map_path='training/v1.2/labels')),
    dict(**mapillary, data_prefix=dict(img_path='validation/images', seg_map_path='validation/v1.2/labels')),
]))
