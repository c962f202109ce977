# UPerNet with InternImage-S, Cityscapes 512x1024, 160k iterations: mIoU 82.74
# (single scale) published, 79,866,956 parameters. The published UPerNet-S recipe
# (configs/_base_/models/upernet_internimage_s.py, as for ADE20K) on mmseg's Cityscapes data; 150-class
# heads as published (README).
_base_ = ['../_base_/models/upernet_internimage_s.py', '../_base_/datasets/cityscapes_512x1024.py']

crop_size = (512, 1024)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor)
