# The published UPerNet + InternImage-T recipe without its data (the same for ADE20K 512 and Cityscapes
# 512x1024): mmseg's UPerNet with the InternImage-T backbone from the published ImageNet-1K weights and
# 150-class heads (the published Cityscapes configs kept ADE20K's 150); AdamW lr 6e-5 (wd 0.05) for 16
# images (8 GPUs x 2), layer-wise decay (30 layers, rate 1.0), poly decay (power 1.0, to 0) from
# iteration 0 under a 1500-iteration linear warm-up (as mmcv 1's poly policy with warm-up), 160k
# iterations, whole-image inference. A config adds a dataset (configs/_base_/datasets/) and its crop size.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py', 'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['mmseg_custom'], allow_failed_imports=False)

pretrained = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/internimage_t_1k_224.pth'
model = dict(
    backbone=dict(
        _delete_=True, type='InternImage', core_op='DCNv3', channels=64, depths=[4, 4, 18, 4],
        groups=[4, 8, 16, 32], mlp_ratio=4., drop_path_rate=0.2, norm_layer='LN', layer_scale=1.0,
        offset_scale=1.0, post_norm=False, with_cp=False, out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(in_channels=[64, 128, 256, 512], num_classes=150),
    auxiliary_head=dict(in_channels=256, num_classes=150),
    test_cfg=dict(mode='whole'))

optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='CustomLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(num_layers=30, layer_decay_rate=1.0, depths=[4, 4, 18, 4]))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=0, end=160000),
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=1000, max_keep_ckpts=1, save_best='mIoU'))
