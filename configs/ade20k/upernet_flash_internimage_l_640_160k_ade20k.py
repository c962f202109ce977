# UPerNet with FlashInternImage-L, ADE20K 640x640, 160k: mIoU 55.6 / 56.0 (single / multi-scale) published,
# 256M parameters. InternImage-L's recipe (./upernet_internimage_l_640_160k_ade20k.py) with the DCNv4
# backbone (3x3 depthwise convolution feeding the offsets, DCN output and MLP fc2 biases, layer scale 1.0)
# from the published ImageNet-22K FlashInternImage-L weights (384).
_base_ = ['./upernet_internimage_l_640_160k_ade20k.py']

pretrained = 'https://huggingface.co/OpenGVLab/DCNv4/resolve/main/flash_intern_image_l_22k_384.pth'
model = dict(
    backbone=dict(
        _delete_=True, type='FlashInternImage', core_op='DCNv4', channels=160, depths=[5, 5, 22, 5],
        groups=[10, 20, 40, 80], mlp_ratio=4., drop_path_rate=0.4, norm_layer='LN', layer_scale=1.0,
        offset_scale=2.0, post_norm=True, with_cp=False, dcn_output_bias=True, mlp_fc2_bias=True,
        dw_kernel_size=3, out_indices=(0, 1, 2, 3), init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
