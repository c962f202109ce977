# DINO (4 feature levels) with FlashInternImage-S, COCO 12 epochs: box mAP 55.3 published, 68.81M parameters.
# As T, with drop path 0.3, post-norm, the 3x3 depthwise convolution feeding the offsets and layer-wise
# decay over 33 layers.
_base_ = ['./dino_4scale_flash_internimage_t_1x_coco.py']

pretrained = 'https://huggingface.co/OpenGVLab/DCNv4/resolve/main/flash_intern_image_s_1k_224.pth'
model = dict(
    backbone=dict(channels=80, depths=[4, 4, 21, 4], groups=[5, 10, 20, 40], drop_path_rate=0.3, post_norm=True,
                  dw_kernel_size=3, init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[160, 320, 640]))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=33, depths=[4, 4, 21, 4]))
