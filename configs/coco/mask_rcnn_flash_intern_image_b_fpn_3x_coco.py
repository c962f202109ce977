# Mask R-CNN with FlashInternImage-B, COCO 3x: box mAP 50.6 / mask mAP 45.4 published.
# As S 3x (4 images per GPU), with layer-wise decay 0.9 and the DCNv4 offsets' lr x0.01.
_base_ = ['./mask_rcnn_flash_intern_image_s_fpn_3x_coco.py']

pretrained = 'https://huggingface.co/OpenGVLab/DCNv4/resolve/main/flash_intern_image_b_1k_224.pth'
model = dict(
    backbone=dict(channels=112, groups=[7, 14, 28, 56], offset_scale=0.5, init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[112, 224, 448, 896]))
train_dataloader = dict(batch_size=4)
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.9, offset_lr_scale=0.01))
