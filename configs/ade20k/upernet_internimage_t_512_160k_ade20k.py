# UPerNet with InternImage-T, ADE20K 512x512, 160k iterations: mIoU 47.9 (single scale) published, 59M.
# The published recipe (configs/_base_/models/upernet_internimage_t.py: AdamW lr 6e-5, layer-wise decay,
# poly schedule under a linear warm-up) on mmseg's ADE20K 512 data with whole-image inference at
# (2048, 512) resized to a multiple of 32.
_base_ = ['../_base_/models/upernet_internimage_t.py', '../_base_/datasets/ade20k_512.py']

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor)
