# DINO (4 feature levels) with FlashInternImage-L, COCO 12 epochs: box mAP 58.8 published, 241.00M parameters.
# As B, with the L backbone (drop path 0.4, offset scale 2.0, DCN output and MLP fc2 biases) from the
# published ImageNet-22K weights (384), 2 images per GPU, and instead of layer-wise decay AdamW lr 1e-4,
# weight decay 0.05 with the backbone at lr x0.1.
_base_ = ['./dino_4scale_flash_internimage_b_1x_coco.py']

pretrained = 'https://huggingface.co/OpenGVLab/DCNv4/resolve/main/flash_intern_image_l_22k_384.pth'
model = dict(
    backbone=dict(channels=160, depths=[5, 5, 22, 5], groups=[10, 20, 40, 80], drop_path_rate=0.4,
                  offset_scale=2.0, dcn_output_bias=True, mlp_fc2_bias=True, init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[320, 640, 1280]))
train_dataloader = dict(batch_size=2)
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(custom_keys=dict(backbone=dict(lr_mult=0.1))))
