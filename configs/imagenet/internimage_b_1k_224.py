# InternImage-B, ImageNet-1K, 224x224: top-1 84.9 published. As T, with drop path 0.5,
# layer scale 1e-5 and post-norm.
_base_ = ['./internimage_t_1k_224.py']

model = dict(
    backbone=dict(channels=112, depths=[4, 4, 21, 4], groups=[7, 14, 28, 56], post_norm=True, layer_scale=1e-5,
                  drop_path_rate=0.5),
    head=dict(in_channels=896))
