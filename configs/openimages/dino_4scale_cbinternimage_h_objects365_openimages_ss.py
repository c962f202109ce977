# DINO with CB-InternImage-H on Open Images V6 (601 box classes), fine-tuned from the published Objects365
# detector: mAP 74.1 single-scale published (validation, Open Images' own AP at IoU 0.5 with group-of boxes
# and the class hierarchy), 2,179,628,779 parameters (published layout). The COCO CB-DINO-H recipe
# (../coco/dino_4scale_cbinternimage_h_objects365_coco_ss.py) for 100k iterations of one image per GPU on
# mmdet's Open Images data (as mmdet's _base_/datasets/openimages_detection.py), images resized to a long
# side of 2000 and a random short side of 600..1200 after a random flip, testing at (2000, 1000);
# OpenImagesMetric every 2000 iterations. mmdet 3 reads each image's size from a metas file, for training
# too: make data/OpenImages/annotations/{train,validation}-image-metas.pkl with mmdet's
# tools/misc/get_image_metas.py (configs/openimages/README.md). The published
# ``data.train_dataloader.class_aware_sampler`` is dropped: mmdet 2 ignores it under an iteration-based
# runner (the published training sampled images uniformly, as here); so is ``train_cfg.snip_cfg``, which no
# published code reads.
_base_ = ['../coco/dino_4scale_cbinternimage_h_objects365_coco_ss.py']

model = dict(bbox_head=dict(num_classes=601))

data_root = 'data/OpenImages/'
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
    # OpenImagesMetric reads the ground truth (with its group-of flags) and image-level labels from the metas
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                                          'instances', 'image_level_labels')),
]
classes = dict(label_file='annotations/class-descriptions-boxable.csv',
               hierarchy_file='annotations/bbox_labels_600_hierarchy.json')
train_dataloader = dict(dataset=dict(
    _delete_=True, type='OpenImagesDataset', data_root=data_root, **classes,
    ann_file='annotations/oidv6-train-annotations-bbox.csv', data_prefix=dict(img='train/'),
    meta_file='annotations/train-image-metas.pkl', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(
    _delete_=True, type='OpenImagesDataset', data_root=data_root, **classes,
    ann_file='annotations/validation-annotations-bbox.csv', data_prefix=dict(img='validation/'),
    meta_file='annotations/validation-image-metas.pkl',
    image_level_ann_file='annotations/validation-annotations-human-imagelabels-boxable.csv',
    test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='OpenImagesMetric', iou_thrs=0.5, ioa_thrs=0.5, use_group_of=True,
                     get_supercategory=True)
test_evaluator = val_evaluator

max_iters = 100000
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False, milestones=[], gamma=0.1),
]
train_cfg = dict(max_iters=max_iters, val_interval=2000)
# The published save_best='auto', with the key named: mmengine cannot infer a rule for OpenImagesMetric's
# first figure (openimages/AP50); the best openimages/mAP (the mean over IoU thresholds; one here) is kept.
default_hooks = dict(checkpoint=dict(interval=2000, max_keep_ckpts=3, save_best='openimages/mAP', rule='greater'))
# tools/test.py --tta: the COCO CB-DINO-H views (scales ours), packed with what OpenImagesMetric reads.
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale=scale, keep_ratio=True) for scale in [(2000, 800), (2000, 1000), (2000, 1200)]],
        [dict(type='RandomFlip', prob=1.0), dict(type='RandomFlip', prob=0.0)],
        [dict(type='LoadAnnotations', with_bbox=True)],
        [dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                                               'flip_direction', 'instances', 'image_level_labels'))],
    ]),
]
