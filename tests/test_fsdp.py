"""Sharded (FSDP) training through tools/dist_train.sh --fsdp, on two CPU processes (gloo), of a reduced
UperNet-H: the H config's own block structure (res-post-norm, level-2 post-norms, center feature scale,
5x5 depth-wise kernel, no layer scale, layer-wise lr decay, gradient clipping), few blocks and channels.

Both runs start from the same weights (``load_from``; the two runners draw the initialisation
differently from one seed). One sharded run is killed after its iteration-2 checkpoint and resumed with
``--resume``; its losses must equal those of the unsharded (DDP) run, its per-rank bytes of parameters,
gradients and optimizer state (``StateMemoryHook``) must be at most 0.55x the DDP figure, and its
checkpoint must load strictly into the plain model, with the DDP run's weights."""
import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools/misc'))
sys.path.insert(0, str(ROOT / 'tests'))
from make_shapes_dataset import make_dataset  # noqa: E402
from test_distributed import free_port, run  # noqa: E402

H_CONFIG = ROOT / 'configs/ade20k/upernet_internimage_h_896_160k_ade20k.py'
CONFIG = """
_base_ = ['{h_config}']
custom_imports = dict(imports=['mmseg_custom', 'fsdp_test_hooks'], allow_failed_imports=False)
crop_size = (64, 64)
# The H backbone's settings (post_norm off, res_post_norm, level2_post_norm, center_feature_scale,
# dw_kernel_size 5, no layer scale) as the H config has them; fewer blocks, narrow channels. Nothing random
# after the initialisation (no drop path, no head dropout, no augmentation): mmengine does not save the
# random generators' states, so a resumed run would otherwise draw other dropout masks than the
# uninterrupted one.
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(channels=16, depths=[1, 1, 4, 1], groups=[1, 2, 4, 8], drop_path_rate=0.0,
                  level2_post_norm_block_ids=[1, 3], init_cfg=None),
    decode_head=dict(in_channels=[16, 32, 64, 128], channels=32, num_classes=4, dropout_ratio=0.0),
    auxiliary_head=dict(in_channels=64, channels=16, num_classes=4, dropout_ratio=0.0))
optim_wrapper = dict(optimizer=dict(lr=1e-3), paramwise_cfg=dict(num_layers=7, depths=[1, 1, 4, 1]))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=4)]
train_dataloader = dict(
    _delete_=True, batch_size=2, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='BaseSegDataset', data_root='{data}/ade', img_suffix='.jpg', seg_map_suffix='.png',
                 reduce_zero_label=True, data_prefix=dict(img_path='images/training',
                                                          seg_map_path='annotations/training'),
                 metainfo=dict(classes=('background', 'circle', 'square', 'triangle')),
                 pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', reduce_zero_label=True),
                           dict(type='PackSegInputs')]))
val_dataloader = val_evaluator = val_cfg = test_dataloader = test_evaluator = test_cfg = None
train_cfg = dict(type='IterBasedTrainLoop', max_iters=4, val_interval=100)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2, max_keep_ckpts=3, save_best=None))
custom_hooks = [dict(type='StateMemoryHook'), dict(type='KillAfterIterHook')]
randomness = dict(seed=0)
log_processor = dict(window_size=1)  # each iteration's own losses (not means over a window)
load_from = '{init}'  # both runs start from these weights (also loaded into the sharded model)
"""
HOOKS = """
import os
import torch.distributed as dist
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class KillAfterIterHook(Hook):
    \"\"\"Ends every rank after the iteration KILL_AFTER_ITER (its checkpoint saved), as a killed job.\"\"\"
    priority = 'LOWEST'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == int(os.environ.get('KILL_AFTER_ITER', 0)):
            dist.barrier()
            os._exit(3)
"""


# A reduced DINO-G: the G config's backbone flags (post-norm, level-2 post-norms), the transformer's
# EfficientFFN (checkpointed chunks), denoising queries; FSDP units are its backbone blocks and the
# encoder / decoder layers of the head. 100 queries among the 340 tokens of a 128x128 image.
DINO_CONFIG = """
_base_ = ['{g_config}']
custom_imports = dict(imports=['mmdet_custom'], allow_failed_imports=False)
model = dict(
    backbone=dict(channels=16, depths=[1, 1, 3, 1], groups=[1, 2, 4, 8], drop_path_rate=0.0,
                  level2_post_norm_block_ids=[1], init_cfg=None),
    neck=dict(in_channels=[32, 64, 128]), num_queries=100, dn_cfg=dict(group_cfg=dict(num_dn_queries=20)),
    bbox_head=dict(num_classes=3))
optim_wrapper = dict(optimizer=dict(lr=1e-3), paramwise_cfg=dict(num_layers=6, depths=[1, 1, 3, 1]))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=2)]
train_dataloader = dict(
    _delete_=True, batch_size=2, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True), batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(type='CocoDataset', data_root='{data}/coco/', ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='train/'), metainfo=dict(classes=('circle', 'square', 'triangle')),
                 filter_cfg=dict(filter_empty_gt=True),
                 pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                           dict(type='PackDetInputs')]))
val_dataloader = val_evaluator = val_cfg = test_dataloader = test_evaluator = test_cfg = None
train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=100)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
randomness = dict(seed=0)
log_processor = dict(window_size=1)
load_from = '{init}'
"""


def plain_model(config, scope='mmseg'):
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    import mmdet_custom  # noqa: F401
    import mmseg_custom  # noqa: F401
    init_default_scope(scope)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config, import_custom_modules=False).model)
    model.init_weights()
    return model


def train(config, work_dir, *args, **extra_env):
    code, log = run(['bash', 'tools/dist_train.sh', str(config), '2', '--work-dir', str(work_dir), *args],
                    timeout=600, PORT=free_port(), PYTHONPATH=str(config.parent), **extra_env)
    return code, log


def logged(work_dir):
    """{iteration: the scalars logged at it}, over every run in the work dir (resumed ones too)."""
    rows = {}
    for path in sorted(Path(work_dir).glob('*/vis_data/scalars.json')):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if 'loss' in row:
                rows[row['step']] = row
    return rows


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('fsdp')
    data = make_dataset(tmp / 'shapes', train=8, val=1, size=64, seed=5)
    (tmp / 'fsdp_test_hooks.py').write_text(HOOKS)
    config = tmp / 'h_small.py'
    config.write_text(CONFIG.format(h_config=H_CONFIG, data=data, init=tmp / 'init.pth'))
    torch.save(dict(state_dict=plain_model(config).state_dict()), tmp / 'init.pth')
    code, log = train(config, tmp / 'ddp')
    assert code == 0, log[-4000:]
    # Sharded: killed after the iteration-2 checkpoint, then resumed from the newest checkpoint.
    code, log = train(config, tmp / 'fsdp', '--fsdp', KILL_AFTER_ITER='2')
    assert code != 0 and (tmp / 'fsdp' / 'iter_2.pth').exists(), log[-4000:]
    assert not (tmp / 'fsdp' / 'iter_4.pth').exists()
    code, resumed_log = train(config, tmp / 'fsdp', '--fsdp', '--resume')
    assert code == 0, resumed_log[-4000:]
    return dict(config=config, ddp=tmp / 'ddp', fsdp=tmp / 'fsdp', first_log=log, resumed_log=resumed_log)


def test_sharded_bf16_mixed_precision_trains_as_float32(runs):
    """FSDP's own mixed precision (weights gathered and gradients reduced in bfloat16, float32 master
    weights and optimizer): the losses follow the float32 run's to bfloat16's precision, the checkpoint
    is the plain float32 model."""
    work_dir = runs['config'].parent / 'bf16'
    code, log = train(runs['config'], work_dir, '--fsdp', '--cfg-options',
                      'strategy.model_wrapper.mixed_precision.param_dtype=bfloat16',
                      'strategy.model_wrapper.mixed_precision.reduce_dtype=bfloat16')
    assert code == 0, log[-4000:]
    ddp, bf16 = logged(runs['ddp']), logged(work_dir)
    print({step: (ddp[step]['loss'], bf16[step]['loss']) for step in ddp})
    for step in (1, 2, 3, 4):
        assert bf16[step]['loss'] == pytest.approx(ddp[step]['loss'], rel=1e-2), step
    # bfloat16 arithmetic, not float32: the losses are not bit-equal
    assert any(bf16[step]['loss'] != ddp[step]['loss'] for step in (1, 2, 3, 4))
    state_dict = torch.load(work_dir / 'iter_4.pth', map_location='cpu', weights_only=False)['state_dict']
    assert all(value.dtype == torch.float32 for value in state_dict.values() if value.is_floating_point())
    plain_model(runs['config']).load_state_dict(state_dict, strict=True)


@pytest.fixture(scope='module')
def dino_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('fsdp_dino')
    data = make_dataset(tmp / 'shapes', train=8, val=1, size=128, seed=5)
    config = tmp / 'dino_g_small.py'
    config.write_text(DINO_CONFIG.format(g_config=ROOT / 'configs/coco/dino_4scale_internimage_g_objects365_coco_ss.py',
                                         data=data, init=tmp / 'init.pth'))
    torch.save(dict(state_dict=plain_model(config, 'mmdet').state_dict()), tmp / 'init.pth')
    logs = {}
    for name, args in (('ddp', ()), ('fsdp', ('--fsdp', ))):
        code, logs[name] = train(config, tmp / name, *args)
        assert code == 0, logs[name][-4000:]
    return dict(config=config, ddp=tmp / 'ddp', fsdp=tmp / 'fsdp', log=logs['fsdp'])


def test_sharded_dino_losses_and_checkpoint_equal_the_unsharded_run(dino_runs):
    """DINO's head has units of its own (its transformer layers) and calls its branches from outside
    their forward: sharded, it trains as unsharded, and its checkpoint is the plain model's."""
    assert 'InternImageFSDP' in dino_runs['log']
    ddp, fsdp = logged(dino_runs['ddp']), logged(dino_runs['fsdp'])
    assert sorted(ddp) == sorted(fsdp) == [1, 2]
    losses = [key for key in ddp[1] if 'loss' in key]
    assert 'dn_loss_cls' in losses and 'd4.loss_bbox' in losses
    for step in (1, 2):
        for key in losses:
            assert fsdp[step][key] == pytest.approx(ddp[step][key], rel=1e-5, abs=1e-6), (step, key)
    model = plain_model(dino_runs['config'], 'mmdet')
    sharded = torch.load(dino_runs['fsdp'] / 'iter_2.pth', map_location='cpu', weights_only=False)['state_dict']
    unsharded = torch.load(dino_runs['ddp'] / 'iter_2.pth', map_location='cpu', weights_only=False)['state_dict']
    model.load_state_dict(sharded, strict=True)
    assert sharded.keys() == unsharded.keys()
    for key, value in unsharded.items():
        assert torch.allclose(sharded[key].float(), value.float(), rtol=1e-5, atol=1e-4), key


def compare_losses(runs, steps):
    ddp, fsdp = logged(runs['ddp']), logged(runs['fsdp'])
    assert sorted(ddp) == sorted(fsdp) == [1, 2, 3, 4]
    losses = [key for key in ddp[1] if key.startswith(('decode.loss', 'aux.loss')) or key == 'loss']
    print({step: (ddp[step]['loss'], fsdp[step]['loss']) for step in ddp})
    for step in steps:
        for key in losses:
            assert fsdp[step][key] == pytest.approx(ddp[step][key], rel=1e-5, abs=1e-7), (step, key)
    assert ddp[2]['loss'] != pytest.approx(ddp[1]['loss'], rel=1e-3)  # it did train


def test_sharded_losses_equal_the_unsharded_run(runs):
    assert 'InternImageFSDP' in runs['first_log'] and 'resumed epoch: 0, iter: 2' in runs['resumed_log']
    compare_losses(runs, steps=[1, 2])


def test_resumed_sharded_losses_equal_the_unsharded_run(runs):
    compare_losses(runs, steps=[3, 4])


def test_sharded_state_bytes_per_rank(runs):
    ddp, fsdp = logged(runs['ddp']), logged(runs['fsdp'])
    ratio = fsdp[4]['state_bytes'] / ddp[4]['state_bytes']
    print(f"state bytes per rank: DDP {ddp[4]['state_bytes']:.0f}, FSDP {fsdp[4]['state_bytes']:.0f}, "
          f'ratio {ratio:.3f}')
    assert ddp[4]['param_bytes'] > 0 and ddp[4]['grad_bytes'] > 0 and ddp[4]['optim_bytes'] > 0
    assert ratio <= 0.55


def test_sharded_checkpoint_loads_strictly_into_the_plain_model(runs):
    model = plain_model(runs['config'])
    sharded = torch.load(runs['fsdp'] / 'iter_2.pth', map_location='cpu', weights_only=False)
    unsharded = torch.load(runs['ddp'] / 'iter_2.pth', map_location='cpu', weights_only=False)
    model.load_state_dict(sharded['state_dict'], strict=True)
    assert sharded['state_dict'].keys() == unsharded['state_dict'].keys()
    # Sharded and unsharded gradients are summed in another order; where a gradient is near Adam's eps
    # (1e-8) that rounding changes the step by a fraction of the lr (1e-3): up to 1.2e-5 was seen.
    for key, value in unsharded['state_dict'].items():
        assert torch.allclose(sharded['state_dict'][key].float(), value.float(), rtol=1e-5, atol=1e-4), key
    # The optimizer state too, by parameter name (the sharded checkpoint's) and index (the unsharded one's).
    names = [name for group in unsharded['optimizer']['param_groups'] for name in group['param_names']]
    indices = [index for group in unsharded['optimizer']['param_groups'] for index in group['params']]
    for name, index in zip(names, indices):
        for key, value in unsharded['optimizer']['state'][index].items():
            assert torch.allclose(sharded['optimizer']['state'][name][key].float(), value.float(),
                                  rtol=1e-5, atol=1e-9), (name, key)
    resumed = torch.load(runs['fsdp'] / 'iter_4.pth', map_location='cpu', weights_only=False)
    model.load_state_dict(resumed['state_dict'], strict=True)
    assert resumed['meta']['iter'] == 4
