# Mask R-CNN with FlashInternImage-S, COCO 3x: box mAP 50.5 / mask mAP 44.9 published.
# As 1x, with drop path 0.4, the DETR-style multi-scale augmentation, 8 images per GPU at lr 2e-4 and
# 36 epochs, steps at 27 and 33.
_base_ = ['./mask_rcnn_flash_intern_image_s_fpn_1x_coco.py', './_base_/detr_ms_crop_aug.py']

model = dict(backbone=dict(drop_path_rate=0.4))
train_dataloader = dict(batch_size=8, dataset=dict(pipeline={{_base_.detr_ms_crop_train_pipeline}}))
optim_wrapper = dict(optimizer=dict(lr=2e-4))
train_cfg = dict(max_epochs=36)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=36, by_epoch=True, milestones=[27, 33], gamma=0.1),
]
