# InternImage-S, ImageNet-1K, 224x224: top-1 84.2 published. As T, with drop path 0.4,
# layer scale 1e-5 and post-norm.
_base_ = ['./internimage_t_1k_224.py']

model = dict(
    backbone=dict(channels=80, depths=[4, 4, 21, 4], groups=[5, 10, 20, 40], post_norm=True, layer_scale=1e-5,
                  drop_path_rate=0.4),
    head=dict(in_channels=640))
