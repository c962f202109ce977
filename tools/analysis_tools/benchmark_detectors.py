"""Benchmark whole detectors and segmentors on the CPU: ours against mmdet's and mmseg's stock models.

One image (batch 1), random weights (each model's own initialisation), the models of one task
built in one process and timed interleaved (benchmark_dcnv3.measure: one call of each in turn
per round, rotating the order), so that load from other processes hits them alike. For each
precision asked (float32, and bfloat16 autocast) the table gives median/best seconds per image
and our model's ratio to each model it is compared with (above 1: ours is faster), measured in
the same run; for bfloat16 also its speed-up over float32 and its output's error against
float32 (segmentation: largest logit difference over the largest logit; detection: the
detections both keep, matched by label and IoU >= 0.9, their largest box difference in pixels
and score difference). Then a profile of where our models' time goes (the operators taking the
most self time, one call each), and a training step (forward + backward of the losses) of our
DINO-T at a small size against the same model on mmcv's attention and mmdet's DINO R50.

Ours: InternImage-T and FlashInternImage-T Mask R-CNN, Cascade (InternImage-L's layout at a reduced
width unless --full-cascade), DINO-T, InternImage-T and FlashInternImage-T UPerNet, FlashInternImage-T
Mask2Former, Mask2Former-H small (InternImage-H's layout on a small backbone at mmseg's stock widths);
``dino_t_mmcv_attn`` is our DINO-T on mmcv's deformable attention, i.e. before the op package had one.
Stock (the installed packages' configs): Mask R-CNN ConvNeXt-T and Swin-T, DINO R50, UPerNet ConvNeXt-T
and Swin-T, Mask2Former R50 and Swin-T. mmdet has no Cascade of a size comparable to InternImage-L's,
so the Cascade has no pair. All of them run with the plugins' CPU paths for mmcv's RoIAlign and NMS
(internimage.models.mmcv_cpu_ops), ours and the stock ones alike; ``--stock-mmcv-ops`` measures
without them. The R-CNNs (Mask R-CNN, Cascade) test with ``score_thr=0``, so that each returns its
``max_per_img`` (100) detections and runs its mask head on 100 RoIs, as a trained model does on a
COCO image: with random weights and the configs' 0.05 a model kept anything from 0 to 100 boxes, and
the mask head alone (100 RoIs: about 1 s) decided the comparison. The run ends with the table of ratios (markdown) that the README quotes.

    python tools/analysis_tools/benchmark_detectors.py --threads 2                                  # everything
    python tools/analysis_tools/benchmark_detectors.py --threads 2 --models dino_t dino_r50 --repeat 3
    python tools/analysis_tools/benchmark_detectors.py --det-size 256,256 --seg-size 64,64 --train-size 256,256 \\
        --repeat 1 --models dino_t dino_r50 upernet_t                                # a quick check
"""
import argparse
import importlib.util
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'tools/analysis_tools'))
sys.path.insert(0, str(ROOT / 'tests'))  # the reduced Mask2Former, as the export test builds it
from benchmark_dcnv3 import measure, summary  # noqa: E402
from reduced_models import MASK2FORMER_STOCK_WIDTHS  # noqa: E402

from internimage.models.mmcv_cpu_ops import use_stock_cpu_roi_ops  # noqa: E402

OURS_DET, OURS_SEG = ROOT / 'configs/coco', ROOT / 'configs/ade20k'
# InternImage-L's Cascade layout (class-specific box heads, 3 stages, mask head) on a reduced backbone.
REDUCED_BACKBONE = {'model.backbone.channels': 64, 'model.backbone.depths': [2, 2, 6, 2],
                    'model.backbone.groups': [4, 8, 16, 32], 'model.neck.in_channels': [64, 128, 256, 512]}
# Mask2Former-H's backbone flags and head layout at mmseg's stock Mask2Former widths (as
# tests/test_onnx_models.py), on an InternImage-T-sized backbone.
SMALL_MASK2FORMER = {
    'model.backbone.channels': 64, 'model.backbone.depths': [4, 4, 18, 4], 'model.backbone.groups': [4, 8, 16, 32],
    'model.backbone.level2_post_norm_block_ids': [5, 11, 17], 'model.decode_head.in_channels': [64, 128, 256, 512],
    **MASK2FORMER_STOCK_WIDTHS}

# name: (config, cfg_options, task, ours?, the models ours is compared with)
MODELS = {
    'mask_rcnn_t': (OURS_DET / 'mask_rcnn_internimage_t_fpn_1x_coco.py', None, 'detection', True,
                    ('mask_rcnn_convnext_t', 'mask_rcnn_swin_t')),
    'mask_rcnn_flash_t': (OURS_DET / 'mask_rcnn_flash_intern_image_t_fpn_1x_coco.py', None, 'detection', True,
                          ('mask_rcnn_convnext_t', 'mask_rcnn_swin_t', 'mask_rcnn_t')),
    'cascade_l_reduced': (OURS_DET / 'cascade_internimage_l_fpn_1x_coco.py', REDUCED_BACKBONE, 'detection', True, ()),
    'dino_t': (OURS_DET / 'dino_4scale_internimage_t_1x_coco_layer_wise_lr.py', None, 'detection', True,
               ('dino_r50', 'dino_t_mmcv_attn')),
    'dino_t_mmcv_attn': (OURS_DET / 'dino_4scale_internimage_t_1x_coco_layer_wise_lr.py', None, 'detection', False,
                         ()),
    'upernet_t': (OURS_SEG / 'upernet_internimage_t_512_160k_ade20k.py', None, 'segmentation', True,
                  ('upernet_convnext_t', 'upernet_swin_t')),
    'upernet_flash_t': (OURS_SEG / 'upernet_flash_internimage_t_512_160k_ade20k.py', None, 'segmentation', True,
                        ('upernet_convnext_t', 'upernet_swin_t', 'upernet_t')),
    'mask2former_flash_t': (OURS_SEG / 'mask2former_flash_internimage_t_512_160k_ade20k_ss.py', None, 'segmentation',
                            True, ('mask2former_swin_t', 'mask2former_r50')),
    'mask2former_h_small': (OURS_SEG / 'mask2former_internimage_h_896_80k_cocostuff2ade20k_ss.py', SMALL_MASK2FORMER,
                            'segmentation', True, ('mask2former_r50', 'mask2former_swin_t')),
    'mask_rcnn_convnext_t': ('mmdet::convnext/mask-rcnn_convnext-t-p4-w7_fpn_amp-ms-crop-3x_coco.py', None,
                             'detection', False, ()),
    'mask_rcnn_swin_t': ('mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py', None, 'detection', False, ()),
    'dino_r50': ('mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py', None, 'detection', False, ()),
    'upernet_convnext_t': ('mmseg::convnext/convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py', None,
                           'segmentation', False, ()),
    'upernet_swin_t': ('mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py', None,
                       'segmentation', False, ()),
    'mask2former_r50': ('mmseg::mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py', None, 'segmentation',
                        False, ()),
    'mask2former_swin_t': ('mmseg::mask2former/mask2former_swin-t_8xb2-160k_ade20k-512x512.py', None, 'segmentation',
                           False, ()),
}
TRAIN_MODELS = ('dino_t', 'dino_t_mmcv_attn', 'dino_r50')


def config_path(config):
    """A path, or 'package::relative path' of a config the installed package ships (in its .mim)."""
    if isinstance(config, Path):
        return str(config)
    package, relative = config.split('::')
    return str(Path(importlib.util.find_spec(package).origin).parent / '.mim/configs' / relative)


def build(name, full_cascade=False):
    """(model in eval mode, task), random weights drawn from a seeded generator."""
    from mmengine.config import Config
    from internimage.deploy.model import load_model
    config, options, task, _, _ = MODELS[name]
    if name == 'cascade_l_reduced' and full_cascade:
        options = None
    cfg = Config.fromfile(config_path(config))
    rcnn = cfg.model.get('test_cfg', {}).get('rcnn')
    if rcnn is not None:  # every two-stage model keeps its max_per_img detections (module docstring)
        rcnn.score_thr = 0.0
    torch.manual_seed(0)
    _, model, _ = load_model(cfg, cfg_options=options)
    if name == 'dino_t_mmcv_attn':  # back to mmcv's module: the model as it ran before the op
        from mmcv.ops.multi_scale_deform_attn import MultiScaleDeformableAttention
        from internimage.models.ms_deform_attn import OpsMultiScaleDeformableAttention
        for module in model.modules():
            if type(module) is OpsMultiScaleDeformableAttention:
                module.__class__ = MultiScaleDeformableAttention
    return model, task


def pixels(size):
    from internimage.deploy.verify import sample_pixels
    return sample_pixels(1, *size)


def infer(model, task, image):
    """The model's outputs on ``image`` (float32 numpy): segmentation logits, or (boxes, scores, labels)."""
    from internimage.deploy.normalisation import Normalize
    from internimage.deploy.wrappers import dense_wrapper, det_data_samples
    if task == 'segmentation':
        return dense_wrapper(model, task)[0](image).float().numpy()
    found = model.predict(Normalize(model)(image), det_data_samples(1, *image.shape[2:]))[0].pred_instances
    return found.bboxes.float().numpy(), found.scores.float().numpy(), found.labels.numpy()


def output_error(task, got, expected):
    """bfloat16's error against float32 (see the module docstring)."""
    if task == 'segmentation':
        return f'logits {np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-12):.1e}'
    from internimage.deploy.verify import match_detections
    pairs = match_detections(got, expected)
    box = max((float(np.abs(got[0][i] - expected[0][j]).max()) for i, j in pairs), default=0.0)
    score = max((float(abs(got[1][i] - expected[1][j])) for i, j in pairs), default=0.0)
    return f'{len(pairs)}/{len(expected[0])} matched, box {box:.2f} px, score {score:.1e}'


def autocast(precision):
    return torch.autocast('cpu', dtype=torch.bfloat16, enabled=precision == 'bfloat16')


def inference(names, models, size, precisions, repeat):
    image = pixels(size)
    task = models[names[0]][1]
    print(f'\n{task} inference, one {size[0]}x{size[1]} image, seconds (median/best of {repeat} rounds)')
    results, outputs = {}, {}
    for precision in precisions:
        calls = {}
        for name in names:
            model, _ = models[name]

            def call(model=model, precision=precision, name=name):
                with torch.no_grad(), autocast(precision):
                    outputs[name, precision] = infer(model, task, image)
            calls[name] = call
        results[precision] = {k: [ms / 1e3 for ms in v] for k, v in measure(calls, 'cpu', repeat, warm_up=1).items()}
    for precision in precisions:
        med, best, cell = summary(results[precision])
        for name in names:
            line = f'  {name:22} {precision:9} {cell(name)} s'
            if precision == 'bfloat16' and 'float32' in results:
                speed_up = summary(results['float32'])[0][name] / med[name]
                error = output_error(task, outputs[name, 'bfloat16'], outputs[name, 'float32'])
                line += f'  x{speed_up:.2f} over float32; {error}'
            for other in MODELS[name][4]:
                if other in med:
                    line += f'  {other}/ours {med[other] / med[name]:.2f}'
            print(line, flush=True)
    return {precision: summary(results[precision])[0] for precision in precisions}


def ratio_table(medians, precisions):
    """Markdown: each of our models against each model it is compared with, per precision."""
    print('\n| ours | theirs | ' + ' | '.join(f'{p} ours s | theirs s | ratio' for p in precisions) + ' |')
    print('|---|---|' + '---|---|---|' * len(precisions))
    for name, spec in MODELS.items():
        for other in spec[4]:
            if name in medians and other in medians:
                cells = []
                for p in precisions:
                    ours, theirs = medians[name].get(p), medians[other].get(p)
                    cells.append(f'{ours:.2f} | {theirs:.2f} | {theirs / ours:.2f}' if ours and theirs else '- | - | -')
                print(f'| {name} | {other} | ' + ' | '.join(cells) + ' |')


def profile(name, model, task, size, rows):
    """The operators taking the most self CPU time in one float32 inference of ``model``."""
    from torch.profiler import ProfilerActivity, profile as torch_profile
    image = pixels(size)
    with torch.no_grad():
        infer(model, task, image)  # warm
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            infer(model, task, image)
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    print(f'\nprofile of {name} ({size[0]}x{size[1]}, float32): share of self CPU time by operator')
    for event in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:rows]:
        print(f'  {event.key[:60]:60} {100 * event.self_cpu_time_total / total:5.1f}%  '
              f'{event.self_cpu_time_total / 1e3:9.1f} ms  {event.count:6d} calls')


def training_step(names, size, repeat):
    """Forward + backward of the losses on one image with two boxes, seconds per step."""
    from internimage.deploy.normalisation import Normalize
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    image = pixels(size)
    h, w = size
    calls = {}
    for name in names:
        model, _ = build(name)
        model.train()
        sample = DetDataSample(metainfo=dict(img_shape=size, ori_shape=size, pad_shape=size, batch_input_shape=size,
                                             scale_factor=(1.0, 1.0)))
        sample.gt_instances = InstanceData(bboxes=torch.tensor([[0.1 * w, 0.2 * h, 0.6 * w, 0.7 * h],
                                                                [0.4 * w, 0.1 * h, 0.9 * w, 0.5 * h]]),
                                           labels=torch.tensor([3, 17]))
        normalize = Normalize(model)

        def step(model=model, sample=sample, normalize=normalize):
            losses = model.loss(normalize(image).float(), [sample])
            total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(x.sum() for x in v) for k, v in losses.items()
                        if 'loss' in k)
            model.zero_grad(set_to_none=True)
            total.backward()
        calls[name] = step
    samples = {k: [ms / 1e3 for ms in v] for k, v in measure(calls, 'cpu', repeat, warm_up=1).items()}
    med, best, cell = summary(samples)
    print(f'\ntraining step (forward + backward), one {h}x{w} image, seconds (median/best of {repeat} rounds)')
    for name in names:
        ratios = ''.join(f'  {other}/ours {med[other] / med[name]:.2f}' for other in MODELS[name][4] if other in med)
        print(f'  {name:22} {cell(name)} s{ratios}', flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', choices=sorted(MODELS), help='models (default: all)')
    parser.add_argument('--threads', type=int, default=2, help='CPU threads (default: 2)')
    parser.add_argument('--repeat', type=int, default=5, help='interleaved rounds (default: 5)')
    parser.add_argument('--precision', nargs='+', default=['float32', 'bfloat16'], choices=['float32', 'bfloat16'])
    parser.add_argument('--det-size', default='800,1344', help='detection input H,W (default: 800,1344)')
    parser.add_argument('--seg-size', default='512,512', help='UPerNet input H,W (default: 512,512)')
    parser.add_argument('--mask2former-size', default='512,512',
                        help="Mask2Former input H,W (default: 512,512, FlashInternImage-T's and the stock models' test "
                             'size)')
    parser.add_argument('--stock-mmcv-ops', action='store_true',
                        help="mmcv's own CPU RoIAlign and NMS (no internimage.models.mmcv_cpu_ops): the figures before")
    parser.add_argument('--train-size', default='320,320', help="DINO training step's input H,W (default: 320,320)")
    parser.add_argument('--no-train', action='store_true', help='skip the training step')
    parser.add_argument('--profile-rows', type=int, default=12, help='operators per profile (0: no profile)')
    parser.add_argument('--full-cascade', action='store_true', help="Cascade at InternImage-L's full width")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # each model's init_weights report
    size = {key: tuple(int(v) for v in getattr(args, key).split(','))
            for key in ('det_size', 'seg_size', 'mask2former_size', 'train_size')}
    names = args.models or list(MODELS)
    load = os.getloadavg()
    print(f'torch {torch.__version__}; {torch.get_num_threads()} CPU threads; load average {load[0]:.2f} '
          f'{load[1]:.2f}; wall time')
    medians = {}  # name: {precision: median seconds}
    groups = {  # models timed together: one task, one input size
        'detection': ([n for n in names if MODELS[n][2] == 'detection'], size['det_size']),
        'upernet': ([n for n in names if n.startswith('upernet')], size['seg_size']),
        'mask2former': ([n for n in names if n.startswith('mask2former')], size['mask2former_size'])}
    for group, (members, group_size) in groups.items():
        if not members:
            continue
        models = {name: build(name, args.full_cascade) for name in members}
        if args.stock_mmcv_ops:
            use_stock_cpu_roi_ops()
        for precision, med in inference(members, models, group_size, args.precision, args.repeat).items():
            for name, seconds in med.items():
                medians.setdefault(name, {})[precision] = seconds
        for name in members:
            if MODELS[name][3] and args.profile_rows:
                profile(name, *models[name], group_size, args.profile_rows)
        del models
    ratio_table(medians, args.precision)
    train = [n for n in TRAIN_MODELS if n in names]
    if train and not args.no_train:
        training_step(train, size['train_size'], args.repeat)


if __name__ == '__main__':
    main()
