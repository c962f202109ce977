"""Kill a training run with SIGKILL at random moments, many times, and check after each kill that the
newest checkpoint of its work dir loads; each run resumes from there (tests/test_preemption.py).

The run: mmengine's Runner prepared as tools/train.py prepares it (ResumableCheckpointHook), with a model
whose checkpoint holds 24 MB (weights + AdamW state), a checkpoint after every iteration and
``max_keep_ckpts=1``: mmengine alone would delete the only checkpoint before writing the next. Each
trial forks the run from this process (everything imported once), waits until a save begins writing
its file (a ``*.part`` file appears) and kills the run a random 0-30 ms later (a write takes about
25 ms): during the write, the flush, the rename or the update of ``last_checkpoint``, or in the next
iteration. A trial whose kill left the ``*.part`` file killed a save half-way (``saves_hit``; counted
where an earlier checkpoint was there to be kept).

    python tests/kill_during_save.py WORK_DIR [--saves-hit 20] [--max-trials 100]

prints one JSON line: trials, saves_hit, damaged (newest checkpoints that did not load), resumed_from,
then resumes once more and trains two iterations to the end: resumed_iter, finished_iter, stale_parts
(temporary files left after it).
"""
import argparse
import glob
import json
import os
import random
import signal
import sys
import time

import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, MODELS

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from internimage.engine.long_runs import prepare_long_run  # noqa: E402
from internimage.checkpoint.safe_loading import (CheckpointError, allow_mmengine_checkpoints, check_loadable,  # noqa: E402
                                      checkpoints_newest_first)


@MODELS.register_module()
class KillTrialModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(1024, 2048)

    def forward(self, inputs, mode='loss'):
        return dict(loss=self.layer(torch.stack(inputs)).pow(2).mean())


@DATASETS.register_module()
class KillTrialData(torch.utils.data.Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, index):
        return dict(inputs=torch.full((1024, ), float(index) / 64))


def config(work_dir, load_from, max_iters=1_000_000):
    cfg = Config(dict(
        model=dict(type='KillTrialModel'), work_dir=work_dir,
        train_dataloader=dict(dataset=dict(type='KillTrialData'), sampler=dict(type='InfiniteSampler'),
                              batch_size=4, num_workers=0),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-4)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=1, max_keep_ckpts=1),
                           logger=dict(type='LoggerHook', interval=1000)),
        randomness=dict(seed=0), resume=load_from is not None, load_from=load_from,
        log_level='WARNING'))
    return prepare_long_run(cfg)


def train(work_dir, load_from, max_iters=1_000_000):
    from mmengine.runner import Runner
    torch.set_num_threads(1)
    allow_mmengine_checkpoints()
    runner = Runner.from_cfg(config(work_dir, load_from, max_iters))
    runner.train()
    return runner.iter


def newest(work_dir):
    found = checkpoints_newest_first(work_dir) if os.path.isdir(work_dir) else []
    return found[0] if found else None


def parts_written_since(work_dir, start):
    """Temporary files of saves begun after ``start`` (those of earlier trials are older)."""
    found = []
    for path in glob.glob(os.path.join(work_dir, '*.part')):
        try:
            if os.path.getmtime(path) >= start:
                found.append(path)
        except FileNotFoundError:  # renamed meanwhile
            pass
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('work_dir')
    parser.add_argument('--saves-hit', type=int, default=20)
    parser.add_argument('--max-trials', type=int, default=100)
    args = parser.parse_args()
    from mmengine.utils.dl_utils import collect_env
    collect_env()  # imports what every Runner imports when it starts: done once here, before the forks
    rng = random.Random(0)
    trials = saves_hit = 0
    damaged, resumed_from = [], []
    while saves_hit < args.saves_hit and trials < args.max_trials:
        start = newest(args.work_dir)
        resumed_from.append(os.path.basename(start) if start else None)
        started = time.time()
        pid = os.fork()
        if pid == 0:
            try:
                train(args.work_dir, start)
            finally:
                os._exit(1)
        deadline = time.time() + 60
        while not parts_written_since(args.work_dir, started) and time.time() < deadline:
            time.sleep(0.001)
        time.sleep(rng.uniform(0.0, 0.03))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        trials += 1
        checkpoint = newest(args.work_dir)
        if start is None and checkpoint is None:
            continue  # killed in the first save of all: there was nothing to keep
        saves_hit += bool(parts_written_since(args.work_dir, started))
        try:
            if checkpoint is None:
                raise CheckpointError(f'no checkpoint left (there was {start})')
            check_loadable(checkpoint)
        except CheckpointError as error:
            damaged.append(str(error))
    # The last run resumes, trains two iterations more and ends normally.
    start = newest(args.work_dir)
    resumed_from.append(os.path.basename(start) if start else None)
    resumed_iter = torch.load(start, weights_only=True)['meta']['iter'] if start else 0
    finished = train(args.work_dir, start, resumed_iter + 2)
    stale_parts = sorted(os.path.basename(p) for p in glob.glob(os.path.join(args.work_dir, '*.part')))
    print(json.dumps(dict(trials=trials, saves_hit=saves_hit, damaged=damaged, resumed_from=resumed_from,
                          resumed_iter=resumed_iter, finished_iter=finished, stale_parts=stale_parts)))


if __name__ == '__main__':
    main()
