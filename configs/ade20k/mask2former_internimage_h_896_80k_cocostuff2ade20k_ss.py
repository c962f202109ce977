# Mask2Former with InternImage-H, ADE20K 896x896, 80k iterations, initialised from the published
# COCO-Stuff-164k Mask2Former-H: mIoU 62.5 (single scale) published, 1.31B parameters.
# mmseg's Mask2FormerHead (with mmdet's pixel decoder and transformer layers) widened as published:
# 1024 channels, 200 queries, 3 transformer feature levels, 6-layer MSDeformAttn pixel decoder (32 heads,
# 4 points, FFN 4096, GN 32), 9 decoder layers (32 heads, FFN 4096); losses as stock; as the registered
# PublishedMask2FormerHead (published checkpoints load as they are; class x mask at 1/4 resolution, then
# resized, at test). AdamW lr 1e-5, layer-wise decay (50 layers, rate 0.95), gradient clipping 0.1, poly
# decay from iteration 0 under a 1500-iteration linear warm-up (as mmcv 1), one image per GPU, whole
# inference at (3584, 896) resized to a multiple of 32; validation every 2000 iterations.
_base_ = [
    'mmseg::mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py', './_base_/ade20k_pipelines.py',
]
custom_imports = dict(imports=['mmseg_custom'], allow_failed_imports=False)

crop_size = (896, 896)
load_from = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/mask2former_internimage_h_896_80k_cocostuff164k.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        _delete_=True, type='InternImage', core_op='DCNv3', channels=320, depths=[6, 6, 32, 6],
        groups=[10, 20, 40, 80], mlp_ratio=4., drop_path_rate=0.5, norm_layer='LN', layer_scale=None,
        offset_scale=1.0, post_norm=False, with_cp=False, dw_kernel_size=5, res_post_norm=True,
        level2_post_norm=True, level2_post_norm_block_ids=[5, 11, 17, 23, 29], center_feature_scale=True,
        out_indices=(0, 1, 2, 3), init_cfg=None),
    decode_head=dict(
        type='PublishedMask2FormerHead', in_channels=[320, 640, 1280, 2560], feat_channels=1024,
        out_channels=1024, num_queries=200,
        pixel_decoder=dict(
            encoder=dict(layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=1024, num_heads=32, num_points=4),
                ffn_cfg=dict(embed_dims=1024, feedforward_channels=4096))),
            positional_encoding=dict(num_feats=512)),
        positional_encoding=dict(num_feats=512),
        transformer_decoder=dict(layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=1024, num_heads=32),
            cross_attn_cfg=dict(embed_dims=1024, num_heads=32),
            ffn_cfg=dict(embed_dims=1024, feedforward_channels=4096)))),
    test_cfg=dict(mode='whole'))

train_dataloader = dict(batch_size=1, dataset=dict(pipeline={{_base_.ade20k_896_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.ade20k_896_test_pipeline}}))
test_dataloader = val_dataloader

optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-5, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    constructor='CustomLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(num_layers=50, layer_decay_rate=0.95, depths=[6, 6, 32, 6], offset_lr_scale=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=0, end=80000),
]
train_cfg = dict(max_iters=80000, val_interval=2000)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=1000, max_keep_ckpts=1, save_best='mIoU'))
auto_scale_lr = dict(enable=False, base_batch_size=8)
