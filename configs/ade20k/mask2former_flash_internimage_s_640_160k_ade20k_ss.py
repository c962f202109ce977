# Mask2Former with FlashInternImage-S, ADE20K 640x640, 160k iterations: mIoU 52.6 (single scale) published,
# 71.55M parameters. As T, with the S backbone (post-norm, 3x3 depthwise convolution feeding the offsets),
# 200 queries, pixel-decoder FFN 2048, 640 crops, layer-wise decay over 33 layers at rate 1.0 and gradient
# clipping 0.1.
_base_ = ['./mask2former_flash_internimage_t_512_160k_ade20k_ss.py']

crop_size = (640, 640)
pretrained = 'https://huggingface.co/OpenGVLab/DCNv4/resolve/main/flash_intern_image_s_1k_224.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(channels=80, depths=[4, 4, 21, 4], groups=[5, 10, 20, 40], drop_path_rate=0.3, post_norm=True,
                  dw_kernel_size=3, init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(
        in_channels=[80, 160, 320, 640], num_queries=200,
        pixel_decoder=dict(encoder=dict(layer_cfg=dict(ffn_cfg=dict(feedforward_channels=2048))))))

train_dataloader = dict(dataset=dict(pipeline={{_base_.ade20k_640_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.ade20k_640_test_pipeline}}))
test_dataloader = val_dataloader

optim_wrapper = dict(clip_grad=dict(max_norm=0.1),
                     paramwise_cfg=dict(num_layers=33, layer_decay_rate=1.0, depths=[4, 4, 21, 4]))
