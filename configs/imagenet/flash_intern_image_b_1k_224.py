# FlashInternImage-B, ImageNet-1K, 224x224: top-1 84.9 published, 97M parameters.
# As S, with drop path 0.5 and offset scale 0.5.
_base_ = ['./flash_intern_image_s_1k_224.py']

model = dict(
    backbone=dict(channels=112, groups=[7, 14, 28, 56], offset_scale=0.5, drop_path_rate=0.5),
    head=dict(in_channels=896))
