# Mask2Former with FlashInternImage-L, ADE20K 640x640, 160k iterations: mIoU 56.7 (single scale) published,
# 242.28M parameters. As S, with the L backbone (drop path 0.5, offset scale 2.0, DCN output and MLP fc2
# biases, gradient checkpointing) from the published ImageNet-22K weights (384), layer-wise decay over 37
# layers at rate 0.94, validation and checkpoints every 2000 iterations.
_base_ = ['./mask2former_flash_internimage_s_640_160k_ade20k_ss.py']

pretrained = 'https://huggingface.co/OpenGVLab/DCNv4/resolve/main/flash_intern_image_l_22k_384.pth'
model = dict(
    backbone=dict(channels=160, depths=[5, 5, 22, 5], groups=[10, 20, 40, 80], drop_path_rate=0.5,
                  offset_scale=2.0, with_cp=True, dcn_output_bias=True, mlp_fc2_bias=True,
                  init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(in_channels=[160, 320, 640, 1280]))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=37, layer_decay_rate=0.94, depths=[5, 5, 22, 5],
                                        offset_lr_scale=1.0))
train_cfg = dict(val_interval=2000)
default_hooks = dict(checkpoint=dict(interval=2000))
