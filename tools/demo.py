"""The main job on the embedded demo data (``make demo``), on a CPU, in a few minutes:

1. generate the shapes dataset (tools/misc/make_shapes_dataset.py) under data/shapes if missing;
2. train the tiny InternImage Mask R-CNN (two processes, PyTorch distributed over gloo through
   tools/dist_train.sh) and UPerNet (one process) from scratch with tools/train.py;
3. evaluate both on the held-out images with tools/test.py (COCO mAP, mIoU);
4. draw a few held-out predictions (PNG) with tools/image_demo.py's code;
5. write work_dirs/demo/summary.json and print a summary.

``--seeds 0 1 2 3 4`` repeats steps 2-3 once per seed (``randomness.seed``; work dirs
``<work-dir>/seed_<S>/<task>``) and prints each seed's figures, each class's AP / IoU, the spread
over the seeds and whether every seed meets the demo's goal (GOALS below); ``--tasks`` picks the
tasks. The recipes are meant to meet the goal with any seed, not only the configs' own.
"""
import argparse
import glob
import json
import os
import os.path as osp
import socket
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools', 'misc'))
from make_shapes_dataset import CLASSES, SEMANTIC_CLASSES, is_current  # noqa: E402
# metrics: the summary's names for the keys tools/test.py logs; class_metric: the logged key of one
# class's figure (the demo configs evaluate with ClassAPCocoMetric / ClassIoUMetric, which return them).
TASKS = {
    'detection': dict(config='configs/demo/mask_rcnn_internimage_tiny_shapes.py',
                      metrics={'bbox_mAP': 'coco/bbox_mAP', 'bbox_mAP_50': 'coco/bbox_mAP_50',
                               'segm_mAP': 'coco/segm_mAP', 'segm_mAP_50': 'coco/segm_mAP_50'},
                      class_metrics={'bbox_AP': 'coco/bbox_{}_AP', 'segm_AP': 'coco/segm_{}_AP'},
                      classes=CLASSES,
                      data='coco', images='coco/val', processes=2),
    'segmentation': dict(config='configs/demo/upernet_internimage_tiny_shapes.py',
                         metrics={'mIoU': 'mIoU', 'aAcc': 'aAcc'},
                         class_metrics={'IoU': 'IoU.{}'},
                         classes=SEMANTIC_CLASSES,
                         data='ade', images='ade/images/validation', processes=1),
}
# What every seed must reach with the full schedules on the held-out images: (figure, minimum); a
# figure of the class_metrics applies to every class.
GOALS = {'detection': [('bbox_mAP', 0.70), ('segm_mAP', 0.70)],
         'segmentation': [('mIoU', 85.0), ('IoU', 70.0)]}
DEFAULT_DATA = 'data/shapes'  # what the demo configs point at
# Training would validate at its last iteration; tools/test.py evaluates the same held-out images
# right after, so the demo starts validation past the end of any schedule.
SKIP_TRAINING_VALIDATION = 'train_cfg.val_begin=1000000000'


def config_options(task, data, max_iters, seed=None):
    """--cfg-options keys for another data folder, a shorter schedule or another seed (the configs'
    defaults otherwise)."""
    options = [] if seed is None else [f'randomness.seed={seed}']
    if osp.abspath(data) != osp.abspath(DEFAULT_DATA):
        root = osp.join(osp.abspath(data), TASKS[task]['data']) + '/'
        options += [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')]
        if task == 'detection':
            options += [f'{split}_evaluator.ann_file={root}annotations/instances_val.json' for split in ('val', 'test')]
    if max_iters:
        options += [f'train_cfg.max_iters={max_iters}', f'default_hooks.checkpoint.interval={max_iters}']
    return options


def run(command, env=None):
    print('+ ' + ' '.join(command), flush=True)
    result = subprocess.run(command, cwd=ROOT, env=env)
    if result.returncode != 0:
        sys.exit(f'demo: `{" ".join(command)}` failed with exit code {result.returncode}')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def train_command(config, processes, args):
    """tools/train.py, or tools/dist_train.sh for several processes, each on its share of the cores:
    the detector's small operations (RoIAlign, NMS, the heads) barely use a second thread, so on a
    2-core CPU two one-thread processes train nearly twice as many images per second as one process."""
    if processes == 1:
        return [sys.executable, 'tools/train.py', config, *args], None
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()))
    if 'OMP_NUM_THREADS' not in os.environ:  # the user's choice wins
        env['OMP_NUM_THREADS'] = str(max(1, (os.cpu_count() or 1) // processes))
    return ['bash', 'tools/dist_train.sh', config, str(processes), *args], env


def test_metrics(work_dir):
    """The metrics tools/test.py logged (<work_dir>/<timestamp>/<timestamp>.json, last line)."""
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.json')), key=osp.getmtime)
    if not logs:
        sys.exit(f'demo: no metrics log under {work_dir}')
    with open(logs[-1]) as f:
        return json.loads(f.read().strip().splitlines()[-1])


def train_and_test(task, args, work_dir, seed=None):
    """Train ``task``'s demo model, evaluate it on the held-out images and draw a few predictions:
    its figures, each class's under ``classes``."""
    from image_demo import draw_prediction
    spec = TASKS[task]
    options = config_options(task, args.data, args.max_iters, seed)
    run(*train_command(spec['config'], spec['processes'],
                       ['--work-dir', work_dir, '--cfg-options', *options, SKIP_TRAINING_VALIDATION]))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    run([sys.executable, 'tools/test.py', spec['config'], checkpoint, '--work-dir', osp.join(work_dir, 'test'),
         *(['--cfg-options', *options] if options else [])])
    logged = test_metrics(osp.join(work_dir, 'test'))
    figures = {name: logged[key] for name, key in spec['metrics'].items()}
    figures['classes'] = {name: {figure: logged[key.format(name)] for figure, key in spec['class_metrics'].items()}
                          for name in spec['classes']}
    images = osp.join(args.data, spec['images'])
    for image in sorted(os.listdir(images))[:args.visualize]:
        out = osp.join(osp.dirname(work_dir), f'{task}_{osp.splitext(image)[0]}.png')
        draw_prediction(osp.join(images, image), spec['config'], checkpoint, out)
        print(f'wrote {out}')
    return figures


def goal_failures(task, figures):
    """The goal's figures that ``figures`` (one seed, full schedule) miss, as text."""
    misses = []
    for name, minimum in GOALS[task]:
        if name in figures:
            if not figures[name] >= minimum:
                misses.append(f'{name} {figures[name]} < {minimum}')
        else:
            misses += [f'{cls} {name} {values[name]} < {minimum}' for cls, values in figures['classes'].items()
                       if not values[name] >= minimum]  # nan (a class never predicted) misses too
    return misses


def spread(per_seed, task):
    """min / mean / max over the seeds of every figure, each class's included."""
    rows = {}
    for name in TASKS[task]['metrics']:
        rows[name] = [per_seed[s][task][name] for s in per_seed]
    for cls in TASKS[task]['classes']:
        for figure in TASKS[task]['class_metrics']:
            rows[f'{cls} {figure}'] = [per_seed[s][task]['classes'][cls][figure] for s in per_seed]
    return {name: dict(min=min(values), mean=round(sum(values) / len(values), 4), max=max(values))
            for name, values in rows.items()}


def format_figures(task, figures):
    shown = ', '.join(f'{name} {figures[name]:.3f}' if task == 'detection' else f'{name} {figures[name]:.2f}'
                      for name in TASKS[task]['metrics'])
    per_class = '; '.join(f'{cls} ' + ' / '.join(f'{v:.3f}' if task == 'detection' else f'{v:.1f}'
                                                  for v in values.values())
                          for cls, values in figures['classes'].items())
    names = ' / '.join(TASKS[task]['class_metrics'])
    return f'{shown}\n      per class ({names}): {per_class}'


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data', default='data/shapes')
    parser.add_argument('--visualize', type=int, default=3, help='held-out images to draw per task (and seed)')
    parser.add_argument('--max-iters', type=int, default=None, help='shorter schedules (a quick check)')
    parser.add_argument('--seeds', type=int, nargs='+', default=None,
                        help='train and evaluate once per seed and report the spread (default: the configs\' seed)')
    parser.add_argument('--tasks', nargs='+', choices=list(TASKS), default=list(TASKS))
    args = parser.parse_args()
    os.chdir(ROOT)
    start = time.time()

    if not is_current(args.data):  # missing, or written by an older generator
        run([sys.executable, 'tools/misc/make_shapes_dataset.py', args.data])

    if args.seeds is None:  # the main job: the configs' own seed
        summary = {task: train_and_test(task, args, osp.join(args.work_dir, task)) for task in args.tasks}
        summary['seconds'] = round(time.time() - start, 1)
    else:
        per_seed = {seed: {task: train_and_test(task, args, osp.join(args.work_dir, f'seed_{seed}', task), seed)
                           for task in args.tasks}
                    for seed in args.seeds}
        summary = dict(seeds=per_seed, spread={task: spread(per_seed, task) for task in args.tasks},
                       seconds=round(time.time() - start, 1))
    os.makedirs(args.work_dir, exist_ok=True)
    with open(osp.join(args.work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    print_summary(summary, args)


def print_summary(summary, args):
    names = {'detection': 'Mask R-CNN', 'segmentation': 'UPerNet'}
    print(f"\nInternImage demo on held-out shapes ({summary['seconds']:.0f} s):")
    per_seed = summary.get('seeds', {'(config)': summary})
    for seed, tasks in per_seed.items():
        if 'seeds' in summary:
            print(f'  seed {seed}:')
        for task in args.tasks:
            misses = goal_failures(task, tasks[task]) if not args.max_iters else []
            verdict = '' if args.max_iters else ('  [goal met]' if not misses else f'  [goal missed: {"; ".join(misses)}]')
            print(f'    {names[task]}: {format_figures(task, tasks[task])}{verdict}')
    for task, rows in summary.get('spread', {}).items():
        print(f'  {names[task]} over seeds {list(per_seed)} (min / mean / max):')
        for name, row in rows.items():
            print(f"    {name:<20} {row['min']:.3f} / {row['mean']:.3f} / {row['max']:.3f}")
    print(f"  summary: {osp.join(args.work_dir, 'summary.json')}; drawings: {args.work_dir}/**/*.png")
    if not args.max_iters:
        goal = '; '.join(f'{names[t]}: ' + ', '.join(f'{n} >= {m}' for n, m in GOALS[t]) for t in args.tasks)
        print(f'  goal for every seed: {goal} (per-class figures: every class)')


if __name__ == '__main__':
    main()
