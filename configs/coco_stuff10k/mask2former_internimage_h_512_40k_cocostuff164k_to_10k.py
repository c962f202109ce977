# Mask2Former with InternImage-H, COCO-Stuff-10k (171 classes), 512x512, 40k iterations, fine-tuned from the
# published COCO-Stuff-164k Mask2Former-H (load_from): mIoU 59.2 / 59.6 (single / multi-scale) published.
# The 1024-channel recipe of configs/coco_stuff164k/ (lr 1e-5, validation every 2000 iterations) on mmseg's
# COCO-Stuff-10k (data/coco_stuff10k: images/{train,test}2014, annotations from mmseg's converter, label 0
# ignored) resized to (2048, 512) x 0.5-2.0, 512 crops, whole-image testing at (2048, 512).
_base_ = ['../coco_stuff164k/mask2former_internimage_h_896_80k_cocostuff164k.py']

num_classes = 171
crop_size = (512, 512)
load_from = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/mask2former_internimage_h_896_80k_cocostuff164k.pth'
model = dict(data_preprocessor=dict(size=crop_size), backbone=dict(init_cfg=None))
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
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='PackSegInputs'),
]
stuff = dict(type='COCOStuffDataset', data_root='data/coco_stuff10k', reduce_zero_label=True)
train_dataloader = dict(dataset=dict(
    _delete_=True, **stuff, data_prefix=dict(img_path='images/train2014', seg_map_path='annotations/train2014'),
    pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(
    _delete_=True, **stuff, data_prefix=dict(img_path='images/test2014', seg_map_path='annotations/test2014'),
    pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=1e-5))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=0, end=40000),
]
train_cfg = dict(max_iters=40000, val_interval=2000)
