# DINO (4 feature levels) with FlashInternImage-T, COCO 12 epochs: box mAP 54.7 published, 48.63M parameters.
# InternImage-T's DINO recipe (./dino_4scale_internimage_t_1x_coco_layer_wise_lr.py) with the DCNv4 backbone,
# 4 images per GPU at lr 2e-4 and 300 detections per image at test (every size); the backbone starts from the
# published ImageNet-1K FlashInternImage weights; the last checkpoint only is kept.
_base_ = ['./dino_4scale_internimage_t_1x_coco_layer_wise_lr.py']

pretrained = 'https://huggingface.co/OpenGVLab/DCNv4/resolve/main/flash_intern_image_t_1k_224.pth'
model = dict(
    backbone=dict(
        _delete_=True, type='FlashInternImage', core_op='DCNv4', channels=64, depths=[4, 4, 18, 4],
        groups=[4, 8, 16, 32], mlp_ratio=4., drop_path_rate=0.2, norm_layer='LN', layer_scale=1.0,
        offset_scale=1.0, post_norm=False, with_cp=True, out_indices=(1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    test_cfg=dict(max_per_img=300))
train_dataloader = dict(batch_size=4)
optim_wrapper = dict(optimizer=dict(lr=2e-4))
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
