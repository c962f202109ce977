# Mask2Former with FlashInternImage-B, ADE20K 640x640, 160k iterations: mIoU 53.4 (single scale) published,
# 118.08M parameters. As S, with the B backbone (drop path 0.4, offset scale 0.5).
_base_ = ['./mask2former_flash_internimage_s_640_160k_ade20k_ss.py']

pretrained = 'https://huggingface.co/OpenGVLab/DCNv4/resolve/main/flash_intern_image_b_1k_224.pth'
model = dict(
    backbone=dict(channels=112, groups=[7, 14, 28, 56], drop_path_rate=0.4, offset_scale=0.5,
                  init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(in_channels=[112, 224, 448, 896]))
