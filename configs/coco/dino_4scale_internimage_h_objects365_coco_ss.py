# DINO (4 feature levels) with InternImage-H, fine-tuned on COCO from the published Objects365 detector:
# box mAP 63.4 published, 1098.73M parameters (published layout). As the DINO-T config, with the H
# backbone (drop path 0.5, gradient checkpointing), 20k iterations of one image per GPU (AdamW lr 1e-4,
# wd 1e-4, layer-wise decay over 50 layers at 0.94 with offset lr scale 0.001, clipping at 0.1, 500
# warm-up iterations, no step), 1000 denoising queries, training images resized to a long side of 2000
# and a random short side of 600..1800 after a random flip, testing at (2000, 1000), 300 detections per
# image; evaluation and a checkpoint every 200 iterations.
_base_ = ['./dino_4scale_internimage_t_1x_coco_layer_wise_lr.py']

model = dict(
    backbone=dict(
        _delete_=True, type='InternImage', core_op='DCNv3', channels=320, depths=[6, 6, 32, 6],
        groups=[10, 20, 40, 80], mlp_ratio=4., drop_path_rate=0.5, norm_layer='LN', layer_scale=None,
        offset_scale=1.0, post_norm=False, dw_kernel_size=5, res_post_norm=True, level2_post_norm=True,
        level2_post_norm_block_ids=[5, 11, 17, 23, 29], center_feature_scale=True, with_cp=True,
        out_indices=(1, 2, 3), init_cfg=None),
    neck=dict(in_channels=[640, 1280, 2560]),
    dn_cfg=dict(group_cfg=dict(num_dn_queries=1000)),
    test_cfg=dict(max_per_img=300))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=[(2000, 600), (2000, 1800)], keep_ratio=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2000, 1000), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(batch_size=1, sampler=dict(type='InfiniteSampler'), dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(paramwise_cfg=dict(num_layers=50, layer_decay_rate=0.94, depths=[6, 6, 32, 6],
                                        offset_lr_scale=0.001))
max_iters = 20000
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False, milestones=[], gamma=0.1),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=200)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=200, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(base_batch_size=8)
