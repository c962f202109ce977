# A tiny InternImage Mask R-CNN trained from scratch on the embedded shapes dataset
# (tools/misc/make_shapes_dataset.py; `make demo` writes it to data/shapes). Same model code, config
# inheritance and tools as the COCO configs, sized for a 2-core CPU: 128x128 images, 3 classes.
# Recipe: 2 processes x 8 images (`make demo` runs tools/dist_train.sh CONFIG 2, over gloo on CPUs).
# Batches of 16 for 800-900 iterations reached bbox mAP 0.73 where batches of 8 for 1000 reached 0.69-0.70.
_base_ = ['../coco/mask_rcnn_internimage_t_fpn_1x_coco.py']

data_root = 'data/shapes/coco/'
classes = ('circle', 'square', 'triangle')
image_size = (128, 128)

# Narrow heads (32 channels): about as accurate here as 64 (wider was worse) and ~30% faster per iteration on a CPU,
# where RoIAlign and the head convolutions dominate the cost.
model = dict(
    backbone=dict(channels=32, depths=[1, 1, 3, 1], groups=[2, 4, 8, 16], drop_path_rate=0.0, init_cfg=None),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=32),
    rpn_head=dict(in_channels=32, feat_channels=32,
                  anchor_generator=dict(scales=[4], ratios=[0.5, 1.0, 2.0], strides=[4, 8, 16, 32, 64])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=32, roi_layer=dict(sampling_ratio=2)),
        # GIoU on decoded boxes: the boxes of rotated squares and triangles hinge on their corners.
        bbox_head=dict(in_channels=32, fc_out_channels=256, num_classes=len(classes), reg_decoded_bbox=True,
                       loss_bbox=dict(_delete_=True, type='GIoULoss', loss_weight=10.0)),
        mask_roi_extractor=dict(out_channels=32),
        mask_head=dict(in_channels=32, conv_out_channels=32, num_convs=2, num_classes=len(classes))),
    # Few objects per image: far fewer proposals and RoI samples than COCO needs; half of the sampled
    # RoIs positive, so that box regression gets more examples per iteration.
    train_cfg=dict(rpn_proposal=dict(nms_pre=200, max_per_img=100),
                   rcnn=dict(sampler=dict(num=32, pos_fraction=0.5))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=100), rcnn=dict(max_per_img=100)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# Training data loads in the training process: on 2 cores, worker processes only compete with it.
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=dict(classes=classes), ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='train/'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True,
    dataset=dict(data_root=data_root, metainfo=dict(classes=classes), ann_file='annotations/instances_val.json',
                 data_prefix=dict(img='val/'), pipeline=test_pipeline))
test_dataloader = val_dataloader
# mmdet's COCO metric, each class's box and mask AP returned too (tools/demo.py --seeds reports them).
val_evaluator = dict(type='ClassAPCocoMetric', ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

max_iters = 850
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=2e-3), paramwise_cfg=dict(num_layers=6, depths=[1, 1, 3, 1]))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters, eta_min=1e-5),
]
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(by_epoch=False, interval=max_iters))
log_processor = dict(by_epoch=False)
# A fixed seed (initialisation, data order, augmentation; every rank draws the same): with the
# data loaded in the training process and a fixed thread count, two runs give the same model.
randomness = dict(seed=0)
auto_scale_lr = dict(base_batch_size=16)
