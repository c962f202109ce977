# UPerNet with InternImage-S, ADE20K 512x512, 160k: mIoU 50.1 published, 80M parameters.
# As T, with drop path 0.3, post-norm and layer-wise decay over 33 layers.
_base_ = ['../_base_/models/upernet_internimage_s.py', '../_base_/datasets/ade20k_512.py']

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor)
