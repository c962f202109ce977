# The published SegFormer-head + InternImage-XL recipe without its data: the SegFormer-L recipe with the
# XL backbone (models/upernet_internimage_xl.py) and layer-wise decay over 39 layers.
_base_ = ['./segformer_internimage_l.py']

pretrained = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/internimage_xl_22k_192to384.pth'
model = dict(
    backbone=dict(channels=192, depths=[5, 5, 24, 5], groups=[12, 24, 48, 96], init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(in_channels=[192, 384, 768, 1536]))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=39, depths=[5, 5, 24, 5]))
