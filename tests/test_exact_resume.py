"""Exact resume (internimage.engine.exact_resume) in one process with a small model whose every step
draws from all the generators: dropout (torch), augmentation in the dataset (numpy and Python), and
a validation data loader (torch's base seed). A run stopped by SIGTERM after iteration k and resumed
must end with the uninterrupted run's weights, bit for bit: iteration-based loops (an infinite sampler,
and a finite one that restarts each epoch, with validation at the checkpoints) and an epoch-based loop
stopped mid-epoch and at an epoch's end. The real models and launchers: tests/test_preemption.py."""
import itertools
import os
import random
import signal

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, HOOKS, METRICS, MODELS
from mmengine.runner import Runner

from internimage.engine.long_runs import prepare_long_run
from internimage.engine.preemption import TrainingStopped
from internimage.checkpoint.safe_loading import allow_mmengine_checkpoints

RUNS = itertools.count()


@MODELS.register_module()
class DrawingModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(8, 8)
        self.dropout = torch.nn.Dropout(0.5)

    def forward(self, inputs, mode='loss'):
        out = self.layer(self.dropout(torch.stack(inputs)))
        if mode == 'loss':
            return dict(loss=out.pow(2).mean())
        return [dict(value=float(o.sum())) for o in out]


@DATASETS.register_module()
class DrawingData(torch.utils.data.Dataset):
    metainfo = dict(classes=('x', ))

    def __len__(self):
        return 12

    def __getitem__(self, index):
        jitter = np.random.rand(8) + random.random()  # augmentation drawn in the training process
        return dict(inputs=torch.tensor(jitter + index, dtype=torch.float32))


@METRICS.register_module()
class DrawingMetric(BaseMetric):
    def process(self, data_batch, data_samples):
        self.results += [s['value'] for s in data_samples]

    def compute_metrics(self, results):
        return dict(total=sum(results))


@HOOKS.register_module()
class SigtermDuring(Hook):
    priority = 'VERY_HIGH'

    def __init__(self, iteration):
        self.iteration = iteration

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.iteration:
            os.kill(os.getpid(), signal.SIGTERM)


def config(work_dir, loop, sampler, stop_at=None, resume_from=None):
    val = dict(dataset=dict(type='DrawingData'), sampler=dict(type='DefaultSampler', shuffle=False), batch_size=4,
               num_workers=0)
    if loop == 'iter':
        train_cfg = dict(type='IterBasedTrainLoop', max_iters=8, val_interval=3)
        checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=3)
    else:
        train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=3, val_interval=1)
        checkpoint = dict(type='CheckpointHook', interval=1)
    cfg = Config(dict(
        model=dict(type='DrawingModel'), work_dir=str(work_dir), experiment_name=f'exact_resume_{next(RUNS)}',
        train_dataloader=dict(dataset=dict(type='DrawingData'), sampler=dict(type=sampler, shuffle=True),
                              batch_size=3, num_workers=0),
        train_cfg=train_cfg, val_dataloader=val, val_cfg=dict(type='ValLoop'),
        val_evaluator=dict(type='DrawingMetric'),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.01)),
        param_scheduler=[dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5)],
        default_hooks=dict(checkpoint=checkpoint, logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='SigtermDuring', iteration=stop_at)] if stop_at else [],
        randomness=dict(seed=1), resume=resume_from is not None, load_from=resume_from, log_level='WARNING'))
    return prepare_long_run(cfg)


def final_weights(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()
    return {k: v.clone() for k, v in runner.model.state_dict().items()}


@pytest.mark.parametrize('loop, sampler, stop_at', [
    ('iter', 'InfiniteSampler', 3),   # where the interval saves and the uninterrupted run validates
    ('iter', 'DefaultSampler', 4),    # 4 batches an epoch: the resumed run restarts the sampler at 4
    ('epoch', 'DefaultSampler', 6),   # mid-epoch 2
    ('epoch', 'DefaultSampler', 4),   # at the end of epoch 1, before its epoch checkpoint
])
def test_stopped_and_resumed_run_ends_with_the_same_weights(tmp_path, loop, sampler, stop_at):
    allow_mmengine_checkpoints()
    reference = final_weights(config(tmp_path / 'reference', loop, sampler))
    with pytest.raises(TrainingStopped) as stopped:
        final_weights(config(tmp_path / 'run', loop, sampler, stop_at=stop_at))
    assert stopped.value.iteration == stop_at and stopped.value.checkpoint.endswith(f'iter_{stop_at}.pth')
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handlers are put back
    resumed = final_weights(config(tmp_path / 'run', loop, sampler, resume_from=stopped.value.checkpoint))
    differing = [key for key in reference if not torch.equal(reference[key], resumed[key])]
    assert not differing, f'{differing} differ'


def test_without_the_generator_states_the_resumed_run_differs(tmp_path):
    """The check above can fail: resumed without restoring the generators, the weights differ."""
    allow_mmengine_checkpoints()
    reference = final_weights(config(tmp_path / 'reference', 'iter', 'InfiniteSampler'))
    with pytest.raises(TrainingStopped) as stopped:
        final_weights(config(tmp_path / 'run', 'iter', 'InfiniteSampler', stop_at=5))
    checkpoint = torch.load(stopped.value.checkpoint, weights_only=True)
    del checkpoint['meta']['exact_resume']
    torch.save(checkpoint, tmp_path / 'without_states.pth')
    resumed = final_weights(config(tmp_path / 'run', 'iter', 'InfiniteSampler',
                                   resume_from=str(tmp_path / 'without_states.pth')))
    assert any(not torch.equal(reference[key], resumed[key]) for key in reference)
