# Mask2Former with InternImage-H, Cityscapes 1024x1024 after Mapillary pre-training, 80k iterations: mIoU
# 86.37 / 86.96 (single / multi-scale) published. The
# published 256-channel Mask2Former-H recipe (configs/_base_/models/mask2former_internimage_h.py, 19
# classes, lr 1e-5) fine-tuned from the published Mapillary Mask2Former-H (load_from) on Cityscapes train +
# train_extra (refined coarse labels), resized to (2048, 1024) x 0.5-2.0, 1024 crops; validated on
# Cityscapes val at (2048, 1024) (resized to a multiple of 32) with 1024 sliding windows, stride 512.
_base_ = ['../_base_/models/mask2former_internimage_h.py']

crop_size = (1024, 1024)
load_from = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/mask2former_internimage_h_896x896_80k_mapillary.pth'
model = dict(data_preprocessor=dict(size=crop_size), backbone=dict(init_cfg=None),
             test_cfg=dict(mode='slide', crop_size=crop_size, stride=(512, 512)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=19),
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
cityscapes = dict(type='CityscapesDataset', data_root='data/cityscapes/', pipeline=train_pipeline)
train_dataloader = dict(dataset=dict(_delete_=True, type='ConcatDataset', datasets=[
    dict(**cityscapes, data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train')),
    dict(**cityscapes, data_prefix=dict(img_path='leftImg8bit/train_extra',
                                        seg_map_path='refinement_final/train_extra')),
]))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=1e-5))
