"""What a checkpoint of sharded (FSDP) training costs, full against sharded: measured on CPU processes
over gloo with reduced giant models, and extrapolated to the published sizes.

- full (``--fsdp``): rank 0 gathers the whole model and the optimizer state and writes one file;
- sharded (``--fsdp --sharded-checkpoints``): every rank writes its own shards (``torch.distributed.checkpoint``).

``measure_rank`` runs in each process of a group: it builds the reduced model of a published config
(``reduced_config``: the published depths and block structure, the widths divided by ``divisor``) as
``tools/train.py --fsdp`` does, trains one step (so that AdamW's state exists), then saves it once each
way through ``InternImageFSDPStrategy.save_checkpoint``, timing each save (the slowest rank, between two
barriers) and the increase of each process's resident memory during it: the kernel's high-water mark
(``VmHWM`` of /proc/self/status, reset before the save by writing 5 to /proc/self/clear_refs) less the
resident memory (``VmRSS``) just before.

``extrapolate`` scales those figures to a published model from two measurements of it, at two widths:
the reduced models keep the published depths, so their checkpoints hold as many tensors as the published
one and differ in bytes only. Each figure is fitted as a fixed part plus a part proportional to the bytes
one process writes (full: the whole checkpoint, by rank 0; sharded: a 1/N share each, in parallel), and
read off at the published model's bytes (the measured bytes a parameter: float32 weights and AdamW's two
moments, 12, as written on disk). The fixed part is DCP's per-tensor work (a ``torch.save`` record and a
plan entry per tensor, every process holding a chunk of every tensor), the same at any size. Assumed, not
measured: that the file system takes N writers at N times one writer's bandwidth (a parallel file system;
one local disk does not), and that the fixed part measured at 2 processes holds at N.
"""
import ctypes
import gc
import json
import os
import os.path as osp
import shutil
import time
from dataclasses import asdict, dataclass

import torch
import torch.distributed as dist

MODES = ('sharded', 'full')


def reduced_config(config_path, divisor, data_root, work_dir, crop=64):
    """The published config's model with the widths divided by ``divisor`` (backbone channels, head
    channels; depths, groups and block flags as published), no pretrained weights, no drop path, on the
    shapes data set at ``data_root`` (tools/misc/make_shapes_dataset.py: ``ade`` layout), 1 iteration of
    batch 2 a process (BatchNorm, SyncBN's stand-in on CPUs, needs two values a channel), no checkpoint hook (``measure_rank`` saves itself)."""
    from mmengine.config import Config
    cfg = Config.fromfile(config_path)
    backbone, head, aux = cfg.model.backbone, cfg.model.decode_head, cfg.model.auxiliary_head
    channels = backbone.channels // divisor
    backbone.update(channels=channels, drop_path_rate=0.0, init_cfg=None)
    head.update(in_channels=[channels * 2 ** i for i in range(4)], channels=head.channels // divisor, num_classes=4)
    aux.update(in_channels=channels * 4, channels=aux.channels // divisor, num_classes=4)
    cfg.model.data_preprocessor.size = (crop, crop)
    cfg.train_dataloader = dict(
        batch_size=2, num_workers=0, persistent_workers=False, sampler=dict(type='InfiniteSampler', shuffle=False),
        dataset=dict(type='BaseSegDataset', data_root=osp.join(data_root, 'ade'), img_suffix='.jpg',
                     seg_map_suffix='.png', reduce_zero_label=True,
                     data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
                     metainfo=dict(classes=('background', 'circle', 'square', 'triangle')),
                     pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', reduce_zero_label=True),
                               dict(type='RandomCrop', crop_size=(crop, crop)), dict(type='PackSegInputs')]))
    for key in ('val_dataloader', 'val_evaluator', 'val_cfg', 'test_dataloader', 'test_evaluator', 'test_cfg'):
        cfg[key] = None
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1, val_interval=100)
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=1)]
    cfg.log_level = 'WARNING'
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=0)
    return cfg


def published_parameters(config_path):
    """Parameters of the published config's model, built on fake tensors (no memory)."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope

    from .training_memory import _FakeWithRealConstants
    cfg = Config.fromfile(config_path)
    cfg.model.backbone.init_cfg = None
    with _FakeWithRealConstants(), DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmengine')):
        model = MODELS.build(cfg.model)
        return sum(p.numel() for p in model.parameters())


def _status(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f'/proc/self/status has no {field}')


def _release_free_memory():
    gc.collect()
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)  # glibc keeps freed heap pages resident otherwise
    except (OSError, AttributeError):
        pass


def _size_on_disk(path):
    if osp.isdir(path):
        return sum(osp.getsize(osp.join(path, name)) for name in os.listdir(path))
    return osp.getsize(path)


@dataclass
class SaveCost:
    """One save, as measured: the slowest rank's seconds and every rank's increase of resident memory."""
    mode: str
    seconds: float
    peak_increase: list  # bytes, by rank
    bytes_on_disk: int
    files: int


@dataclass
class Measurement:
    name: str
    config: str
    divisor: int
    processes: int
    parameters: int  # of the reduced model
    state_bytes_per_rank: list  # parameters + AdamW state each rank holds before the saves
    saves: list  # SaveCost, one a mode


def measure_rank(name, config_path, divisor, data_root, work_dir):
    """In each process of a gloo group (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` / ``PORT`` set): train the
    reduced model one step under FSDP, save it each way; rank 0 returns the ``Measurement``, the others None."""
    from ..engine.fsdp import use_fsdp
    from ..engine.launch import build_runner, init_cpu_distributed
    from ..engine.param_names import FULL_SHAPE
    cfg = reduced_config(config_path, divisor, data_root, osp.join(work_dir, name))
    cfg.launcher = 'pytorch'
    init_cpu_distributed(cfg, 'pytorch')
    use_fsdp(cfg)
    runner = build_runner(cfg)
    runner.train()
    strategy, rank = runner.strategy, dist.get_rank()
    parameters = sum(torch.Size(getattr(p, FULL_SHAPE, p.shape)).numel() for p in strategy.model.parameters())
    optimizer = strategy.optim_wrapper.optimizer
    held = sum(p.numel() * p.element_size() for p in strategy.model.parameters())
    held += sum(v.numel() * v.element_size() for state in optimizer.state.values() for v in state.values()
                if torch.is_tensor(v))
    saves = []
    for mode in MODES:
        strategy.sharded_checkpoints = mode == 'sharded'
        path = osp.join(work_dir, f'{name}_{mode}.pth')
        _release_free_memory()
        dist.barrier()
        before = _status('VmRSS')
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets VmHWM to the current resident memory
        start = time.perf_counter()
        strategy.save_checkpoint(path, extra_ckpt=dict(meta=dict(epoch=0, iter=1)))
        dist.barrier()
        seconds = time.perf_counter() - start
        increase = _status('VmHWM') - before
        increases = [None] * dist.get_world_size()
        dist.all_gather_object(increases, increase)
        if rank == 0:
            files = len(os.listdir(path)) if osp.isdir(path) else 1
            saves.append(SaveCost(mode, seconds, increases, _size_on_disk(path), files))
            shutil.rmtree(path) if osp.isdir(path) else os.remove(path)
    states = [None] * dist.get_world_size()
    dist.all_gather_object(states, held)
    if rank != 0:
        return None
    return Measurement(name, config_path, divisor, dist.get_world_size(), parameters, states, saves)


def save_measurement(measurement, path):
    with open(path, 'w') as f:
        json.dump(asdict(measurement), f)


def load_measurement(path):
    with open(path) as f:
        data = json.load(f)
    data['saves'] = [SaveCost(**save) for save in data['saves']]
    return Measurement(**data)


@dataclass
class Fit:
    """``fixed + per_byte * bytes``, through two measured points."""
    fixed: float
    per_byte: float

    @classmethod
    def through(cls, points):
        (x0, y0), (x1, y1) = sorted(points)
        per_byte = (y1 - y0) / (x1 - x0)
        return cls(y0 - per_byte * x0, per_byte)

    def __call__(self, nbytes):
        return self.fixed + self.per_byte * nbytes


@dataclass
class Extrapolation:
    """A save of a published model over ``processes`` ranks, read off the fits of two ``Measurement``\ s."""
    name: str
    parameters: int
    processes: int
    checkpoint_bytes: float
    full_seconds: float
    full_rank0_bytes: float  # memory rank 0 adds during a full save
    sharded_seconds: float
    sharded_rank_bytes: float  # memory each rank adds during a sharded save (the largest over the ranks)


def fits(measurements):
    """{(mode, 'seconds' | 'memory'): Fit} over the bytes one process writes, from measurements of one model
    at two widths (module docstring)."""
    points = {}
    for m in measurements:
        for save in m.saves:
            written = save.bytes_on_disk / (m.processes if save.mode == 'sharded' else 1)
            memory = max(save.peak_increase) if save.mode == 'sharded' else save.peak_increase[0]
            points.setdefault((save.mode, 'seconds'), []).append((written, save.seconds))
            points.setdefault((save.mode, 'memory'), []).append((written, memory))
    return {key: Fit.through(found) for key, found in points.items()}


def extrapolate(measurements, parameters, processes):
    """A published model of ``parameters`` saved over ``processes`` ranks, from ``measurements`` of its reduced
    model at two widths (module docstring)."""
    fitted = fits(measurements)
    largest = max(measurements, key=lambda m: m.parameters)
    sharded = next(save for save in largest.saves if save.mode == 'sharded')
    total = sharded.bytes_on_disk / largest.parameters * parameters
    share = total / processes
    return Extrapolation(
        name=largest.name, parameters=parameters, processes=processes, checkpoint_bytes=total,
        full_seconds=fitted['full', 'seconds'](total), full_rank0_bytes=fitted['full', 'memory'](total),
        sharded_seconds=fitted['sharded', 'seconds'](share), sharded_rank_bytes=fitted['sharded', 'memory'](share))


def _worker(rank, processes, port, name, config_path, divisor, data_root, work_dir, output):
    from ..engine.launch import end_cpu_distributed_job
    os.environ['CUDA_VISIBLE_DEVICES'] = ''  # CPU processes over gloo, as measured (before CUDA is initialised)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(processes), MASTER_ADDR='127.0.0.1',
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    measurement = measure_rank(name, config_path, divisor, data_root, work_dir)
    if measurement is not None:
        save_measurement(measurement, output)
    end_cpu_distributed_job()


def run_measurement(name, config_path, divisor, processes, data_root, work_dir, port):
    """``measure_rank`` in ``processes`` new processes (gloo on CPUs); the ``Measurement``."""
    import torch.multiprocessing as mp
    output = osp.join(work_dir, f'{name}.json')
    mp.start_processes(_worker, args=(processes, port, name, config_path, divisor, data_root, work_dir, output),
                       nprocs=processes, start_method='spawn')
    return load_measurement(output)


GIB = 2 ** 30
MIB = 2 ** 20


def measured_table(measurements):
    """Markdown rows of the measured saves."""
    rows = ['| model (reduced) | parameters | processes | state per rank (MiB) | save | checkpoint (MiB, files) | '
            'seconds | memory added per rank during the save (MiB) |', '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for m in measurements:
        for save in m.saves:
            added = ', '.join(f'{b / MIB:.0f}' for b in save.peak_increase)
            rows.append(f'| {m.name} (widths / {m.divisor}) | {m.parameters / 1e6:.1f}M | {m.processes} | '
                        f"{', '.join(f'{b / MIB:.0f}' for b in m.state_bytes_per_rank)} | {save.mode} | "
                        f'{save.bytes_on_disk / MIB:.0f}, {save.files} | {save.seconds:.2f} | {added} |')
    return rows


def fits_table(name, fitted):
    """Markdown rows of a model's fits: fixed seconds and seconds a GiB written by one process, fixed MiB and
    MiB of memory a MiB written."""
    rows = [f'| {name}: save | fixed seconds | seconds a GiB one process writes | fixed memory (MiB) | '
            'memory a byte written |', '| --- | --- | --- | --- | --- |']
    for mode in MODES:
        seconds, memory = fitted[mode, 'seconds'], fitted[mode, 'memory']
        rows.append(f'| {mode} | {seconds.fixed:.2f} | {seconds.per_byte * GIB:.2f} | {memory.fixed / MIB:.0f} | '
                    f'{memory.per_byte:.2f} |')
    return rows


def extrapolated_table(extrapolations):
    """Markdown rows of the extrapolations."""
    rows = ['| model | parameters | checkpoint (GiB) | processes | full: seconds | full: rank 0 adds (GiB) | '
            'sharded: seconds | sharded: each rank adds (GiB) |', '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for e in extrapolations:
        rows.append(f'| {e.name} | {e.parameters / 1e9:.2f}B | {e.checkpoint_bytes / GIB:.1f} | {e.processes} | '
                    f'{e.full_seconds:.0f} | {e.full_rank0_bytes / GIB:.1f} | {e.sharded_seconds:.0f} | '
                    f'{e.sharded_rank_bytes / GIB:.2f} |')
    return rows
