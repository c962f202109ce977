"""The main job on the embedded demo data (``make demo``), on a CPU, in a few minutes:

1. generate the shapes dataset (tools/make_shapes_dataset.py) under data/shapes if missing;
2. train the tiny InternImage Mask R-CNN (two processes, PyTorch distributed over gloo through
   tools/dist_train.sh) and UPerNet (one process) from scratch with tools/train.py;
3. evaluate both on the held-out images with tools/test.py (COCO mAP, mIoU);
4. draw a few held-out predictions (PNG) with tools/image_demo.py's code;
5. write work_dirs/demo/summary.json and print a summary.
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
TASKS = {
    'detection': dict(config='configs/demo/mask_rcnn_internimage_tiny_shapes.py',
                      metrics={'bbox_mAP': 'coco/bbox_mAP', 'bbox_mAP_50': 'coco/bbox_mAP_50',
                               'segm_mAP': 'coco/segm_mAP', 'segm_mAP_50': 'coco/segm_mAP_50'},
                      data='coco', images='coco/val', processes=2),
    'segmentation': dict(config='configs/demo/upernet_internimage_tiny_shapes.py',
                         metrics={'mIoU': 'mIoU', 'aAcc': 'aAcc'},
                         data='ade', images='ade/images/validation', processes=1),
}
DEFAULT_DATA = 'data/shapes'  # what the demo configs point at
# Training would validate at its last iteration; tools/test.py evaluates the same held-out images
# right after, so the demo starts validation past the end of any schedule.
SKIP_TRAINING_VALIDATION = 'train_cfg.val_begin=1000000000'


def config_options(task, data, max_iters):
    """--cfg-options keys for another data folder or a shorter schedule (the configs' defaults otherwise)."""
    options = []
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data', default='data/shapes')
    parser.add_argument('--visualize', type=int, default=3, help='held-out images to draw per task')
    parser.add_argument('--max-iters', type=int, default=None, help='shorter schedules (a quick check)')
    args = parser.parse_args()
    os.chdir(ROOT)
    start = time.time()
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    from image_demo import draw_prediction
    from make_shapes_dataset import is_current

    if not is_current(args.data):  # missing, or written by an older generator
        run([sys.executable, 'tools/make_shapes_dataset.py', args.data])

    summary = {}
    for task, spec in TASKS.items():
        work_dir = osp.join(args.work_dir, task)
        options = config_options(task, args.data, args.max_iters)
        run(*train_command(spec['config'], spec['processes'],
                           ['--work-dir', work_dir, '--cfg-options', *options, SKIP_TRAINING_VALIDATION]))
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            checkpoint = f.read().strip()
        test_options = ['--cfg-options', *options] if options else []
        run([sys.executable, 'tools/test.py', spec['config'], checkpoint, '--work-dir', osp.join(work_dir, 'test'),
             *test_options])
        logged = test_metrics(osp.join(work_dir, 'test'))
        summary[task] = {name: logged[key] for name, key in spec['metrics'].items()}
        images = osp.join(args.data, spec['images'])
        for image in sorted(os.listdir(images))[:args.visualize]:
            out = osp.join(args.work_dir, f'{task}_{osp.splitext(image)[0]}.png')
            draw_prediction(osp.join(images, image), spec['config'], checkpoint, out)
            print(f'wrote {out}')
    summary['seconds'] = round(time.time() - start, 1)
    with open(osp.join(args.work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    det, seg = summary['detection'], summary['segmentation']
    print(f"\nInternImage demo on held-out shapes ({summary['seconds']:.0f} s):\n"
          f"  Mask R-CNN: bbox mAP {det['bbox_mAP']:.3f} (AP50 {det['bbox_mAP_50']:.3f}), "
          f"mask mAP {det['segm_mAP']:.3f} (AP50 {det['segm_mAP_50']:.3f})\n"
          f"  UPerNet:    mIoU {seg['mIoU']:.2f}, aAcc {seg['aAcc']:.2f}\n"
          f"  summary: {osp.join(args.work_dir, 'summary.json')}; drawings: {args.work_dir}/*.png")


if __name__ == '__main__':
    main()
