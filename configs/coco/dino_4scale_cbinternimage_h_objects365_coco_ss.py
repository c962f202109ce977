# DINO (4 feature levels) with CB-InternImage-H (two InternImage-H, composite), fine-tuned on COCO from
# the published Objects365 detector: box mAP 64.5 single-scale and 65.0 with test-time augmentation
# published, 2178.56M parameters (published layout). As the DINO-H config, with the composite backbone:
# the detector predicts from the lead backbone's features; in training the assistant backbone's
# features go through the same neck and head too, their losses weighted 0.5 (CBDINO / CBDINOHead).
# Multi-scale and flip testing: ``tools/test.py CONFIG CHECKPOINT --tta`` (tta_model / tta_pipeline
# below; the published TTA recipe is not published, these scales are ours).
_base_ = ['./dino_4scale_internimage_h_objects365_coco_ss.py']

load_from = 'https://huggingface.co/OpenGVLab/InternImage/resolve/main/dino_4scale_cbinternimage_h_objects365_80classes.pth'
model = dict(
    type='CBDINO',
    backbone=dict(type='CBInternImage', out_indices=[(0, 1, 2, 3), (1, 2, 3)]),
    bbox_head=dict(type='CBDINOHead'))

tta_model = dict(type='DetTTAModel', tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=300))
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale=scale, keep_ratio=True) for scale in [(2000, 800), (2000, 1000), (2000, 1200)]],
        [dict(type='RandomFlip', prob=1.0), dict(type='RandomFlip', prob=0.0)],
        [dict(type='LoadAnnotations', with_bbox=True)],
        [dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                                               'flip', 'flip_direction'))],
    ]),
]
