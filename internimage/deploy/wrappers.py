"""What is exported per task: the model fed RGB pixels (its normalisation first) and returning tensors.

- classifier (mmpretrain): ``logits`` (N, classes);
- segmentor (mmseg, UPerNet, Mask2Former): ``seg_logits`` (N, classes, H, W), at input resolution;
- detector (mmdet): its predict path, which mmdeploy's rewriters turn into ``dets``, ``labels`` (and
  ``masks``) during the export.
"""
from torch import nn

from .normalisation import Normalize

OUTPUT_NAMES = {'classification': 'logits', 'segmentation': 'seg_logits'}


class NormalizedModel(nn.Module):
    """A model fed RGB pixels: its normalisation first (subclasses pick the model's output)."""

    def __init__(self, model):
        super().__init__()
        self.normalize = Normalize(model)
        self.model = model
        # The TorchScript exporter puts every module back in the wrapper's mode after exporting:
        # a wrapper left in training mode would switch drop-path and dropout on in the model.
        self.eval()


class ClassifierLogits(NormalizedModel):
    def forward(self, pixels):
        return self.model(self.normalize(pixels), mode='tensor')


class SegmentorLogits(NormalizedModel):
    """Seg logits at input resolution (UPerNet and Mask2Former alike: the head's own predict)."""

    def forward(self, pixels):
        shape = pixels.shape[2:]
        # The heads read the first image's meta only (one size per batch); one entry keeps the
        # batch size out of Python, so that it stays dynamic.
        metas = [dict(img_shape=shape, pad_shape=shape, ori_shape=shape)]
        return self.model.encode_decode(self.normalize(pixels), metas)


class DetectorPredict(NormalizedModel):
    """Normalisation, then the detector's predict path (rewritten by mmdeploy during export)."""

    def forward(self, pixels, data_samples=None, mode='predict'):
        return self.model(self.normalize(pixels), data_samples, mode=mode)


def dense_wrapper(model, task):
    """The classifier's or segmentor's wrapper and its output's name."""
    wrapper = {'classification': ClassifierLogits, 'segmentation': SegmentorLogits}[task]
    return wrapper(model), OUTPUT_NAMES[task]


def det_data_samples(batch, height, width):
    from mmdet.structures import DetDataSample
    shape = (height, width)
    return [DetDataSample(metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape,
                                        batch_input_shape=shape, scale_factor=(1.0, 1.0)))
            for _ in range(batch)]
