# UPerNet with FlashInternImage-T, ADE20K 512x512, 160k iterations: mIoU 49.3 / 50.3 (single / multi-scale)
# published, 59M parameters. InternImage-T's recipe (./upernet_internimage_t_512_160k_ade20k.py) with the
# DCNv4 backbone (layer scale 1.0, gradient checkpointing) from the published ImageNet-1K FlashInternImage
# weights; test images resized to (2048, 512) without rounding to a multiple of 32 (as published for T only).
_base_ = ['./upernet_internimage_t_512_160k_ade20k.py']

pretrained = 'https://huggingface.co/OpenGVLab/DCNv4/resolve/main/flash_intern_image_t_1k_224.pth'
model = dict(
    backbone=dict(
        _delete_=True, type='FlashInternImage', core_op='DCNv4', channels=64, depths=[4, 4, 18, 4],
        groups=[4, 8, 16, 32], mlp_ratio=4., drop_path_rate=0.2, norm_layer='LN', layer_scale=1.0,
        offset_scale=1.0, post_norm=False, with_cp=True, out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels', num_classes=150),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
