# UPerNet with InternImage-XL, ADE20K 640x640, 160k: mIoU 55.0 published, 368M parameters.
# As L, with the XL backbone and layer-wise decay over 39 layers.
_base_ = ['../_base_/models/upernet_internimage_xl.py', '../_base_/datasets/ade20k_640.py']

crop_size = (640, 640)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor)
