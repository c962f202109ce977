# Mask2Former with FlashInternImage-T, ADE20K 512x512, 160k iterations: mIoU 51.2 (single scale) published,
# 48.46M parameters. The head of ./mask2former_internimage_h_896_80k_cocostuff2ade20k_ss.py at mmseg's
# Mask2Former width (256 channels, 8 heads, 100 queries, pixel-decoder FFN 1024, decoder FFN 2048) on the
# DCNv4 backbone (layer scale 1.0) from the published ImageNet-1K FlashInternImage weights. AdamW lr 1e-4,
# layer-wise decay (30 layers, rate 0.9), gradient clipping 0.01, poly decay from iteration 0 under a
# 1500-iteration linear warm-up, 2 images per GPU, whole inference at (2048, 512) resized to a multiple of 32;
# validation and checkpoints every 5000 iterations.
_base_ = ['./mask2former_internimage_h_896_80k_cocostuff2ade20k_ss.py']

crop_size = (512, 512)
load_from = None
pretrained = 'https://huggingface.co/OpenGVLab/DCNv4/resolve/main/flash_intern_image_t_1k_224.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        _delete_=True, type='FlashInternImage', core_op='DCNv4', channels=64, depths=[4, 4, 18, 4],
        groups=[4, 8, 16, 32], mlp_ratio=4., drop_path_rate=0.2, norm_layer='LN', layer_scale=1.0,
        offset_scale=1.0, post_norm=False, with_cp=False, out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(
        in_channels=[64, 128, 256, 512], feat_channels=256, out_channels=256, num_queries=100,
        pixel_decoder=dict(
            encoder=dict(layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=256, num_heads=8),
                ffn_cfg=dict(embed_dims=256, feedforward_channels=1024))),
            positional_encoding=dict(num_feats=128)),
        positional_encoding=dict(num_feats=128),
        transformer_decoder=dict(layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=256, num_heads=8),
            cross_attn_cfg=dict(embed_dims=256, num_heads=8),
            ffn_cfg=dict(embed_dims=256, feedforward_channels=2048)))))

train_dataloader = dict(batch_size=2, dataset=dict(pipeline={{_base_.ade20k_512_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.ade20k_512_test_pipeline}}))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(lr=1e-4), clip_grad=dict(max_norm=0.01),
    paramwise_cfg=dict(_delete_=True, num_layers=30, layer_decay_rate=0.9, depths=[4, 4, 18, 4]))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=0, end=160000),
]
train_cfg = dict(max_iters=160000, val_interval=5000)
default_hooks = dict(checkpoint=dict(interval=5000))
auto_scale_lr = dict(base_batch_size=16)
