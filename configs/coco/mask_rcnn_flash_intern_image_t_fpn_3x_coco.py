# Mask R-CNN with FlashInternImage-T, COCO 3x: box mAP 49.5 / mask mAP 44.0 published.
# As 1x, with the DETR-style multi-scale augmentation and 36 epochs, steps at 27 and 33.
_base_ = ['./mask_rcnn_flash_intern_image_t_fpn_1x_coco.py', './_base_/detr_ms_crop_aug.py']

train_dataloader = dict(dataset=dict(pipeline={{_base_.detr_ms_crop_train_pipeline}}))
train_cfg = dict(max_epochs=36)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=36, by_epoch=True, milestones=[27, 33], gamma=0.1),
]
