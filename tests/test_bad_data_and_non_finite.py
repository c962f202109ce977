"""Bad samples and non-finite losses in a long run (docs/en/user_guides/long_runs.md):

- an image that is empty, truncated or not an image, and a label map cut short, are named (file and
  index), skipped and counted; with strict data the first one stops the run with its name. On the demo
  segmentation data with corrupted files, through the dataset the Runner builds.
- a non-finite loss never reaches the weights: its step is skipped and logged with the term that was
  not finite; after ``max_in_a_row`` such steps the run stops with a checkpoint of the last finite state.
"""
import logging
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.registry import HOOKS, MODELS, init_default_scope
from mmengine.runner import Runner

from internimage.engine.bad_data import BadSampleError, file_problem, guard_bad_samples
from internimage.engine.long_runs import prepare_long_run
from internimage.engine.non_finite import NonFiniteLossError
from internimage.checkpoint.safe_loading import allow_mmengine_checkpoints

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools/misc'))
sys.path.insert(0, str(ROOT / 'tests'))
from make_shapes_dataset import make_dataset  # noqa: E402
from test_exact_resume import DrawingModel, config  # noqa: E402,F401  (registers the small model and data)


@pytest.fixture
def corrupted(tmp_path):
    """The demo segmentation set with four damaged files: (dataset config, {index: (file, problem)})."""
    data = make_dataset(tmp_path / 'shapes', train=8, val=1, size=64, seed=1)
    images = sorted((data / 'ade' / 'images' / 'training').iterdir())
    labels = sorted((data / 'ade' / 'annotations' / 'training').iterdir())
    images[0].write_bytes(b'')
    images[1].write_bytes(images[1].read_bytes()[:len(images[1].read_bytes()) // 2])
    images[2].write_text('id,label\n1,circle\n')
    labels[3].write_bytes(labels[3].read_bytes()[:len(labels[3].read_bytes()) // 2])
    expected = {0: (images[0], 'empty file'), 1: (images[1], 'truncated JPEG'),
                2: (images[2], 'not an image'), 3: (labels[3], 'truncated PNG')}
    cfg = Config.fromfile(ROOT / 'configs/demo/upernet_internimage_tiny_shapes.py')
    return dict(cfg.train_dataloader.dataset, data_root=str(data / 'ade')), expected


def build(dataset_cfg):
    import mmseg_custom  # noqa: F401  (the pipeline's CheckSegLabels)
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    return DATASETS.build(dataset_cfg)


def test_each_kind_of_damage_is_recognised(corrupted):
    _, expected = corrupted
    for path, problem in expected.values():
        assert file_problem(str(path)).startswith(problem)


class Recorder(logging.Handler):
    """The messages a logger emits while attached (its own stream may be another test's captured one)."""

    def __init__(self, logger):
        super().__init__(logging.WARNING)
        self.logger, self.messages = logger, []

    def emit(self, record):
        self.messages.append(record.getMessage())

    def __enter__(self):
        self.logger.addHandler(self)
        return self.messages

    def __exit__(self, *exc):
        self.logger.removeHandler(self)


def test_bad_samples_are_named_skipped_and_counted(corrupted):
    dataset_cfg, expected = corrupted
    dataset = guard_bad_samples(build(dataset_cfg))
    with Recorder(MMLogger.get_current_instance()) as messages:
        for index in expected:
            sample = dataset[index]  # another sample in its place
            assert sample['inputs'].shape[-2:] == (64, 64)
    skipped = [message for message in messages if 'bad data skipped' in message]
    for index, (path, problem) in expected.items():
        assert any(f'sample {index} of BaseSegDataset: {path}: {problem}' in m for m in skipped), skipped
    assert dataset.prepare_data.skipped == len(skipped) >= 4
    assert f'{len(skipped)} skipped so far' in skipped[-1]


def test_strict_data_stops_at_the_first_bad_sample(corrupted):
    dataset_cfg, expected = corrupted
    dataset = guard_bad_samples(build(dataset_cfg), strict=True)
    path, problem = expected[1]
    with pytest.raises(BadSampleError, match=f'sample 1 of BaseSegDataset: {path}: {problem}'):
        dataset[1]
    assert dataset[4]['inputs'].shape[-2:] == (64, 64)  # intact samples load as before


@MODELS.register_module()
class SometimesNaNModel(DrawingModel):
    """DrawingModel whose loss is NaN in the iterations ``nan_at`` (1-based) lists."""
    nan_at = ()
    iteration = 0

    def forward(self, inputs, mode='loss'):
        out = super().forward(inputs, mode)
        if mode == 'loss' and SometimesNaNModel.iteration in self.nan_at:
            out = dict(loss=out['loss'] * float('nan'), loss_aux=out['loss'].detach() * 0)
        return out


@HOOKS.register_module()
class RecordWeights(Hook):
    priority = 'VERY_HIGH'
    weights = {}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        SometimesNaNModel.iteration = runner.iter + 1

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        RecordWeights.weights[runner.iter + 1] = {k: v.clone() for k, v in runner.model.state_dict().items()}


def nan_run(work_dir, nan_at, max_in_a_row=5):
    SometimesNaNModel.nan_at = nan_at
    RecordWeights.weights = {}
    cfg = config(work_dir, 'iter', 'InfiniteSampler')
    cfg.model.type = 'SometimesNaNModel'
    cfg.custom_hooks = [dict(type='RecordWeights'), dict(type='NonFiniteLossHook', max_in_a_row=max_in_a_row)]
    allow_mmengine_checkpoints()
    return Runner.from_cfg(prepare_long_run(cfg))


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_a_non_finite_step_is_skipped(tmp_path):
    runner = nan_run(tmp_path, nan_at={3})
    with Recorder(runner.logger) as messages:
        runner.train()
    weights = RecordWeights.weights
    assert same(weights[3], weights[2]) and not same(weights[4], weights[3])
    assert runner.optim_wrapper.skipped_steps == 1
    assert "iteration 3: non-finite loss, step skipped ({'loss': nan}); 1 in a row, 1 in all" in messages


def test_non_finite_losses_in_a_row_stop_the_run_with_the_last_finite_state(tmp_path):
    runner = nan_run(tmp_path, nan_at={4, 5, 6, 7}, max_in_a_row=3)
    with pytest.raises(NonFiniteLossError, match='3 non-finite losses in a row') as stopped:
        runner.train()
    assert 'iter_6.pth' in str(stopped.value)
    saved = torch.load(tmp_path / 'iter_6.pth', map_location='cpu', weights_only=False)['state_dict']
    assert same(saved, RecordWeights.weights[3])
