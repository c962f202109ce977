# Mask R-CNN with InternImage-T, COCO 1x, with the DCNv4 kernel underneath the DCNv3 layers
# (published: "support DCNv4 in InternImage"). Same parameters, checkpoints and outputs as
# mask_rcnn_internimage_t_fpn_1x_coco.py: the softmaxed mask and the offsets are packed into
# DCNv4's one offset_mask tensor and sampled by ops_dcnv3::dcnv4_forward.
_base_ = ['./mask_rcnn_internimage_t_fpn_1x_coco.py']

model = dict(backbone=dict(use_dcn_v4_op=True))
