# InternImage-H, joint 427M pre-training -> ImageNet-1K at 640x640: top-1 89.6 published.
# As L's fine-tuning recipe, with the clip-projector head and drop path 0.2.
_base_ = ['./internimage_l_22kto1k_384.py']

model = dict(
    backbone=dict(channels=320, depths=[6, 6, 32, 6], groups=[10, 20, 40, 80], offset_scale=1.0,
                  post_norm=False, layer_scale=None, dw_kernel_size=5, res_post_norm=True,
                  level2_post_norm=True, level2_post_norm_block_ids=[5, 11, 17, 23, 29],
                  center_feature_scale=True, drop_path_rate=0.2, out_indices=(2, 3)),
    head=dict(_delete_=True, type='InternImageClipHead', in_channels=2560, num_classes=1000,
              clip_embed_dim=1024, attn_pool_num_heads=16, out_dim=768,
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.3, mode='original'), topk=(1, 5)))

# The 384 pipelines of L, at 640 (lists replace their base as a whole).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=640, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10, magnitude_level=9,
         magnitude_std=0.5, hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=int(640 / 0.875), edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=640),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=16, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(paramwise_cfg=dict(num_layers=50, depths=[6, 6, 32, 6]))
