"""mmdeploy rewriters where mmdeploy 1.3.1's own differ from what mmdet computes (imported for their
registration). Registered for the ONNX Runtime backend, they are chosen over mmdeploy's defaults.

- Cascade R-CNN with class-specific box regression: mmdeploy's rewrite of
  ``CascadeRoIHead.predict_bbox`` refines the RoIs between stages only for class-agnostic box heads
  (it asserts ``reg_class_agnostic``); the published InternImage Cascade heads regress per class.
  mmdet refines each RoI with the deltas of its highest-scoring foreground class
  (``BBoxHead.regress_by_class``). The rewriter runs mmdeploy's rewrite with the intermediate
  stages' box forward handing over those deltas, batched, as a class-agnostic head would; the last
  stage keeps its per-class deltas for the box head's ``predict_by_feat`` (the third rewriter).
- RPN proposals: mmdeploy's ``RPNHead.predict_by_feat`` runs one NMS over all pyramid levels
  together and drops proposals scoring under the deploy config's detection threshold (0.05); mmdet
  runs the NMS within each level (``batched_nms`` by level) and keeps every proposal, only dropping
  empty boxes. From other proposals, Cascade's refined boxes came out pixels apart from mmdet's.
  The rewriter does mmdet's: the level is the NMS "class", so ONNX's multi-class
  ``NonMaxSuppression`` suppresses within each level.
- Second-stage detections with class-specific box heads (Mask R-CNN, Cascade): mmdeploy's
  ``BBoxHead.predict_by_feat`` gives all of a RoI's detections the box regressed for its top class;
  mmdet gives each class its own box. The rewriter hands the NMS one row per (RoI, class), the
  class's box with only that class's score, as mmdet's ``multiclass_nms`` does.
"""
import contextlib

import torch
import torch.nn.functional as F
from mmdeploy.codebase.mmdet.deploy import gather_topk, get_post_processing_params
from mmdeploy.codebase.mmdet.models.roi_heads.cascade_roi_head import cascade_roi_head__predict_bbox
from mmdeploy.core import FUNCTION_REWRITER
from mmdeploy.mmcv.ops import multiclass_nms
from mmdet.structures.bbox import get_box_tensor


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


@FUNCTION_REWRITER.register_rewriter('mmdet.models.dense_heads.rpn_head.RPNHead.predict_by_feat', backend='onnxruntime')
def rpn_head__predict_by_feat__per_level_nms(self, cls_scores, bbox_preds, score_factors=None, batch_img_metas=None,
                                             cfg=None, rescale=False, with_nms=True, **kwargs):
    """(dets (B, K, 5), levels (B, K)): mmdet's proposals, batched."""
    if not with_nms:
        raise ValueError('RPNHead.predict_by_feat: proposals need the NMS (with_nms=True), as in mmdet')
    cfg = self.test_cfg if cfg is None else cfg
    batch = cls_scores[0].shape[0]
    num_levels = len(cls_scores)
    priors = self.prior_generator.grid_priors([score.shape[-2:] for score in cls_scores], device=cls_scores[0].device)
    nms_pre = cfg.get('nms_pre', -1)
    boxes, level_scores = [], []
    for level, (cls_score, bbox_pred, anchors) in enumerate(zip(cls_scores, bbox_preds, priors)):
        cls_score = cls_score.permute(0, 2, 3, 1)
        if self.use_sigmoid_cls:
            scores = cls_score.reshape(batch, -1).sigmoid()
        else:
            scores = cls_score.reshape(batch, -1, 2).softmax(-1)[..., 0]
        deltas = bbox_pred.permute(0, 2, 3, 1).reshape(batch, -1, self.bbox_coder.encode_size)
        anchors = anchors.unsqueeze(0)
        if nms_pre > 0:  # the level's best nms_pre (mmdeploy's topk rewrite caps k at the count)
            _, top = scores.topk(nms_pre)
            deltas, scores = gather_topk(deltas, scores, inds=top, batch_size=batch, is_batched=True)
            anchors = gather_topk(anchors, inds=top, batch_size=batch, is_batched=False)
        level_boxes = self.bbox_coder.decode(anchors, deltas, max_shape=batch_img_metas[0]['img_shape'])
        if cfg.get('min_bbox_size', -1) >= 0:  # mmdet drops boxes not wider and taller than this
            width = level_boxes[..., 2] - level_boxes[..., 0]
            height = level_boxes[..., 3] - level_boxes[..., 1]
            scores = scores * ((width > cfg.min_bbox_size) & (height > cfg.min_bbox_size)).to(scores.dtype)
        # One column per level: the score in the box's own level, 0 (never kept) in the others.
        columns = (torch.arange(num_levels, device=scores.device) == level).to(scores.dtype)
        boxes.append(level_boxes)
        level_scores.append(scores.unsqueeze(-1) * columns)
    max_per_img = cfg.max_per_img
    return multiclass_nms(torch.cat(boxes, 1), torch.cat(level_scores, 1), max_per_img,
                          nms_type=cfg.nms.get('type', 'nms'), iou_threshold=cfg.nms.iou_threshold,
                          score_threshold=0.0, pre_top_k=-1, keep_top_k=max_per_img)


@FUNCTION_REWRITER.register_rewriter('mmdet.models.roi_heads.bbox_heads.bbox_head.BBoxHead.predict_by_feat',
                                     backend='onnxruntime')
def bbox_head__predict_by_feat__per_class_boxes(self, rois, cls_scores, bbox_preds, batch_img_metas, rcnn_test_cfg,
                                                rescale=False):
    """(dets (B, K, 5), labels (B, K)) of the RoIs (B, N, 5), each class's detection with its own box."""
    if bbox_preds is None:
        raise NotImplementedError(f'{type(self).__name__}: ONNX export needs a box head with regression')
    post_params = get_post_processing_params(FUNCTION_REWRITER.get_context().cfg)
    scores = self.loss_cls.get_activation(cls_scores) if self.custom_cls_channels else F.softmax(cls_scores, -1)
    scores = scores[..., :self.num_classes]
    boxes = get_box_tensor(self.bbox_coder.decode(rois[..., 1:], bbox_preds, max_shape=batch_img_metas[0]['img_shape']))
    if not self.reg_class_agnostic:  # (B, N, C*4) boxes -> (B, N*C) rows, one class scored in each
        batch, num_rois, classes = scores.shape
        # 4 coordinates written out: with -1 the exported Reshape leaves the box axis unknown, and
        # OpenVINO's CPU NonMaxSuppression wants it known ("unsupported 'boxes' input 3rd dimension").
        boxes = boxes.reshape(batch, num_rois * classes, 4)
        one_class = torch.eye(classes, dtype=scores.dtype, device=scores.device)
        scores = (scores.unsqueeze(-1) * one_class).reshape(batch, num_rois * classes, classes)
    nms = rcnn_test_cfg.nms
    return multiclass_nms(boxes, scores, post_params.max_output_boxes_per_class, nms_type=nms.get('type', 'nms'),
                          iou_threshold=nms.get('iou_threshold', post_params.iou_threshold),
                          score_threshold=rcnn_test_cfg.get('score_thr', post_params.score_threshold),
                          pre_top_k=-1, keep_top_k=rcnn_test_cfg.get('max_per_img', post_params.keep_top_k))
