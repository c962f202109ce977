# mmseg's Cityscapes data (19 classes, data/cityscapes: leftImg8bit/ and gtFine/ with the
# *_gtFine_labelTrainIds.png maps that mmseg's tools/dataset_converters/cityscapes.py writes), 2 images per
# GPU, 512x1024 crops of images resized to (2048, 1024) x 0.5-2.0, whole-image testing at (2048, 1024);
# label maps checked as they load. A config pairs it with a model recipe (configs/_base_/models/) and
# sets ``model.data_preprocessor.size`` to the crop.
_base_ = ['mmseg::_base_/datasets/cityscapes.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=19),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(512, 1024), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=19),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))  # 2 images x 8 GPUs
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
