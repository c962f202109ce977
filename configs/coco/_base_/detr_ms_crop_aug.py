# The DETR-style multi-scale training augmentation of the published 3x and DINO recipes:
# random flip, then either resize the short side to 480..800 (step 32, long side <= 1333), or resize
# to 400/500/600, crop an absolute-range 384x600 patch and resize as in the first branch.
# Named so that they do not collide with the ``train_pipeline`` of the config that uses them.
_ms_scales = [(480, 1333), (512, 1333), (544, 1333), (576, 1333), (608, 1333), (640, 1333), (672, 1333),
              (704, 1333), (736, 1333), (768, 1333), (800, 1333)]


def _detr_ms_crop(with_mask, crop_long_side, allow_negative_crop):
    return [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=with_mask),
        dict(type='RandomFlip', prob=0.5),
        dict(type='RandomChoice', transforms=[
            [dict(type='RandomChoiceResize', scales=_ms_scales, keep_ratio=True)],
            [dict(type='RandomChoiceResize', scales=[(s, crop_long_side) for s in (400, 500, 600)],
                  keep_ratio=True),
             dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
                  allow_negative_crop=allow_negative_crop),
             dict(type='RandomChoiceResize', scales=_ms_scales, keep_ratio=True)],
        ]),
        dict(type='PackDetInputs'),
    ]


# Mask R-CNN / Cascade 3x: masks, 1333 before the crop, crops without a box allowed.
detr_ms_crop_train_pipeline = _detr_ms_crop(with_mask=True, crop_long_side=1333, allow_negative_crop=True)
# Box-only Cascade (CrowdHuman): no masks, 1333 before the crop, crops without a box allowed.
detr_ms_crop_box_train_pipeline = _detr_ms_crop(with_mask=False, crop_long_side=1333, allow_negative_crop=True)
# DINO: boxes only, 4200 before the crop (no long-side limit), crops keep at least one box.
dino_ms_crop_train_pipeline = _detr_ms_crop(with_mask=False, crop_long_side=4200, allow_negative_crop=False)
