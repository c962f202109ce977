# DINO (4 feature levels) with InternImage-L, COCO 12 epochs, the backbone at 0.1x the learning rate
# instead of layer-wise decay, 241.03M parameters. As the layer-wise L config, with
# AdamW lr 1e-4 and weight decay 0.05, the backbone's parameters at lr x0.1.
_base_ = ['./dino_4scale_internimage_l_1x_coco_layer_wise_lr.py']

optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(custom_keys=dict(backbone=dict(lr_mult=0.1))))
