# Mask R-CNN with FlashInternImage-T, COCO 1x: box mAP 48.0 / mask mAP 43.1 published, 49M parameters.
# InternImage-T's recipe (./mask_rcnn_internimage_t_fpn_1x_coco.py) with the DCNv4 backbone (layer scale 1.0,
# gradient checkpointing) and the published FPN_vitdet neck (LayerNorm after each convolution); the backbone
# starts from the published ImageNet-1K FlashInternImage weights; the last checkpoint only is kept.
_base_ = ['./mask_rcnn_internimage_t_fpn_1x_coco.py']

pretrained = 'https://huggingface.co/OpenGVLab/DCNv4/resolve/main/flash_intern_image_t_1k_224.pth'
model = dict(
    backbone=dict(
        _delete_=True, type='FlashInternImage', core_op='DCNv4', channels=64, depths=[4, 4, 18, 4],
        groups=[4, 8, 16, 32], mlp_ratio=4., drop_path_rate=0.2, norm_layer='LN', layer_scale=1.0,
        offset_scale=1.0, post_norm=False, with_cp=True, out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(type='FPN_vitdet', norm_cfg=dict(type='LN', requires_grad=True), use_residual=True))
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
