"""The PyTorch reference for an exported file, computed as tools/test.py computes a prediction: an image
file through the config's own test pipeline, then the model's own data preprocessor and forward, the
model built by the package's own API (as the Runner builds it) with the tested model's weights. It
shares nothing with the exporter's model loading and wrappers, so a normalisation the exporter gets
wrong shows."""
import copy

import numpy as np
import torch
from PIL import Image


def write_image(path, height, width, seed=0):
    """A smooth random RGB image as a JPEG (4:4:4, so that every decoder reads the same pixels)."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray((rng.random((max(height // 8, 2), max(width // 8, 2), 3)) * 255).astype(np.uint8))
    coarse.resize((width, height), Image.BILINEAR).save(path, quality=95, subsampling=0)
    return str(path)


def pipeline_keeping_size(cfg, height, width):
    """The config's test pipeline with its resizing set to keep a (height, width) image as it is, and
    without annotation loading (as mmdet's and mmseg's inference APIs drop it)."""
    steps = []
    for step in copy.deepcopy(cfg.test_dataloader.dataset.pipeline):
        kind = step['type'].split('.')[-1]
        if kind == 'LoadAnnotations':
            continue
        if kind == 'Resize':  # mmcv / mmdet / mmseg: (w, h), or (long, short) bounds with keep_ratio
            step['scale'] = (width, height)
        elif kind == 'ResizeEdge':  # mmpretrain
            step['scale'] = {'short': min, 'long': max}[step.get('edge', 'short')](height, width)
        elif kind == 'CenterCrop':
            step['crop_size'] = (width, height)
        steps.append(step)
    return steps


def package_model(cfg, weights_from):
    """The model as mmpretrain / mmseg / mmdet's own API builds it from ``cfg`` (data preprocessor
    included), with the weights of ``weights_from``."""
    cfg = copy.deepcopy(cfg)
    if cfg.default_scope == 'mmpretrain':
        from mmpretrain.apis import get_model
        model = get_model(cfg, device='cpu')
    elif cfg.default_scope == 'mmseg':
        from mmseg.apis import init_model
        model = init_model(cfg, device='cpu')
    else:
        from mmdet.apis import init_detector
        model = init_detector(cfg, device='cpu')
    model.load_state_dict(weights_from.state_dict(), strict=True)
    return model.eval()


def reference_outputs(cfg, weights_from, image_path, height, width):
    """What the model computes on the image file: classifier logits (C,), segmentor seg logits
    (C, H, W) or detections (boxes, scores, labels) in the image's pixels."""
    from mmengine.dataset import Compose, pseudo_collate
    model = package_model(cfg, weights_from)
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        pipeline = Compose(pipeline_keeping_size(cfg, height, width))
        data = pipeline(dict(img_path=image_path, img_id=0))
    assert tuple(data['inputs'].shape[1:]) == (height, width), data['inputs'].shape
    batch = pseudo_collate([data])
    with torch.no_grad():
        if cfg.default_scope == 'mmpretrain':
            return model(**model.data_preprocessor(batch, False), mode='tensor')[0].numpy()
        sample, = model.test_step(batch)
    if cfg.default_scope == 'mmseg':
        return sample.seg_logits.data.numpy()
    pred = sample.pred_instances
    return [(pred.bboxes.numpy(), pred.scores.numpy(), pred.labels.numpy())]
