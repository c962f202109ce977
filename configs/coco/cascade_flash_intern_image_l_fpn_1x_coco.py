# Cascade Mask R-CNN with FlashInternImage-L, COCO 1x: box mAP 55.6 / mask mAP 48.2 published, 277M parameters.
# InternImage-L's recipe (./cascade_internimage_l_fpn_1x_coco.py) with the DCNv4 backbone (3x3 depthwise
# convolution feeding the offsets, DCN output and MLP fc2 biases), the FPN_vitdet neck and the box heads
# under their published name DCNv4FCBBoxHead; the backbone starts from the published ImageNet-22K
# FlashInternImage-L weights (384); the last checkpoint only is kept.
_base_ = ['./cascade_internimage_l_fpn_1x_coco.py']

pretrained = 'https://huggingface.co/OpenGVLab/DCNv4/resolve/main/flash_intern_image_l_22k_384.pth'
model = dict(
    backbone=dict(
        _delete_=True, type='FlashInternImage', core_op='DCNv4', channels=160, depths=[5, 5, 22, 5],
        groups=[10, 20, 40, 80], mlp_ratio=4., drop_path_rate=0.4, norm_layer='LN', layer_scale=1.0,
        offset_scale=2.0, post_norm=True, with_cp=False, dcn_output_bias=True, mlp_fc2_bias=True,
        dw_kernel_size=3, out_indices=(0, 1, 2, 3), init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(type='FPN_vitdet', norm_cfg=dict(type='LN', requires_grad=True), use_residual=True),
    roi_head=dict(bbox_head={{_base_.cascade_dcnv4_box_heads}}))
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
