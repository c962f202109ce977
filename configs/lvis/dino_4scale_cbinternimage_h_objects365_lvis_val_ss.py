# DINO with CB-InternImage-H on LVIS v1 (1203 classes), fine-tuned from the published Objects365 detector:
# box AP 62.3 / 63.2 (val, single / multi-scale) published, 2,180,865,889 parameters (published layout).
# The COCO CB-DINO-H recipe (../coco/dino_4scale_cbinternimage_h_objects365_coco_ss.py: AdamW lr 1e-4,
# layer-wise decay 50 / 0.94, clipping 0.1, 1000 denoising queries, 300 detections) for 80k iterations of
# one image per GPU on mmdet's LVIS v1 data (as mmdet's _base_/datasets/lvis_v1_instance.py, boxes only):
# the training set repeated per image by class frequency (ClassBalancedDataset, oversample_thr 1e-3),
# images resized to a long side of 2000 and a random short side of 600..1200 after a random flip, testing
# at (2000, 1000); LVISMetric on boxes with per-class AP, every 500 iterations. The published
# ``train_cfg.snip_cfg`` / ``fed_loss_cfg`` are dropped: no published code reads them.
_base_ = ['../coco/dino_4scale_cbinternimage_h_objects365_coco_ss.py']

model = dict(bbox_head=dict(num_classes=1203))

data_root = 'data/lvis_v1/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=[(2000, 600), (2000, 1200)], keep_ratio=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2000, 1000), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# LVIS v1's images are COCO 2017's: file names in the annotations are train2017/... or val2017/...
train_dataloader = dict(dataset=dict(
    _delete_=True, type='ClassBalancedDataset', oversample_thr=1e-3,
    dataset=dict(type='LVISV1Dataset', data_root=data_root, ann_file='annotations/lvis_v1_train.json',
                 data_prefix=dict(img=''), filter_cfg=dict(filter_empty_gt=True, min_size=32),
                 pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(
    _delete_=True, type='LVISV1Dataset', data_root=data_root, ann_file='annotations/lvis_v1_val.json',
    data_prefix=dict(img=''), test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='LVISMetric', ann_file=data_root + 'annotations/lvis_v1_val.json',
                     metric=['bbox'], classwise=True)
test_evaluator = val_evaluator

max_iters = 80000
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False, milestones=[], gamma=0.1),
]
train_cfg = dict(max_iters=max_iters, val_interval=500)
default_hooks = dict(checkpoint=dict(interval=500, max_keep_ckpts=10, save_best=None))
