# Cascade Mask R-CNN with InternImage-L, COCO 1x: box mAP 54.9 / mask mAP 47.7 published, 277.31M parameters.
# mmdet's Cascade Mask R-CNN with the published box heads (./_base_/cascade_box_heads.py).
# AdamW lr 1e-4 (wd 0.05) for 16 images, layer-wise decay (37 layers, rate 0.94), 12 epochs with steps at
# 8 and 11; the backbone starts from the published ImageNet-22K weights (384).
_base_ = ['mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py', './_base_/cascade_box_heads.py']
custom_imports = dict(imports=['mmdet_custom'], allow_failed_imports=False)

pretrained = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/internimage_l_22k_192to384.pth'
model = dict(
    backbone=dict(
        _delete_=True, type='InternImage', core_op='DCNv3', channels=160, depths=[5, 5, 22, 5],
        groups=[10, 20, 40, 80], mlp_ratio=4., drop_path_rate=0.4, norm_layer='LN', layer_scale=1.0,
        offset_scale=2.0, post_norm=True, with_cp=False, out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[160, 320, 640, 1280]),
    roi_head=dict(bbox_head={{_base_.cascade_box_heads}}))
val_evaluator = dict(classwise=True)
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3, save_last=True, save_best='auto'))

optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='CustomLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(num_layers=37, layer_decay_rate=0.94, depths=[5, 5, 22, 5]))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
