# InternImage-XL, ImageNet-22K -> 1K at 384x384: top-1 88.0 published. As L, with drop path 0.2.
_base_ = ['./internimage_l_22kto1k_384.py']

model = dict(
    backbone=dict(channels=192, depths=[5, 5, 24, 5], groups=[12, 24, 48, 96], drop_path_rate=0.2),
    head=dict(in_channels=1536))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=39, depths=[5, 5, 24, 5]))
