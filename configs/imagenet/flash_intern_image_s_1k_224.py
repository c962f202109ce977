# FlashInternImage-S, ImageNet-1K, 224x224: top-1 84.4 published, 50M parameters.
# As T, with drop path 0.4, layer scale 1e-5, post-norm and the 3x3 depthwise convolution feeding the offsets.
_base_ = ['./flash_intern_image_t_1k_224.py']

model = dict(
    backbone=dict(channels=80, depths=[4, 4, 21, 4], groups=[5, 10, 20, 40], post_norm=True, layer_scale=1e-5,
                  dw_kernel_size=3, drop_path_rate=0.4),
    head=dict(in_channels=640))
