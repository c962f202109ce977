"""Draw a model's predictions on an image: boxes and masks (detection) or a label overlay
(segmentation), written as a PNG::

    python tools/image_demo.py IMAGE CONFIG CHECKPOINT --out result.png [--score-thr 0.3]
"""
import argparse
import os.path as osp
import sys

import mmcv
from mmengine.config import Config
from mmengine.utils import import_modules_from_strings

from internimage.checkpoint.safe_loading import CheckpointError, allow_mmengine_checkpoints


def draw_prediction(image_path, config, checkpoint, out_file, score_thr=0.3, device='cpu'):
    """Run the model of ``config`` on one image and save the drawing to ``out_file``."""
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    allow_mmengine_checkpoints()
    image = mmcv.imread(image_path, channel_order='rgb')
    scope = cfg.get('default_scope')
    if scope == 'mmdet':
        from mmdet.apis import inference_detector, init_detector
        from mmdet.registry import VISUALIZERS
        model = init_detector(cfg, checkpoint, device=device)
        result = inference_detector(model, image_path)
        kwargs = dict(pred_score_thr=score_thr)
    elif scope == 'mmseg':
        from mmseg.apis import inference_model, init_model
        from mmseg.registry import VISUALIZERS
        model = init_model(cfg, checkpoint, device=device)
        result = inference_model(model, image_path)
        kwargs = {}
    else:
        sys.exit(f'{config}: image_demo draws detection (mmdet) or segmentation (mmseg) models, '
                 f'not default_scope={scope!r}')
    # No storage backends: the drawing goes to out_file only.
    visualizer = VISUALIZERS.build(dict(cfg.visualizer, vis_backends=[], name=f'image_demo_{out_file}'))
    visualizer.dataset_meta = model.dataset_meta
    visualizer.add_datasample('prediction', image, data_sample=result, draw_gt=False, show=False,
                              out_file=out_file, **kwargs)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('image')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', default='result.png', help='output PNG')
    parser.add_argument('--score-thr', type=float, default=0.3, help='detections below are not drawn')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    for path, what in ((args.image, 'image'), (args.config, 'config'), (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            sys.exit(f'{what} not found: {path}')
    try:
        draw_prediction(args.image, args.config, args.checkpoint, args.out, args.score_thr, args.device)
    except CheckpointError as error:
        sys.exit(str(error))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
