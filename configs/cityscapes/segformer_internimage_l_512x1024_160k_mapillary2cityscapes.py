# SegFormer-head with InternImage-L, Cityscapes 512x1024 after Mapillary pre-training, 160k iterations: mIoU
# 85.16 / 85.67 (single / multi-scale) published. The
# published SegFormer-head-L recipe (configs/_base_/models/segformer_internimage_l.py) fine-tuned from the published
# Mapillary checkpoint (load_from; the backbone is not initialised separately) on Cityscapes train +
# train_extra (configs/_base_/datasets/cityscapes_extra_512x1024.py), validated every 4000 iterations.
# As published, UPerNet starts from the SegFormer-head Mapillary checkpoint of its size too: its backbone
# loads, its UPerNet heads start from their initialisation.
_base_ = ['../_base_/models/segformer_internimage_l.py', '../_base_/datasets/cityscapes_extra_512x1024.py']

crop_size = (512, 1024)
model = dict(data_preprocessor=dict(size=crop_size), backbone=dict(init_cfg=None))
load_from = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/segformer_internimage_l_512x1024_80k_mapillary.pth'
train_cfg = dict(val_interval=4000)
