# SegFormer-head with InternImage-XL, Mapillary Vistas v1.2 pre-training for Cityscapes, 512x1024, 80k iterations:
# the published SegFormer-head-XL recipe (configs/_base_/models/segformer_internimage_xl.py, 150-class heads as
# published) trained on Mapillary training + validation relabelled to the 19 Cityscapes classes, validated
# on Cityscapes val every 8000 iterations (configs/_base_/datasets/mapillary_512x1024.py). Its checkpoint
# initialises the mapillary2cityscapes fine-tuning (configs/cityscapes/).
_base_ = ['../_base_/models/segformer_internimage_xl.py', '../_base_/datasets/mapillary_512x1024.py']

crop_size = (512, 1024)
model = dict(data_preprocessor=dict(size=crop_size))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=0, end=80000),
]
train_cfg = dict(max_iters=80000, val_interval=8000)
