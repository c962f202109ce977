"""mmseg's cross-entropy with class weights that also works where labels are ignored.

mmseg 1.2.2 averages a class-weighted ``CrossEntropyLoss`` by ``class_weight[label]`` summed over every
pixel, ignored ones included, so a single ignored pixel (255, which the data preprocessor pads with
whenever an image is smaller than its ``size``) raises ``IndexError: index 255 is out of bounds``.
This computes that average itself, over the labelled pixels only (what ``F.cross_entropy`` does), and
hands it to mmseg's loss as ``avg_factor``: where mmseg's works the two are equal."""
from mmseg.models.losses import CrossEntropyLoss
from mmseg.models.losses.cross_entropy_loss import cross_entropy
from mmseg.registry import MODELS


@MODELS.register_module()
class ClassWeightedCrossEntropyLoss(CrossEntropyLoss):
    """``CrossEntropyLoss`` (same arguments) whose class-weighted mean ignores ``ignore_index`` pixels."""

    def forward(self, cls_score, label, weight=None, avg_factor=None, reduction_override=None,
                ignore_index=-100, **kwargs):
        reduction = reduction_override or self.reduction
        if (self.class_weight is not None and self.cls_criterion is cross_entropy and avg_factor is None
                and reduction == 'mean'):
            labelled = label[label != ignore_index]
            avg_factor = cls_score.new_tensor(self.class_weight)[labelled].sum()
        return super().forward(cls_score, label, weight=weight, avg_factor=avg_factor,
                               reduction_override=reduction_override, ignore_index=ignore_index, **kwargs)
