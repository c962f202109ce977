# The published SegFormer-head + InternImage-L recipe without its data: the UPerNet-L recipe (backbone
# from the ImageNet-22K 384 weights, AdamW lr 2e-5, layer-wise decay over 37 layers at 0.94, clipping
# 0.1, poly schedule) with mmseg's all-MLP SegformerHead (256 channels) in place of UPerNet's heads, and no
# auxiliary head. 150 classes, as published (the published Mapillary / Cityscapes configs kept ADE20K's).
_base_ = ['./upernet_internimage_l.py']

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    decode_head=dict(
        _delete_=True, type='SegformerHead', in_channels=[160, 320, 640, 1280], in_index=[0, 1, 2, 3],
        channels=256, dropout_ratio=0.1, num_classes=150, norm_cfg=norm_cfg, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None)
