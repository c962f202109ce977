# DINO (4 feature levels) with FlashInternImage-B, COCO 12 epochs: box mAP 56.0 published, 115.92M parameters.
# As S, with offset scale 0.5.
_base_ = ['./dino_4scale_flash_internimage_s_1x_coco.py']

pretrained = 'https://huggingface.co/OpenGVLab/DCNv4/resolve/main/flash_intern_image_b_1k_224.pth'
model = dict(
    backbone=dict(channels=112, groups=[7, 14, 28, 56], offset_scale=0.5, init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[224, 448, 896]))
