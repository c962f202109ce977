# UPerNet with InternImage-H, ADE20K 896x896, 160k: mIoU 59.9 published, 1.12B parameters.
# As L, with the H backbone (drop path 0.5), layer-wise decay (50 layers, rate 0.95), 896 crops,
# whole inference at (3584, 896) and one image per GPU.
_base_ = ['./upernet_internimage_l_640_160k_ade20k.py', './_base_/ade20k_pipelines.py']

crop_size = (896, 896)
data_preprocessor = dict(size=crop_size)
pretrained = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/internimage_h_jointto22k_384.pth'
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(channels=320, depths=[6, 6, 32, 6], groups=[10, 20, 40, 80], drop_path_rate=0.5,
                  layer_scale=None, offset_scale=1.0, post_norm=False, dw_kernel_size=5, res_post_norm=True,
                  level2_post_norm=True, level2_post_norm_block_ids=[5, 11, 17, 23, 29],
                  center_feature_scale=True, init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(in_channels=[320, 640, 1280, 2560]),
    auxiliary_head=dict(in_channels=1280))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=50, layer_decay_rate=0.95, depths=[6, 6, 32, 6]))

train_dataloader = dict(batch_size=1, dataset=dict(pipeline={{_base_.ade20k_896_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.ade20k_896_test_pipeline}}))
test_dataloader = val_dataloader
auto_scale_lr = dict(base_batch_size=8)
