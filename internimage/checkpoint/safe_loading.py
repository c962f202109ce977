"""Checkpoint loading that stays weights-only on torch >= 2.6.

torch.load defaults to ``weights_only=True``: it refuses any pickled object that is
not a tensor or a plain container, so a downloaded checkpoint cannot run code on
load. mmengine 0.10 saves a few objects of its own in its checkpoints (the message
hub's ``HistoryBuffer``, numpy scalars and arrays in ``meta``), so stock mmengine
cannot resume from what it saved. Instead of switching ``weights_only`` off, we
add exactly those types to torch's allowlist; anything else is still refused.

A ``HistoryBuffer`` pickles its bound statistics methods through ``getattr``,
which no allowlist should admit, so we also save it as plain data: its
constructor with the two histories as lists.

A local file that does not load is explained in one message naming it: not a
checkpoint at all, a damaged or truncated one, or one refused because it
carries code (``CheckpointError``).
"""
import copyreg
import os
import os.path as osp
import pickle
import re
from urllib.parse import urlparse

import numpy as np
import torch


def _numpy_globals():
    """The numpy functions and types that pickled arrays and scalars refer to."""
    multiarray = getattr(np, '_core', np.core).multiarray
    found = [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype]
    found += [type(np.dtype(name)) for name in ('float16', 'float32', 'float64', 'int8', 'int16', 'int32',
                                                'int64', 'uint8', 'bool')]
    return found


def _reduce_history_buffer(buffer):
    from mmengine.logging.history_buffer import HistoryBuffer
    return HistoryBuffer, (buffer._log_history.tolist(), buffer._count_history.tolist(), buffer.max_length)


def load_url_weights_only(filename, map_location=None, model_dir=None):
    """mmengine's http(s) checkpoint loader, but weights-only: mmengine goes through
    ``torch.hub.load_state_dict_from_url``, whose default is ``weights_only=False``."""
    from mmengine.dist import get_dist_info
    rank, world_size = get_dist_info()

    def load():
        try:
            return torch.hub.load_state_dict_from_url(filename, model_dir=model_dir, map_location=map_location,
                                                      weights_only=True)
        except CHECKPOINT_LOAD_ERRORS as error:  # the downloaded file is there to be examined
            cached = osp.join(model_dir or osp.join(torch.hub.get_dir(), 'checkpoints'),
                              osp.basename(urlparse(filename).path))
            if not osp.isfile(cached):
                raise
            raise CheckpointError(f'{describe_load_failure(cached, error)} (downloaded from {filename})') from error

    checkpoint = load() if rank == 0 else None
    if world_size > 1:
        torch.distributed.barrier()  # rank 0 downloaded it; the others read the cached file
        if rank > 0:
            checkpoint = load()
    return checkpoint


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be loaded; the message names the file and says why."""


# What torch.load raises for a file it cannot read: a refused or broken pickle, a broken zip
# archive (RuntimeError from its stream reader), a file that ends too early.
CHECKPOINT_LOAD_ERRORS = (pickle.UnpicklingError, RuntimeError, EOFError, ValueError)


# How torch.save files begin: the zip format (torch >= 1.6), or the legacy format, a pickle
# (protocol 2) whose first object is torch's magic number.
ZIP_MAGIC = b'PK\x03\x04'
LEGACY_MAGIC = b'\x80\x02\x8a\x0al\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19'


def describe_load_failure(filename, error):
    """One message for a local checkpoint torch could not load: refused because it carries code,
    damaged or truncated (with its size), or not a checkpoint at all."""
    size = osp.getsize(filename)
    with open(filename, 'rb') as f:
        head = f.read(len(LEGACY_MAGIC))
    torch_format = head.startswith(ZIP_MAGIC) or head == LEGACY_MAGIC
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    unsupported = next((line for line in lines if 'Unsupported global' in line), None)
    if torch_format and unsupported:
        return (f'Refused to load the checkpoint {filename}: it contains pickled objects other than weights, '
                'and loading them could run arbitrary code. Nothing from it was executed. Only tensors, plain '
                f'containers and the types mmengine itself saves are accepted. (torch: {unsupported})')
    if torch_format:
        return (f'The checkpoint {filename} is damaged or truncated ({size} bytes): it begins as a PyTorch '
                'checkpoint but cannot be read to the end (an interrupted download or copy, or a job killed '
                f'while saving?). (torch: {lines[0] if lines else type(error).__name__})')
    return (f'{filename} is not a PyTorch checkpoint ({size} bytes, beginning {head[:8]!r}): '
            'torch.save writes a zip archive or, before torch 1.6, a pickle starting with its magic number.')


def load_local_checked(filename, map_location=None):
    """mmengine's local-file checkpoint loader (weights-only, torch's default), with failures
    explained by ``describe_load_failure`` instead of torch's raw errors."""
    filename = osp.expanduser(filename)
    if osp.isdir(filename):
        raise CheckpointError(f'{filename} is a folder, not a checkpoint file. A sharded checkpoint (written with '
                              '--sharded-checkpoints) loads in sharded training (--fsdp, --resume); for anything '
                              'else make it a plain file: python tools/model_converters/sharded_to_plain.py '
                              f'{filename} OUT.pth')
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return _load_explained(filename, map_location=map_location)


def _load_explained(filename, **load_args):
    """``torch.load`` (weights-only), raising ``CheckpointError`` with ``describe_load_failure``'s message."""
    try:
        return torch.load(filename, **load_args)
    except CHECKPOINT_LOAD_ERRORS as error:
        raise CheckpointError(describe_load_failure(filename, error)) from error


def allow_mmengine_checkpoints():
    """Save mmengine's HistoryBuffer as data, allow the types mmengine writes, make URL
    checkpoints weights-only too, and explain local files that fail to load (idempotent)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    from mmengine.runner.checkpoint import CheckpointLoader
    copyreg.pickle(HistoryBuffer, _reduce_history_buffer)
    torch.serialization.add_safe_globals([HistoryBuffer, *_numpy_globals()])
    CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), loader=load_url_weights_only, force=True)
    CheckpointLoader.register_scheme(prefixes='', loader=load_local_checked, force=True)


def check_loadable(filename):
    """Raise ``CheckpointError`` unless ``filename`` loads weights-only. A zip checkpoint is
    memory-mapped, so checking a large one costs little (a truncated zip has no central
    directory and fails at once)."""
    allow_mmengine_checkpoints()
    with open(filename, 'rb') as f:
        zipped = f.read(len(ZIP_MAGIC)) == ZIP_MAGIC
    _load_explained(filename, map_location='cpu', mmap=zipped)


def checkpoints_newest_first(work_dir):
    """The checkpoints mmengine's CheckpointHook saved in a work dir (``iter_N.pth`` / ``epoch_N.pth``, files
    or sharded checkpoint folders), newest first, by time of writing and step (a run stopped mid-epoch saves
    ``iter_N.pth`` among ``epoch_N.pth``); the one ``last_checkpoint`` names comes first if it is named
    otherwise."""
    steps = {}
    for name in os.listdir(work_dir):
        match = re.fullmatch(r'(?:iter|epoch)_(\d+)\.pth', name)
        if match:
            steps[osp.join(work_dir, name)] = int(match.group(1))
    found = sorted(steps, key=lambda path: (osp.getmtime(path), steps[path]), reverse=True)
    last_file = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(last_file):
        with open(last_file) as f:
            last = f.read().strip()
        if osp.exists(last) and not any(osp.samefile(last, path) for path in found):
            found.insert(0, last)
    return found
