# Mask2Former with InternImage-H, COCO-Stuff-164k (171 classes), 896x896, 80k iterations: mIoU 52.6 / 52.8
# (single / multi-scale) published; the checkpoint that initialises the ADE20K and COCO-Stuff-10k
# Mask2Former-H. The published 1024-channel Mask2Former-H recipe of ADE20K
# (configs/ade20k/mask2former_internimage_h_896_80k_cocostuff2ade20k_ss.py: 1024 channels, 200 queries,
# layer-wise decay 50 / 0.95, poly schedule, one image per GPU) with 171 classes, no gradient clipping (as
# published), the backbone from the published joint-to-ImageNet-22K 384 weights, lr 2e-5, validation every
# 8000 iterations, on mmseg's COCO-Stuff-164k (data/coco_stuff164k: images/{train,val}2017,
# annotations/*_labelTrainIds.png from mmseg's converter) resized to (3584, 896) x 0.5-2.0, 896 crops.
_base_ = ['../ade20k/mask2former_internimage_h_896_80k_cocostuff2ade20k_ss.py']

num_classes = 171
crop_size = (896, 896)
pretrained = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/internimage_h_jointto22k_384.pth'
load_from = None
model = dict(
    backbone=dict(init_cfg=dict(_delete_=True, type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(num_classes=num_classes, loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='RandomResize', scale=(3584, 896), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(3584, 896), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='PackSegInputs'),
]
stuff = dict(type='COCOStuffDataset', data_root='data/coco_stuff164k')
train_dataloader = dict(dataset=dict(
    _delete_=True, **stuff, data_prefix=dict(img_path='images/train2017', seg_map_path='annotations/train2017'),
    pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(
    _delete_=True, **stuff, data_prefix=dict(img_path='images/val2017', seg_map_path='annotations/val2017'),
    pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=2e-5), clip_grad=None)  # as published: no gradient clipping here
train_cfg = dict(val_interval=8000)
