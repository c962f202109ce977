# UPerNet with FlashInternImage-B, ADE20K 512x512, 160k: mIoU 52.0 / 52.6 (single / multi-scale) published,
# 128M parameters. As S (drop path 0.3, where InternImage-B has 0.4), with offset scale 0.5, without gradient
# checkpointing.
_base_ = ['./upernet_flash_internimage_s_512_160k_ade20k.py']

pretrained = 'https://huggingface.co/OpenGVLab/DCNv4/resolve/main/flash_intern_image_b_1k_224.pth'
model = dict(
    backbone=dict(channels=112, groups=[7, 14, 28, 56], offset_scale=0.5, with_cp=False,
                  init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(in_channels=[112, 224, 448, 896]),
    auxiliary_head=dict(in_channels=448))
