"""mmseg_custom's ClassWeightedCrossEntropyLoss (the demo's loss): mmseg's class-weighted cross-entropy
where that works, PyTorch's weighted mean over the labelled pixels where mmseg's fails (ignored pixels)."""
import pytest
import torch
import torch.nn.functional as F

WEIGHTS = [1.0, 3.3, 4.4, 5.2]


def logits_and_labels(ignored):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 12, 10, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 4, (2, 12, 10), generator=gen)
    if ignored:
        labels[0, -3:] = 255  # the data preprocessor's padding
        labels[1, :, -2:] = 255
    return logits, labels


def build(**kwargs):
    import mmseg_custom  # noqa: F401
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmseg'):  # whatever scope an earlier test left current
        return MODELS.build(dict(type='ClassWeightedCrossEntropyLoss', class_weight=WEIGHTS, loss_weight=0.4,
                                 **kwargs))


def test_equals_mmseg_loss_without_ignored_pixels():
    from mmseg.models.losses import CrossEntropyLoss
    logits, labels = logits_and_labels(ignored=False)
    ours = build()(logits, labels, ignore_index=255)
    stock = CrossEntropyLoss(class_weight=WEIGHTS, loss_weight=0.4)(logits, labels, ignore_index=255)
    torch.testing.assert_close(ours, stock, rtol=1e-12, atol=0)


@pytest.mark.parametrize('avg_non_ignore', [False, True])
def test_weighted_mean_over_labelled_pixels(avg_non_ignore):
    logits, labels = logits_and_labels(ignored=True)
    logits.requires_grad_(True)
    ours = build(avg_non_ignore=avg_non_ignore)(logits, labels, ignore_index=255)
    expected = 0.4 * F.cross_entropy(logits, labels, weight=logits.new_tensor(WEIGHTS), ignore_index=255)
    torch.testing.assert_close(ours, expected, rtol=1e-9, atol=0)  # mmseg adds float32 eps to the divisor
    grad, = torch.autograd.grad(ours, logits)
    assert grad[0, :, -3:].abs().max() == 0 and grad[0, :, :-3].abs().min() > 0  # ignored pixels learn nothing
