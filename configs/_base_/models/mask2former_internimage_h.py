# The published Mask2Former + InternImage-H recipe of the Mapillary, Cityscapes, NYU Depth V2 and Pascal
# Context configs (the 256-channel head; the COCO-Stuff / ADE20K ones widen it to 1024): mmseg's
# Mask2Former (stock 256-channel head, 100 queries, 6-layer MSDeformAttn pixel decoder, 9 decoder layers,
# losses as stock, as the registered PublishedMask2FormerHead: published checkpoints load as they are)
# with the InternImage-H backbone from the published joint-to-ImageNet-22K 384 weights; AdamW lr 2e-5 (wd
# 0.05), layer-wise decay (50 layers, rate 0.95), gradient clipping 0.1, poly decay from iteration 0
# under a 1500-iteration linear warm-up (as mmcv 1), 2 images per GPU, validation every 2000 iterations,
# 80k iterations. It comes with mmseg's Cityscapes data (the stock config's): a config sets its own data,
# classes (``num_classes`` and the class weights, 0.1 for "no object") and crop size.
_base_ = ['mmseg::mask2former/mask2former_r50_8xb2-90k_cityscapes-512x1024.py']
custom_imports = dict(imports=['mmseg_custom'], allow_failed_imports=False)

pretrained = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/internimage_h_jointto22k_384.pth'
model = dict(
    backbone=dict(
        _delete_=True, type='InternImage', core_op='DCNv3', channels=320, depths=[6, 6, 32, 6],
        groups=[10, 20, 40, 80], mlp_ratio=4., drop_path_rate=0.5, norm_layer='LN', layer_scale=None,
        offset_scale=1.0, post_norm=False, with_cp=False, dw_kernel_size=5, res_post_norm=True,
        level2_post_norm=True, level2_post_norm_block_ids=[5, 11, 17, 23, 29], center_feature_scale=True,
        out_indices=(0, 1, 2, 3), init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(type='PublishedMask2FormerHead', in_channels=[320, 640, 1280, 2560]))

train_dataloader = dict(batch_size=2)  # x 8 GPUs
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-5, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    constructor='CustomLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(num_layers=50, layer_decay_rate=0.95, depths=[6, 6, 32, 6], offset_lr_scale=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=0, end=80000),
]
train_cfg = dict(max_iters=80000, val_interval=2000)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=1000, max_keep_ckpts=1, save_best='mIoU'))
auto_scale_lr = dict(enable=False, base_batch_size=16)
