# ADE20K pipelines at a crop size (512, 640 or 896) for recipes whose base config brings other data (Mask2Former,
# the H recipes): resize to (4 x crop, crop) with ratio 0.5-2.0, crops of that size, flip, photometric
# distortion; labels checked as they load; test images resized to (4 x crop, crop), then to a multiple of 32.
# Named so that they do not collide with the ``train_pipeline``/``test_pipeline`` of the config that uses them.
def _train_pipeline(crop):
    return [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', reduce_zero_label=True),
        dict(type='CheckSegLabels', num_classes=150),
        dict(type='RandomResize', scale=(4 * crop, crop), ratio_range=(0.5, 2.0), keep_ratio=True),
        dict(type='RandomCrop', crop_size=(crop, crop), cat_max_ratio=0.75),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PhotoMetricDistortion'),
        dict(type='PackSegInputs'),
    ]


def _test_pipeline(crop):
    return [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(4 * crop, crop), keep_ratio=True),
        dict(type='ResizeToMultiple', size_divisor=32),
        dict(type='LoadAnnotations', reduce_zero_label=True),
        dict(type='CheckSegLabels', num_classes=150),
        dict(type='PackSegInputs'),
    ]


ade20k_512_train_pipeline, ade20k_512_test_pipeline = _train_pipeline(512), _test_pipeline(512)
ade20k_640_train_pipeline, ade20k_640_test_pipeline = _train_pipeline(640), _test_pipeline(640)
ade20k_896_train_pipeline, ade20k_896_test_pipeline = _train_pipeline(896), _test_pipeline(896)
