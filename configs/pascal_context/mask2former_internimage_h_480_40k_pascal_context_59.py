# Mask2Former with InternImage-H, Pascal Context (59 classes), 480x480, 40k iterations: mIoU 69.7 / 70.3
# (single / multi-scale) published. The published
# 256-channel Mask2Former-H recipe (configs/_base_/models/mask2former_internimage_h.py) with 59 classes on
# mmseg's PascalContextDataset59 (data/VOCdevkit/VOC2010: JPEGImages, SegmentationClassContext written by
# mmseg's converter, ImageSets/SegmentationContext/{train,val}.txt), one image per GPU resized to (520,
# 520) x 0.5-2.0 with 480 crops, whole-image testing at (4096, 520) resized to a multiple of 32.
_base_ = ['../_base_/models/mask2former_internimage_h.py']

num_classes = 59
crop_size = (480, 480)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=num_classes, loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='RandomResize', scale=(520, 520), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(4096, 520), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='PackSegInputs'),
]
context = dict(type='PascalContextDataset59', data_root='data/VOCdevkit/VOC2010/',
               data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext'))
train_dataloader = dict(batch_size=1, dataset=dict(
    _delete_=True, **context, ann_file='ImageSets/SegmentationContext/train.txt', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(
    _delete_=True, **context, ann_file='ImageSets/SegmentationContext/val.txt', pipeline=test_pipeline))
test_dataloader = val_dataloader
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=0, end=40000),
]
train_cfg = dict(max_iters=40000)
optim_wrapper = dict(clip_grad=None)  # as published: no gradient clipping on this dataset
