# DINO (4 feature levels) with InternImage-T, COCO 12 epochs, 48.74M parameters (published layout).
# mmdet's DINO as the published detector computes it (PublishedDINO / PublishedDINOHead: the published
# checkpoints load as they are; references' inverse sigmoid with eps 1e-3). AdamW lr 1e-4, wd 1e-4 for
# 16 images, layer-wise decay (30 layers, rate 0.9), gradient clipping at 0.1, 500-iteration warm-up,
# step at epoch 11, gradient checkpointing in the backbone, 100 detections per image at test; the
# DETR-style multi-scale augmentation (crops keep a box), images padded to a multiple of 32.
_base_ = ['mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py', './_base_/detr_ms_crop_aug.py']
custom_imports = dict(imports=['mmdet_custom'], allow_failed_imports=False)

pretrained = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/internimage_t_1k_224.pth'
model = dict(
    type='PublishedDINO',
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(
        _delete_=True, type='InternImage', core_op='DCNv3', channels=64, depths=[4, 4, 18, 4],
        groups=[4, 8, 16, 32], mlp_ratio=4., drop_path_rate=0.2, norm_layer='LN', layer_scale=1.0,
        offset_scale=1.0, post_norm=False, with_cp=True, out_indices=(1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[128, 256, 512]),
    bbox_head=dict(type='PublishedDINOHead'),
    test_cfg=dict(max_per_img=100))

train_dataloader = dict(dataset=dict(filter_cfg=dict(filter_empty_gt=True, min_size=32),
                                     pipeline={{_base_.dino_ms_crop_train_pipeline}}))
val_evaluator = dict(classwise=True)
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3, save_last=True, save_best='auto'))

optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    constructor='CustomLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(num_layers=30, layer_decay_rate=0.9, depths=[4, 4, 18, 4]))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[11], gamma=0.1),
]
