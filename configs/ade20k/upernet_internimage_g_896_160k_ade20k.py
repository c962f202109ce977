# UPerNet with InternImage-G, ADE20K 896x896, 160k iterations, 3112.68M parameters (published layout;
# no published result). As H, with the G backbone (post-norm, gradient checkpointing) and layer-wise
# decay over 56 layers.
_base_ = ['./upernet_internimage_h_896_160k_ade20k.py']

pretrained = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/internimage_g_pretrainto22k_384.pth'
model = dict(
    backbone=dict(channels=512, depths=[2, 2, 48, 4], groups=[16, 32, 64, 128], post_norm=True,
                  res_post_norm=False, level2_post_norm_block_ids=[5, 11, 17, 23, 29, 35, 41, 47], with_cp=True,
                  init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(in_channels=[512, 1024, 2048, 4096]),
    auxiliary_head=dict(in_channels=2048))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=56, depths=[2, 2, 48, 4]))
