# Mask R-CNN with InternImage-B, COCO 3x: box mAP 50.3 / mask mAP 44.8 published.
# As 1x, with the DETR-style multi-scale augmentation and 36 epochs, steps at 27 and 33.
_base_ = ['./mask_rcnn_internimage_b_fpn_1x_coco.py', './_base_/detr_ms_crop_aug.py']

train_dataloader = dict(dataset=dict(pipeline={{_base_.detr_ms_crop_train_pipeline}}))
train_cfg = dict(max_epochs=36)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=36, by_epoch=True, milestones=[27, 33], gamma=0.1),
]
