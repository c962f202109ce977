# DINO (4 feature levels) with InternImage-G, fine-tuned on COCO from the published Objects365 detector:
# box mAP 64.2 published, 3082.61M parameters (published layout). As the H config, with the G backbone
# and layer-wise decay over 56 layers; the transformer layers' FFNs are the published EfficientFFN
# (the hidden layer in 4 chunks, each checkpointed in training; same function as mmcv's FFN).
_base_ = ['./dino_4scale_internimage_h_objects365_coco_ss.py']

model = dict(
    type='EfficientFFNDINO', ffn_split=4, ffn_with_cp=True,
    backbone=dict(channels=512, depths=[2, 2, 48, 4], groups=[16, 32, 64, 128], post_norm=True,
                  res_post_norm=False, level2_post_norm_block_ids=[5, 11, 17, 23, 29, 35, 41, 47]),
    neck=dict(in_channels=[1024, 2048, 4096]))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=56, depths=[2, 2, 48, 4]))
