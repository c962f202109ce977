# Mask R-CNN with InternImage-B, COCO 1x: box mAP 48.8 / mask mAP 44.0 published, 115M parameters.
# As S, with drop path 0.4.
_base_ = ['./mask_rcnn_internimage_s_fpn_1x_coco.py']

pretrained = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/internimage_b_1k_224.pth'
model = dict(
    backbone=dict(channels=112, groups=[7, 14, 28, 56], drop_path_rate=0.4, init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[112, 224, 448, 896]))
