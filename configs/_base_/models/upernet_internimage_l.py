# The published UPerNet + InternImage-L recipe without its data: as T, with the L backbone (offset scale
# 2.0, post-norm, drop path 0.4) from the published ImageNet-22K 384 weights, AdamW lr 2e-5, layer-wise
# decay (37 layers, rate 0.94, offset lr x1.0) and gradient clipping 0.1.
_base_ = ['./upernet_internimage_t.py']

pretrained = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/internimage_l_22k_192to384.pth'
model = dict(
    backbone=dict(channels=160, depths=[5, 5, 22, 5], groups=[10, 20, 40, 80], drop_path_rate=0.4,
                  offset_scale=2.0, post_norm=True, init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(in_channels=[160, 320, 640, 1280]),
    auxiliary_head=dict(in_channels=640))
optim_wrapper = dict(
    optimizer=dict(lr=2e-5), clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(num_layers=37, layer_decay_rate=0.94, depths=[5, 5, 22, 5], offset_lr_scale=1.0))
