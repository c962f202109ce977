# InternImage-L, ImageNet-22K pre-trained, fine-tuned on ImageNet-1K at 384x384: top-1 87.7 published.
# Fine-tuning recipe, as published: 20 epochs (2 warm-up), AdamW lr 2e-5 for a total batch of 512,
# layer-wise decay 0.9 with DCNv3 offset lr x0.1, label smoothing 0.3, no mixup/cutmix/erasing,
# EMA, gradient checkpointing, drop path 0.1.
_base_ = ['./internimage_t_1k_224.py']

model = dict(
    backbone=dict(channels=160, depths=[5, 5, 22, 5], groups=[10, 20, 40, 80], offset_scale=2.0,
                  post_norm=True, layer_scale=1e-5, drop_path_rate=0.1, with_cp=True),
    head=dict(in_channels=1280, loss=dict(type='LabelSmoothLoss', label_smooth_val=0.3, mode='original')),
    train_cfg=None)

bgr_mean = [103.53, 116.28, 123.675]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=384, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10, magnitude_level=9,
         magnitude_std=0.5, hparams=dict(pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=int(384 / 0.875), edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=384),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(lr=2e-5),
    constructor='CustomLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(_delete_=True, num_layers=37, layer_decay_rate=0.9, depths=[5, 5, 22, 5],
                       offset_lr_scale=0.1))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=2, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-7, by_epoch=True, begin=2, end=20),
]
train_cfg = dict(max_epochs=20)
