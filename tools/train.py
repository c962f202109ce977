"""Train a model from a config with mmengine's Runner (detection, segmentation or classification,
chosen by the config's ``default_scope``)::

    python tools/train.py configs/coco/mask_rcnn_internimage_t_fpn_1x_coco.py --work-dir work_dirs/x
    python tools/train.py CONFIG --resume                 # from the latest checkpoint in the work dir
    python tools/train.py CONFIG --resume path/to/epoch_3.pth
    bash tools/dist_train.sh CONFIG 8                     # PyTorch distributed (see README)
    bash tools/dist_train.sh CONFIG 8 --fsdp              # sharded (FSDP): the giant models (see README)
    bash tools/dist_train.sh CONFIG 8 --fsdp --sharded-checkpoints   # every process writes its own shards

SIGTERM or SIGUSR1 (--stop-signals) stops every process after the same iteration with a checkpoint of
it; the exit status is then 75. ``--resume`` continues such a run exactly (docs/en/user_guides/long_runs.md).
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction

from internimage.checkpoint.safe_loading import CheckpointError, checkpoints_newest_first
from internimage.checkpoint.sharded import check_checkpoint
from internimage.engine.fsdp import use_fsdp
from internimage.engine.launch import build_runner, load_config, run_safely
from internimage.engine.long_runs import prepare_long_run
from internimage.engine.mixed_precision import use_amp_training
from internimage.engine.preemption import DEFAULT_SIGNALS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default: work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint, or without a value from the latest in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: float16 AMP on a GPU, bfloat16 autocast on CPUs')
    parser.add_argument('--fsdp', action='store_true',
                        help='shard parameters, gradients and optimizer states over the processes (FSDP, '
                             "mmengine's FlexibleRunner); checkpoints keep the plain model's layout")
    parser.add_argument('--sharded-checkpoints', action='store_true',
                        help='with --fsdp: every process writes its own shards of each checkpoint (a folder, '
                             'torch.distributed.checkpoint) instead of rank 0 gathering the model; resumes at '
                             'any number of processes; tools/model_converters/sharded_to_plain.py makes the '
                             'plain model file')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by (GPUs x images per GPU) / auto_scale_lr.base_batch_size')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. train_cfg.max_iters=10')
    parser.add_argument('--stop-signals', nargs='+', default=list(DEFAULT_SIGNALS), metavar='SIGNAL',
                        help='signals that stop training after the current iteration with a checkpoint '
                             '(default: SIGTERM SIGUSR1)')
    parser.add_argument('--strict-data', action='store_true',
                        help='stop at the first training image or label map that cannot be read (default: '
                             'name it, skip it and count it in the log)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def newest_loadable_checkpoint(work_dir):
    """(the newest checkpoint of the work dir that loads, or None where it has none; the messages
    of the newer ones skipped). Damaged ones are left in place: nothing is deleted."""
    if not osp.isdir(work_dir):
        return None, []
    skipped = []
    for path in checkpoints_newest_first(work_dir):
        try:
            check_checkpoint(path)
            return path, skipped
        except CheckpointError as error:
            skipped.append(str(error))
    if skipped:
        sys.exit('--resume: no checkpoint in {} loads:\n{}'.format(work_dir, '\n'.join(skipped)))
    return None, []


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    if args.sharded_checkpoints and not args.fsdp:
        sys.exit('--sharded-checkpoints saves the shards of sharded training: add --fsdp')
    if args.fsdp:
        if args.launcher == 'none':
            sys.exit('--fsdp shards over distributed processes: run it through tools/dist_train.sh or '
                     'tools/slurm_train.sh (or --launcher pytorch / slurm)')
        use_fsdp(cfg, sharded_checkpoints=args.sharded_checkpoints)
    if args.amp:
        use_amp_training(cfg)
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            sys.exit(f'{args.config}: --auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    prepare_long_run(cfg, args.stop_signals, args.strict_data)
    skipped = []
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from, skipped = newest_loadable_checkpoint(cfg.work_dir)
    elif args.resume is not None:
        if not osp.exists(args.resume):
            sys.exit(f'--resume: no checkpoint at {args.resume}')
        cfg.resume, cfg.load_from = True, args.resume
    def train():
        runner = build_runner(cfg)
        runner.logger.info(f'world size: {runner.world_size} (launcher: {cfg.launcher})')
        for message in skipped:
            runner.logger.warning(f'--resume: skipped a checkpoint that does not load. {message}')
        runner.train()

    run_safely(train)


if __name__ == '__main__':
    main()
