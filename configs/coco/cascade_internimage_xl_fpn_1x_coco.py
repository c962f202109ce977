# Cascade Mask R-CNN with InternImage-XL, COCO 1x: box mAP 55.3 / mask mAP 48.1 published, 387.45M parameters.
# As L 1x, with the XL backbone and layer-wise decay over 39 layers.
_base_ = ['./cascade_internimage_l_fpn_1x_coco.py']

pretrained = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/internimage_xl_22k_192to384.pth'
model = dict(
    backbone=dict(channels=192, depths=[5, 5, 24, 5], groups=[12, 24, 48, 96],
                  init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[192, 384, 768, 1536]))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=39, depths=[5, 5, 24, 5]))
