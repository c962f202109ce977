# Mask2Former with InternImage-H, NYU Depth V2 40-class semantic segmentation, 480x480, 40k iterations:
# the published 256-channel Mask2Former-H recipe (configs/_base_/models/mask2former_internimage_h.py) with
# 40 classes on mmseg_custom's NYUDepthV2Dataset (data/nyu_depth_v2: image/*.png, label40/*.png, 0
# unlabelled, train.txt / test.txt), one image per GPU resized to (2048, 512) x 0.5-2.0 with 480 crops (as
# published), whole-image testing at (640, 480) resized to a multiple of 32. mIoU 67.1 (ss) / 68.1 (ms).
_base_ = ['../_base_/models/mask2former_internimage_h.py']

num_classes = 40
crop_size = (480, 480)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=num_classes, loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(640, 480), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='PackSegInputs'),
]
nyu = dict(type='NYUDepthV2Dataset', data_root='data/nyu_depth_v2/',
           data_prefix=dict(img_path='image', seg_map_path='label40'))
train_dataloader = dict(batch_size=1, dataset=dict(_delete_=True, **nyu, ann_file='train.txt', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(_delete_=True, **nyu, ann_file='test.txt', pipeline=test_pipeline))
test_dataloader = val_dataloader
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=0, end=40000),
]
train_cfg = dict(max_iters=40000)
optim_wrapper = dict(clip_grad=None)  # as published: no gradient clipping on this dataset
