# Mask R-CNN with InternImage-T, COCO 1x: box mAP 47.2 / mask mAP 42.5 published, 49M parameters.
# AdamW lr 1e-4 (wd 0.05) for 16 images (8 GPUs x 2), layer-wise decay (30 layers, rate 1.0), 12 epochs
# with steps at 8 and 11 after a 500-iteration linear warm-up; the backbone starts from the
# published ImageNet-1K weights.
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py']
custom_imports = dict(imports=['mmdet_custom'], allow_failed_imports=False)

pretrained = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/internimage_t_1k_224.pth'
model = dict(
    backbone=dict(
        _delete_=True, type='InternImage', core_op='DCNv3', channels=64, depths=[4, 4, 18, 4],
        groups=[4, 8, 16, 32], mlp_ratio=4., drop_path_rate=0.2, norm_layer='LN', layer_scale=1.0,
        offset_scale=1.0, post_norm=False, with_cp=False, out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[64, 128, 256, 512]))
val_evaluator = dict(classwise=True)
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3, save_last=True, save_best='auto'))

optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='CustomLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(num_layers=30, layer_decay_rate=1.0, depths=[4, 4, 18, 4]))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
