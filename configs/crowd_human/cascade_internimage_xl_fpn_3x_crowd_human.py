# Cascade R-CNN (boxes only) with InternImage-XL on CrowdHuman (one class: person, full-body boxes), 3x:
# the published README reports no result; 374,369,277 parameters (published layout). As the COCO XL 3x
# config (../coco/cascade_internimage_xl_fpn_3x_coco.py: backbone from the published ImageNet-22K 384
# weights, DETR-style multi-scale crop augmentation, 36 epochs with steps at 27 and 33, 2 images per GPU)
# with mmdet's stock Cascade R-CNN box heads (two shared fcs, class-agnostic regression, smooth L1), no mask
# head, drop path 0.4, AdamW lr 1e-4 with weight decay 1e-4, layer-wise decay 39 / 0.94 (no DCNv3 offset lr
# scale), no weight averaging. Data: the CrowdHuman release as mmdet 3 reads it (CrowdHumanDataset:
# annotation_{train,val}.odgt and Images/; boxes tagged "mask" or marked ignore are ignored regions), scored
# with mmdet's CrowdHumanMetric (AP, MR^-2 and JI) after every epoch. The published evaluation ran COCO-style
# box AP on a converted json and returned nothing (configs/crowd_human/README.md).
_base_ = ['../coco/cascade_internimage_xl_fpn_3x_coco.py']


def _box_head(target_stds):
    """mmdet's Cascade R-CNN box head of one stage, for one class, ``target_stds`` apart per stage."""
    return dict(
        type='Shared2FCBBoxHead', in_channels=256, fc_out_channels=1024, roi_feat_size=7, num_classes=1,
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.], target_stds=target_stds),
        reg_class_agnostic=True, loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0))


model = dict(
    backbone=dict(drop_path_rate=0.4),
    roi_head=dict(mask_roi_extractor=None, mask_head=None, bbox_head=[_box_head(stds) for stds in (
        [0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067])]))

data_root = 'data/CrowdHuman/'
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# CrowdHumanDataset reads each image's size once and caches it in data_root (id_hw_{train,val}.json).
train_dataloader = dict(dataset=dict(
    _delete_=True, type='CrowdHumanDataset', data_root=data_root, ann_file='annotations/annotation_train.odgt',
    data_prefix=dict(img='Images/'), pipeline={{_base_.detr_ms_crop_box_train_pipeline}}))
val_dataloader = dict(dataset=dict(
    _delete_=True, type='CrowdHumanDataset', data_root=data_root, ann_file='annotations/annotation_val.odgt',
    data_prefix=dict(img='Images/'), test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='CrowdHumanMetric', ann_file=data_root + 'annotations/annotation_val.odgt',
                     metric=['AP', 'MR', 'JI'])
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=1e-4, weight_decay=1e-4), paramwise_cfg=dict(
    _delete_=True, num_layers=39, layer_decay_rate=0.94, depths=[5, 5, 24, 5]))
custom_hooks = []
# As published: validation every 100 epochs, i.e. not during the 36 (test with tools/test.py).
train_cfg = dict(val_interval=100)
