# Cascade Mask R-CNN with FlashInternImage-L, COCO 3x: box mAP 56.7 / mask mAP 48.9 published.
# InternImage-L's 3x recipe (./cascade_internimage_l_fpn_3x_coco.py: lr 2e-4, layer decay 0.90, offsets'
# lr x0.01, multi-scale augmentation, EMA) on 4 images per GPU, with the backbone and neck of the 1x
# config, gradient checkpointing, and mmdet's ConvFCBBoxHead (as published).
_base_ = ['./cascade_internimage_l_fpn_3x_coco.py']

pretrained = 'https://huggingface.co/OpenGVLab/DCNv4/resolve/main/flash_intern_image_l_22k_384.pth'
model = dict(
    backbone=dict(
        _delete_=True, type='FlashInternImage', core_op='DCNv4', channels=160, depths=[5, 5, 22, 5],
        groups=[10, 20, 40, 80], mlp_ratio=4., drop_path_rate=0.4, norm_layer='LN', layer_scale=1.0,
        offset_scale=2.0, post_norm=True, with_cp=True, dcn_output_bias=True, mlp_fc2_bias=True,
        dw_kernel_size=3, out_indices=(0, 1, 2, 3), init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(type='FPN_vitdet', norm_cfg=dict(type='LN', requires_grad=True), use_residual=True))
train_dataloader = dict(batch_size=4)
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
