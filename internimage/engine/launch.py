"""What tools/train.py and tools/test.py share: config loading, distributed set-up and the
mmengine Runner, for detection, segmentation and classification configs alike.

mmengine's launchers assume GPUs: its pytorch launcher calls ``torch.cuda.set_device``
and its slurm launcher divides by the GPU count. Without a GPU we initialise the
process group ourselves with gloo (from torchrun's or Slurm's environment), and
wrap the model in DDP without device ids, so the same launch scripts run on a CPU
machine. With GPUs, mmengine's own launchers are used unchanged.

A CPU (gloo) job ends through ``end_cpu_distributed_job`` on success; see there why.
"""
import atexit
import datetime
import logging
import os
import os.path as osp
import subprocess
import sys

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log

from ..checkpoint.safe_loading import CheckpointError, allow_mmengine_checkpoints
# Registered by name for the configs: CPUDistributedDataParallel, InternImageFSDP and its strategy, StateMemoryHook.
from . import cpu_ddp, fsdp, hooks  # noqa: F401
from .bad_data import BAD_DATA_KEY, BadSampleError, guard_bad_samples
from .non_finite import NonFiniteLossError
from .preemption import STOPPED_EXIT_STATUS, TrainingStopped, shield_workers


def load_config(path, cfg_options=None, work_dir=None, launcher='none'):
    """Read a config (its custom_imports are imported), apply overrides, set work dir and launcher."""
    if not osp.isfile(path):
        sys.exit(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(path))[0])
    if launcher != 'none' and not torch.cuda.is_available():
        init_cpu_distributed(cfg, launcher)
    return cfg


def slurm_environment():
    """RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR for torch.distributed, from Slurm's variables."""
    nodes = os.environ['SLURM_NODELIST']
    first_node = subprocess.run(['scontrol', 'show', 'hostnames', nodes], capture_output=True,
                                text=True).stdout.split()
    os.environ['MASTER_ADDR'] = os.environ.get('MASTER_ADDR') or (first_node[0] if first_node else '127.0.0.1')
    os.environ.setdefault('MASTER_PORT', '29500')
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')


def init_cpu_distributed(cfg, launcher):
    """Process group over gloo for a machine without GPUs; the Runner then skips its own init."""
    if launcher == 'slurm':
        slurm_environment()
    elif launcher != 'pytorch':
        sys.exit(f'--launcher {launcher} needs GPUs here; use pytorch or slurm on a CPU machine')
    timeout = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout')
    kwargs = {'timeout': datetime.timedelta(seconds=timeout)} if timeout else {}
    restart = os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')
    if restart != '0':
        # A group torchrun restarted (--max-restarts) finds in torchrun's store the addresses of the group
        # it replaces, under the same keys, and fails to connect: its keys get a prefix of their own.
        rank, world_size = int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
        agent_store = os.environ.get('TORCHELASTIC_USE_AGENT_STORE') == 'True'
        store = torch_dist.TCPStore(os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT']), world_size,
                                    is_master=rank == 0 and not agent_store)
        kwargs.update(store=torch_dist.PrefixStore(f'restart_{restart}', store), rank=rank, world_size=world_size)
    torch_dist.init_process_group(backend='gloo', **kwargs)
    cfg.launcher = 'pytorch'
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    # DDP of a CPU module takes no device ids (mmengine's default passes LOCAL_RANK).
    wrapper = dict(type='CPUDistributedDataParallel', device_ids=None, broadcast_buffers=False,
                   find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.update(cfg.get('model_wrapper_cfg') or {})
    cfg.model_wrapper_cfg = wrapper


class EmptyDatasetError(RuntimeError):
    pass


def build_checked_dataset(dataset_cfg):
    """Build a dataset as the Runner does, and refuse an empty one with a message naming where it
    looked: an empty training set otherwise fails deep in a sampler or hangs an infinite one."""
    from mmengine.registry import DATASETS
    dataset = DATASETS.build(dict(dataset_cfg, lazy_init=True))  # mmengine datasets load in full_init
    empty = False
    try:
        if hasattr(dataset, 'full_init'):
            dataset.full_init()
    except ValueError:  # serialising an empty data list fails before any length check could run
        if getattr(dataset, 'data_list', None) != []:
            raise
        empty = True
    if empty or len(dataset) == 0:
        where = ', '.join(f'{key}={getattr(dataset, key)!r}' for key in ('data_root', 'ann_file', 'data_prefix')
                          if getattr(dataset, key, None))
        raise EmptyDatasetError(f'the dataset is empty: {type(dataset).__name__}({where}) found no samples. '
                                'Check the paths, and filter_cfg (which drops images without annotations).')
    return dataset


def checked_runner(runner_class):
    """``runner_class`` whose dataloaders refuse an empty dataset (:func:`build_checked_dataset`) and
    name, count and skip bad samples (``engine/bad_data.py``; the loader config's ``bad_data='strict'``
    stops instead)."""

    class CheckedRunner(runner_class):
        @staticmethod
        def build_dataloader(dataloader, seed=None, diff_rank_seed=False):
            if isinstance(dataloader, dict) and isinstance(dataloader.get('dataset'), dict):
                dataloader = dict(dataloader)
                strict = dataloader.pop(BAD_DATA_KEY, 'skip') == 'strict'
                dataset = guard_bad_samples(build_checked_dataset(dataloader['dataset']), strict)
                dataloader['dataset'] = dataset
            loader = runner_class.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)
            return shield_workers(loader)  # workers ignore the stop signals (engine/preemption.py)

    return CheckedRunner


def build_runner(cfg):
    """mmengine's Runner, or its FlexibleRunner (``runner_type='FlexibleRunner'``: a ``strategy``,
    e.g. sharded training, ``internimage.engine.fsdp``); another ``runner_type`` from the registry."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import FlexibleRunner, Runner

    allow_mmengine_checkpoints()
    runner_type = cfg.get('runner_type', 'Runner')
    if runner_type in ('Runner', 'FlexibleRunner'):
        return checked_runner(FlexibleRunner if runner_type == 'FlexibleRunner' else Runner).from_cfg(cfg)
    return RUNNERS.build(cfg)


def end_cpu_distributed_job(status=0):
    """End a successful CPU (gloo) distributed job: every rank waits for the others, then the
    process exits without finalising the interpreter.

    Why not a normal exit: gloo's worker threads release the last reference to a finished
    collective (and so to its tensors, whose Python objects need the GIL) only after the caller's
    ``wait()`` has returned. If that happens once the interpreter has begun finalising, Python 3.11
    ends the worker with ``pthread_exit`` inside a C++ destructor and the process aborts
    ("terminate called without an active exception", SIGABRT). Destroying the process group does
    not join those workers: DDP and the Runner keep references to the group, so it is only
    unregistered. ``os._exit`` after the barrier cannot race: the interpreter never finalises, so no
    thread ever finds the GIL gone. What a normal exit would still do is done first: atexit
    handlers, logging handlers and the standard streams are flushed.
    A failed rank does not come here: it exits non-zero at once, and torchrun or Slurm ends the job.
    """
    torch_dist.barrier()  # no rank leaves while another still needs it for a collective
    torch_dist.destroy_process_group()
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(status)


def run_safely(job):
    """Run ``job``; bad input ends the program with one message instead of a traceback: a checkpoint
    that does not load (not a checkpoint, damaged, or carrying code), a missing file, an unknown type
    name, an empty dataset. A run stopped by a signal after saving its checkpoint (``TrainingStopped``)
    exits with ``STOPPED_EXIT_STATUS``. A CPU distributed job that succeeded or stopped so ends through
    ``end_cpu_distributed_job``."""
    cpu_distributed = (torch_dist.is_initialized() and torch_dist.get_backend() == 'gloo'
                       and not torch.cuda.is_available())
    try:
        result = job()
    except TrainingStopped as stopped:
        print_log(str(stopped), logger='current')
        if cpu_distributed:
            end_cpu_distributed_job(STOPPED_EXIT_STATUS)
        sys.exit(STOPPED_EXIT_STATUS)
    except (CheckpointError, NonFiniteLossError, BadSampleError) as error:
        sys.exit(str(error))
    except FileNotFoundError as error:
        # From a dataloader worker only the message survives; its last line names the file.
        sys.exit(f'file not found: {error.filename or str(error).strip().splitlines()[-1]}')
    except EmptyDatasetError as error:
        sys.exit(f'error: {error}')
    except KeyError as error:
        message = str(error.args[0]) if error.args else ''
        if 'registry' not in message:  # a registry's "X is not in the mmdet::model registry ..."
            raise
        sys.exit(f'error: {message}')
    if cpu_distributed:
        end_cpu_distributed_job()
    return result
