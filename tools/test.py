"""Test (evaluate) a checkpoint with a config, for detection, segmentation or classification::

    python tools/test.py configs/imagenet/internimage_t_1k_224.py internimage_t_1k_224.pth
    python tools/test.py CONFIG CHECKPOINT --out results.pkl --show-dir vis
    bash tools/dist_test.sh CONFIG CHECKPOINT 8

Published checkpoints load as they are. A checkpoint holding pickled objects other than
weights is refused, and nothing from it runs.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction

from internimage.engine.launch import build_runner, load_config, run_safely
from internimage.engine.mixed_precision import use_amp_testing

# Per scope: the visualization hook to switch on for --show-dir, and the metric that dumps results.
SHOW_HOOKS = {'mmdet': 'DetVisualizationHook', 'mmseg': 'SegVisualizationHook', 'mmpretrain': 'VisualizationHook'}
DUMP_METRICS = {'mmdet': 'DumpDetResults'}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (this project\'s or a published one)')
    parser.add_argument('--work-dir', help='where the evaluation log goes')
    parser.add_argument('--out', help='dump the predictions to this pickle file')
    parser.add_argument('--show-dir', help='write visualised predictions under <work_dir>/<timestamp>/<show_dir>')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--tta', action='store_true',
                        help='multi-scale / flip testing with the config\'s tta_model and tta_pipeline')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: bfloat16 autocast on CPUs, float16 on a GPU')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def enable_visualization(cfg, scope, show_dir):
    hook = cfg.default_hooks.get('visualization')
    if hook is None or hook.get('type') != SHOW_HOOKS.get(scope):
        sys.exit(f'--show-dir: the config has no {SHOW_HOOKS.get(scope, "visualization")} in default_hooks')
    if scope == 'mmpretrain':
        hook.update(enable=True, out_dir=show_dir)
    elif scope == 'mmseg':  # draws through the visualizer's storage backends
        hook.update(draw=True, interval=1)
        cfg.visualizer.save_dir = show_dir
    else:
        hook.update(draw=True, test_out_dir=show_dir)


def enable_tta(cfg, config_path):
    """mmdet's / mmseg's own test-time augmentation, as their tools/test.py --tta set it up: the config's
    ``tta_model`` wraps its model, ``tta_pipeline`` replaces the test pipeline."""
    missing = [key for key in ('tta_model', 'tta_pipeline') if key not in cfg]
    if missing:
        sys.exit(f'--tta: {config_path} has no {" / ".join(missing)}')
    cfg.model = dict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def main(argv=None):
    args = parse_args(argv)
    if osp.isdir(args.checkpoint):
        sys.exit(f'{args.checkpoint} is a folder (a sharded checkpoint?): make it the plain model file first, '
                 f'python tools/model_converters/sharded_to_plain.py {args.checkpoint} OUT.pth')
    if not osp.isfile(args.checkpoint):
        sys.exit(f'checkpoint not found: {args.checkpoint}')
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    cfg.load_from = args.checkpoint
    scope = cfg.get('default_scope', 'mmengine')
    if args.tta:
        enable_tta(cfg, args.config)
    if args.amp:
        use_amp_testing(cfg)
    if args.show_dir:
        enable_visualization(cfg, scope, args.show_dir)
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            sys.exit(f'--out must be a .pkl or .pickle file, got {args.out}')
        dump = dict(type=DUMP_METRICS.get(scope, 'DumpResults'), out_file_path=args.out)
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
        cfg.test_evaluator = [*evaluators, dump]
    run_safely(lambda: build_runner(cfg).test())


if __name__ == '__main__':
    main()
