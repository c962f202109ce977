# InternImage-T, ImageNet-1K, 224x224: top-1 83.5 published (configs/imagenet/README.md).
# Recipe, as published: AdamW lr 5e-4 for a total batch of 512 (8 GPUs x 64), wd 0.05, cosine with
# 20 warm-up epochs of 300, grad clip 5.0, label smoothing 0.1, RandAugment, random erasing 0.25,
# mixup 0.8, cutmix 1.0, EMA 0.9999, drop path 0.1.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmcls_custom'], allow_failed_imports=False)

model = dict(
    type='InternImageClassifier',
    backbone=dict(
        type='InternImage', core_op='DCNv3', channels=64, depths=[4, 4, 18, 4], groups=[4, 8, 16, 32],
        mlp_ratio=4.0, offset_scale=1.0, post_norm=False, layer_scale=None, drop_path_rate=0.1,
        out_indices=(3, )),
    neck=None,
    head=dict(
        type='InternImageClsHead', in_channels=512, num_classes=1000, cls_scale=1.5,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'), topk=(1, 5)),
    init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    ],
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)

optim_wrapper = dict(optimizer=dict(lr=5e-4), clip_grad=dict(max_norm=5.0))
custom_hooks = [
    dict(type='PublishedCheckpointHook', priority='VERY_HIGH'),  # published weights live under 'model'
    dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL'),
]
# The learning rate above is for a total batch of 512; --auto-scale-lr rescales it.
auto_scale_lr = dict(base_batch_size=512)
