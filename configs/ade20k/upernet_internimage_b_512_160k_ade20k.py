# UPerNet with InternImage-B, ADE20K 512x512, 160k: mIoU 50.8 published, 128M parameters.
# As S, with drop path 0.4.
_base_ = ['../_base_/models/upernet_internimage_b.py', '../_base_/datasets/ade20k_512.py']

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor)
