# UPerNet with InternImage-L, ADE20K 640x640, 160k iterations: mIoU 53.9 (single scale) published, 256M.
# AdamW lr 2e-5 (wd 0.05) for 16 images, layer-wise decay (37 layers, rate 0.94, offset lr x1.0),
# gradient clipping 0.1, poly decay from iteration 0 under a 1500-iteration linear warm-up (as mmcv 1),
# whole inference at (2560, 640) resized to a multiple of 32.
_base_ = ['../_base_/models/upernet_internimage_l.py', '../_base_/datasets/ade20k_640.py']

crop_size = (640, 640)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor)
