# Mask R-CNN with FlashInternImage-B, COCO 1x: box mAP 50.1 / mask mAP 44.5 published, 115M parameters.
# As S, with offset scale 0.5.
_base_ = ['./mask_rcnn_flash_intern_image_s_fpn_1x_coco.py']

pretrained = 'https://huggingface.co/OpenGVLab/DCNv4/resolve/main/flash_intern_image_b_1k_224.pth'
model = dict(
    backbone=dict(channels=112, groups=[7, 14, 28, 56], offset_scale=0.5, init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[112, 224, 448, 896]))
