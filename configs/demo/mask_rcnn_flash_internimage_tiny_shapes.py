# A tiny FlashInternImage Mask R-CNN trained from scratch on the embedded shapes dataset: the InternImage demo
# (./mask_rcnn_internimage_tiny_shapes.py: data, heads, schedule) with the structure of the published
# FlashInternImage-T Mask R-CNN (../coco/mask_rcnn_flash_intern_image_t_fpn_1x_coco.py): the DCNv4 backbone
# with layer scale 1.0 and 16 channels per group, and the FPN_vitdet neck (LayerNorm after each convolution).
_base_ = ['./mask_rcnn_internimage_tiny_shapes.py']

model = dict(
    backbone=dict(
        _delete_=True, type='FlashInternImage', core_op='DCNv4', channels=32, depths=[1, 1, 3, 1],
        groups=[2, 4, 8, 16], mlp_ratio=4., drop_path_rate=0.0, norm_layer='LN', layer_scale=1.0,
        offset_scale=1.0, post_norm=False, with_cp=False, out_indices=(0, 1, 2, 3), init_cfg=None),
    neck=dict(type='FPN_vitdet', norm_cfg=dict(type='LN', requires_grad=True), use_residual=True))
