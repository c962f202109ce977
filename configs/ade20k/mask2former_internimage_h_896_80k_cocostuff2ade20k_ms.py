# Mask2Former with InternImage-H, ADE20K 896x896, multi-scale and flip testing: mIoU 62.9 published,
# 1313.50M parameters. The single-scale config's model and training; evaluate with
# ``tools/test.py CONFIG CHECKPOINT --tta``: mmseg's SegTTAModel averages the class probabilities over
# the published augmentations: (3584, 896) scaled by 6/7, 13/14, 1, 15/14, 8/7 (then a multiple of 32),
# each with and without a horizontal flip.
_base_ = ['./mask2former_internimage_h_896_80k_cocostuff2ade20k_ss.py']

img_ratios = [6 / 7, 13 / 14, 1.0, 15 / 14, 8 / 7]
tta_model = dict(type='SegTTAModel')
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale=(int(3584 * r), int(896 * r)), keep_ratio=True) for r in img_ratios],
        [dict(type='ResizeToMultiple', size_divisor=32)],
        [dict(type='RandomFlip', prob=0.0, direction='horizontal'),
         dict(type='RandomFlip', prob=1.0, direction='horizontal')],
        [dict(type='LoadAnnotations', reduce_zero_label=True)],
        [dict(type='CheckSegLabels', num_classes=150)],
        [dict(type='PackSegInputs')],
    ]),
]
