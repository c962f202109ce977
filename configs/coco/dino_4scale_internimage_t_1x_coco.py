# DINO (4 feature levels, mmdet's own) with InternImage-T, COCO 12 epochs.
# AdamW lr 1e-4, wd 1e-4 for 16 images, layer-wise decay (30 layers, rate 0.9), gradient clipping at 0.1,
# step at epoch 11, gradient checkpointing in the backbone, 100 detections per image at test;
# the DETR-style multi-scale augmentation of mmdet's DINO config (stock).
_base_ = ['mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py']
custom_imports = dict(imports=['mmdet_custom'], allow_failed_imports=False)

pretrained = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/internimage_t_1k_224.pth'
model = dict(
    backbone=dict(
        _delete_=True, type='InternImage', core_op='DCNv3', channels=64, depths=[4, 4, 18, 4],
        groups=[4, 8, 16, 32], mlp_ratio=4., drop_path_rate=0.2, norm_layer='LN', layer_scale=1.0,
        offset_scale=1.0, post_norm=False, with_cp=True, out_indices=(1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[128, 256, 512]),
    test_cfg=dict(max_per_img=100))

optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    constructor='CustomLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(num_layers=30, layer_decay_rate=0.9, depths=[4, 4, 18, 4]))
