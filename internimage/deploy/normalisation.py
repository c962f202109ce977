"""The model's pixel normalisation as a module of the exported graph.

The exported file takes RGB pixels 0-255; what the model's data preprocessor does to a loaded image
(mean, std, channel order) is put in front of the model. It is found by running the preprocessor
itself on probe images, whatever its kind and however it names its flags."""
import torch
from torch import nn


def pixel_normalisation(model):
    """``(mean, std, order)`` such that the model's input channel ``c`` is
    ``(rgb[order[c]] - mean[order[c]]) / std[order[c]]`` for RGB pixels ``rgb``.

    The test pipelines load images BGR (mmcv's convention); the probes are fed in that order."""
    pre = model.data_preprocessor
    probes = torch.zeros(4, 3, 2, 2, dtype=torch.uint8)  # black, then each BGR channel at 255
    for channel in range(3):
        probes[channel + 1, channel] = 255
    responses = _preprocess(pre, probes)[:, :, 0, 0]  # (probe, model channel)
    black, gains = responses[0], (responses[1:] - responses[0]) / 255  # gains[bgr channel, model channel]
    source = gains.abs().argmax(0)
    if sorted(source.tolist()) != [0, 1, 2] or (gains.abs() > 1e-6).sum() != 3:
        raise ValueError(f'{type(pre).__name__}: the data preprocessor does not map each pixel channel onto '
                         f'one input channel (gains {gains.tolist()}); cannot put it in the graph')
    order = [2 - int(bgr) for bgr in source]  # model channel c reads RGB channel order[c]
    mean, std = torch.empty(3, dtype=torch.float64), torch.empty(3, dtype=torch.float64)
    for c, rgb in enumerate(order):
        std[rgb] = 1 / gains[2 - rgb, c]
        mean[rgb] = -black[c] * std[rgb]
    # The map must be affine per channel: check it on a random probe.
    sample = torch.randint(0, 256, (1, 3, 5, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    expected = _preprocess(pre, sample)[:, :, :5, :7]
    got = ((sample.flip(1).double() - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1))[:, order]
    if not torch.allclose(got, expected, rtol=1e-5, atol=1e-5):
        raise ValueError(f'{type(pre).__name__}: the data preprocessor is not a per-channel affine map of the '
                         f'pixels (largest difference {float((got - expected).abs().max()):.3g}); cannot put it in the graph')
    return mean.float(), std.float(), order


def _preprocess(pre, images):
    """The preprocessor's test-mode output for a batch of uint8 images (N, 3, H, W), as float64."""
    from mmengine.structures import BaseDataElement
    # Empty samples: some preprocessors record pad shapes in them (mmseg's with a test_cfg).
    samples = [BaseDataElement() for _ in images]
    with torch.no_grad():
        inputs = pre(dict(inputs=list(images), data_samples=samples), False)['inputs']
    if isinstance(inputs, (list, tuple)):  # a preprocessor that does not stack (mmengine's base one)
        inputs = torch.stack(list(inputs))
    return inputs.double()


class Normalize(nn.Module):
    """RGB pixels -> the model's input, as its data preprocessor computes it from the loaded image."""

    def __init__(self, model):
        super().__init__()
        mean, std, order = pixel_normalisation(model)
        self.register_buffer('mean', mean.view(1, 3, 1, 1))
        self.register_buffer('std', std.view(1, 3, 1, 1))
        self.order = None if order == [0, 1, 2] else order

    def forward(self, pixels):
        normalised = (pixels - self.mean) / self.std
        return normalised if self.order is None else normalised[:, self.order]
