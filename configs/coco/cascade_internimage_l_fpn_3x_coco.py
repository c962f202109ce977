# Cascade Mask R-CNN with InternImage-L, COCO 3x: box mAP 56.1 / mask mAP 48.5 published.
# As 1x, with lr 2e-4, layer decay 0.90 and DCNv3 offset/mask lr x0.01, the DETR-style multi-scale
# augmentation and 36 epochs, steps at 27 and 33.
_base_ = ['./cascade_internimage_l_fpn_1x_coco.py', './_base_/detr_ms_crop_aug.py']

train_dataloader = dict(dataset=dict(pipeline={{_base_.detr_ms_crop_train_pipeline}}))
optim_wrapper = dict(optimizer=dict(lr=2e-4), paramwise_cfg=dict(layer_decay_rate=0.90, offset_lr_scale=0.01))
train_cfg = dict(max_epochs=36)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=36, by_epoch=True, milestones=[27, 33], gamma=0.1),
]
# An exponential moving average of the weights (momentum 1e-4, warmed up over 2000 iterations).
custom_hooks = [dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0001, gamma=2000, priority=49)]
