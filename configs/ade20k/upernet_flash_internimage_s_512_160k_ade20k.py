# UPerNet with FlashInternImage-S, ADE20K 512x512, 160k: mIoU 50.6 / 51.6 (single / multi-scale) published,
# 80M parameters. InternImage-S's recipe (./upernet_internimage_s_512_160k_ade20k.py: drop path 0.3,
# post-norm, layer-wise decay over 33 layers) with the DCNv4 backbone (3x3 depthwise convolution feeding
# the offsets, layer scale 1.0, gradient checkpointing) from the published FlashInternImage-S weights.
_base_ = ['./upernet_internimage_s_512_160k_ade20k.py']

pretrained = 'https://huggingface.co/OpenGVLab/DCNv4/resolve/main/flash_intern_image_s_1k_224.pth'
model = dict(
    backbone=dict(
        _delete_=True, type='FlashInternImage', core_op='DCNv4', channels=80, depths=[4, 4, 21, 4],
        groups=[5, 10, 20, 40], mlp_ratio=4., drop_path_rate=0.3, norm_layer='LN', layer_scale=1.0,
        offset_scale=1.0, post_norm=True, with_cp=True, dw_kernel_size=3, out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
