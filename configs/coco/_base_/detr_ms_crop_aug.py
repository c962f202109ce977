# The DETR-style multi-scale training augmentation of the published 3x and DINO recipes (CONFIGS.md):
# random flip, then either resize the short side to 480..800 (step 32, long side <= 1333), or resize
# to 400/500/600, crop an absolute-range 384x600 patch and resize as in the first branch.
# Named so that it does not collide with the ``train_pipeline`` of the config that uses it.
_ms_scales = [(480, 1333), (512, 1333), (544, 1333), (576, 1333), (608, 1333), (640, 1333), (672, 1333),
              (704, 1333), (736, 1333), (768, 1333), (800, 1333)]
detr_ms_crop_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomChoice', transforms=[
        [dict(type='RandomChoiceResize', scales=_ms_scales, keep_ratio=True)],
        [dict(type='RandomChoiceResize', scales=[(400, 1333), (500, 1333), (600, 1333)], keep_ratio=True),
         dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600), allow_negative_crop=True),
         dict(type='RandomChoiceResize', scales=_ms_scales, keep_ratio=True)],
    ]),
    dict(type='PackDetInputs'),
]
