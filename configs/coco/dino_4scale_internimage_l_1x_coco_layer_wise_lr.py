# DINO (4 feature levels) with InternImage-L, COCO 12 epochs, 241.03M parameters (published layout).
# As T, with the L backbone (drop path 0.4, no gradient checkpointing), layer-wise decay over 37 layers
# and 300 detections per image at test.
_base_ = ['./dino_4scale_internimage_t_1x_coco_layer_wise_lr.py']

pretrained = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/internimage_l_22k_192to384.pth'
model = dict(
    backbone=dict(channels=160, depths=[5, 5, 22, 5], groups=[10, 20, 40, 80], drop_path_rate=0.4,
                  offset_scale=2.0, post_norm=True, with_cp=False, init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[320, 640, 1280]),
    test_cfg=dict(max_per_img=300))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=37, depths=[5, 5, 22, 5]))
