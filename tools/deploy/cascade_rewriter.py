"""Cascade R-CNN with class-specific box regression through mmdeploy (imported for its registration).

mmdeploy 1.3.1's rewrite of ``CascadeRoIHead.predict_bbox`` refines the RoIs between stages only
for class-agnostic box heads (it asserts ``reg_class_agnostic``); the published InternImage Cascade
heads regress per class. mmdet refines each RoI with the deltas of its highest-scoring foreground
class (``BBoxHead.regress_by_class``). This rewriter, registered for the ONNX Runtime backend (so
it is chosen over mmdeploy's default one), runs mmdeploy's rewrite with the intermediate stages'
box forward handing over those deltas, batched, as a class-agnostic head would; the last stage keeps
its per-class deltas for mmdeploy's ``predict_by_feat``.
"""
import contextlib

import torch
from mmdeploy.codebase.mmdet.models.roi_heads.cascade_roi_head import cascade_roi_head__predict_bbox
from mmdeploy.core import FUNCTION_REWRITER


def deltas_of_top_class(cls_score, bbox_pred, reg_dim):
    """(R, reg_dim) deltas of each RoI's highest-scoring class (mmdet's background is the last)."""
    labels = cls_score[:, :-1].argmax(dim=1)
    index = (labels * reg_dim)[:, None] + torch.arange(reg_dim, device=labels.device)
    return torch.gather(bbox_pred, 1, index)


@contextlib.contextmanager
def intermediate_stages_class_agnostic(roi_head):
    """Within the context, the intermediate stages of ``roi_head`` look class-agnostic."""
    specific = [stage for stage in range(roi_head.num_stages - 1)
                if not roi_head.bbox_head[stage].reg_class_agnostic]
    bbox_forward = roi_head._bbox_forward

    def forward(stage, x, rois):
        results = bbox_forward(stage, x, rois)
        if stage in specific:
            reg_dim = roi_head.bbox_head[stage].bbox_coder.encode_size
            results['bbox_pred'] = deltas_of_top_class(results['cls_score'], results['bbox_pred'], reg_dim)
        return results

    roi_head._bbox_forward = forward
    for stage in specific:
        roi_head.bbox_head[stage].reg_class_agnostic = True
    try:
        yield
    finally:
        del roi_head._bbox_forward  # the class's method again
        for stage in specific:
            roi_head.bbox_head[stage].reg_class_agnostic = False


@FUNCTION_REWRITER.register_rewriter(
    'mmdet.models.roi_heads.cascade_roi_head.CascadeRoIHead.predict_bbox', backend='onnxruntime')
def cascade_roi_head__predict_bbox__class_specific(self, x, batch_img_metas, rpn_results_list, rcnn_test_cfg,
                                                   rescale=False, **kwargs):
    with intermediate_stages_class_agnostic(self):
        return cascade_roi_head__predict_bbox(self, x, batch_img_metas, rpn_results_list, rcnn_test_cfg,
                                              rescale, **kwargs)
