# The published UPerNet + InternImage-S recipe without its data: as T, with drop path 0.3, post-norm and
# layer-wise decay over 33 layers.
_base_ = ['./upernet_internimage_t.py']

pretrained = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/internimage_s_1k_224.pth'
model = dict(
    backbone=dict(channels=80, depths=[4, 4, 21, 4], groups=[5, 10, 20, 40], drop_path_rate=0.3, post_norm=True,
                  init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(in_channels=[80, 160, 320, 640]),
    auxiliary_head=dict(in_channels=320))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=33, depths=[4, 4, 21, 4]))
