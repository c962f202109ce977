# The published Cascade box heads, one per stage (their target_stds apart): 4 shared 3x3 convs and 1
# shared fc, SyncBN, class-specific regression of decoded boxes with a GIoU loss. FlashInternImage-L 1x
# publishes them as DCNv4FCBBoxHead (with_dcn=False: the same head, same parameters).
# Named so that they do not collide with the settings of the config that uses them.
def _box_head(target_stds, type='ConvFCBBoxHead', **extra):
    return dict(
        type=type, num_shared_convs=4, num_shared_fcs=1, in_channels=256, conv_out_channels=256,
        fc_out_channels=1024, roi_feat_size=7, num_classes=80,
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.], target_stds=target_stds),
        reg_class_agnostic=False, reg_decoded_bbox=True, norm_cfg=dict(type='SyncBN', requires_grad=True),
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=10.0), **extra)


_stage_stds = ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067])
cascade_box_heads = [_box_head(stds) for stds in _stage_stds]
cascade_dcnv4_box_heads = [_box_head(stds, type='DCNv4FCBBoxHead', with_dcn=False) for stds in _stage_stds]
