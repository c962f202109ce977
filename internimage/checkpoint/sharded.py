"""Sharded checkpoints on disk: a folder that ``torch.distributed.checkpoint`` (DCP) wrote, each process
its own shards, which loads at any number of processes (DCP reads the chunks each process needs). How
training writes and resumes them is ``internimage.engine.sharded_checkpoint``; this module reads them.

The folder has the name a full checkpoint file would have (``iter_<N>.pth/``, as mmengine names the
folders of its sharded strategies) and holds:

- ``.metadata``: DCP's index: every tensor's full shape and dtype, and which file holds which chunk;
- ``__<rank>_0.distcp``: the shards process ``<rank>`` held: the model's parameters and buffers under
  ``state_dict.<name>`` (the plain model's names) and the optimizer's state under
  ``optimizer.state.<name>.<exp_avg | exp_avg_sq | step>``;
- ``extra.pth``: the rest of what mmengine puts in a checkpoint, as rank 0 holds it (``meta``, with every
  rank's random generators for an exact resume, ``message_hub``, ``param_schedulers``) and the
  optimizer's ``param_groups`` by parameter name: a plain ``torch.save`` file, read weights-only.

Nothing here runs code from the files: the tensors and ``extra.pth`` load weights-only, and ``.metadata``
(a pickle, which DCP itself unpickles without restriction) is read admitting only DCP's own record types
(``SafeFileSystemReader``).
"""
import io
import os
import os.path as osp
import pickle
import warnings

import torch
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint.metadata import TensorStorageMetadata

from .safe_loading import CheckpointError, _load_explained, allow_mmengine_checkpoints, check_loadable

METADATA_FILE = '.metadata'
EXTRA_FILE = 'extra.pth'
MODEL_KEY = 'state_dict'
OPTIMIZER_KEY = 'optimizer'
# In extra.pth: the optimizer's param_groups (its state is in the shards).
PARAM_GROUPS_KEY = 'optimizer_param_groups'

_DCP_MODULES = ('torch.distributed.checkpoint.metadata', 'torch.distributed.checkpoint.filesystem')
_PATH_TYPES = ('PosixPath', 'PurePosixPath', 'WindowsPath', 'PureWindowsPath')


class _MetadataUnpickler(pickle.Unpickler):
    """Unpickles DCP's metadata records only: its dataclasses, torch's dtypes, ``torch.Size``, layouts and
    paths; any other global is refused."""

    def find_class(self, module, name):
        if module in _DCP_MODULES:
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        elif module == 'torch' and (name == 'Size' or isinstance(getattr(torch, name, None), torch.dtype)):
            return getattr(torch, name)
        elif (module, name) == ('torch.serialization', '_get_layout'):
            return super().find_class(module, name)
        elif module == 'pathlib' and name in _PATH_TYPES:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f'global {module}.{name} is not one of the types DCP metadata holds')


class SafeFileSystemReader(FileSystemReader):
    """DCP's ``FileSystemReader`` whose ``.metadata`` is unpickled by ``_MetadataUnpickler``."""

    def read_metadata(self, *args, **kwargs):
        return read_metadata(self.path)


def is_sharded_checkpoint(path):
    """Whether ``path`` is a folder holding DCP metadata (complete or not: see ``check_sharded_checkpoint``)."""
    return osp.isdir(path) and osp.isfile(osp.join(path, METADATA_FILE))


def read_metadata(path):
    """DCP's ``Metadata`` of the sharded checkpoint ``path`` (``CheckpointError`` naming the file if it
    cannot be read)."""
    filename = osp.join(os.fspath(path), METADATA_FILE)
    if not osp.isfile(filename):
        raise CheckpointError(not_sharded_message(path))
    try:
        with open(filename, 'rb') as f:
            return _MetadataUnpickler(io.BytesIO(f.read())).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError, TypeError) as error:
        raise CheckpointError(f'The sharded checkpoint {path} has a damaged or foreign index {filename} '
                              f'({osp.getsize(filename)} bytes): {error}') from error


def not_sharded_message(path):
    if not osp.exists(path):
        return f'no sharded checkpoint at {path}: it does not exist'
    if not osp.isdir(path):
        return f'{path} is a file, not a sharded checkpoint (a folder written by torch.distributed.checkpoint)'
    entries = sorted(os.listdir(path))
    shown = ', '.join(entries[:5]) + (', ...' if len(entries) > 5 else '') if entries else 'nothing'
    return (f'{path} is not a sharded checkpoint: it has no {METADATA_FILE} (the index '
            f'torch.distributed.checkpoint writes last); it holds {shown}')


def read_extra(path):
    """The non-tensor part of a sharded checkpoint (``extra.pth``: meta, message_hub, param_schedulers,
    the optimizer's param_groups), loaded weights-only."""
    filename = osp.join(os.fspath(path), EXTRA_FILE)
    if not osp.isfile(filename):
        raise CheckpointError(f'The sharded checkpoint {path} has no {EXTRA_FILE} (meta, message hub, '
                              'schedulers): not written by this project, or damaged')
    allow_mmengine_checkpoints()
    return _load_explained(filename, map_location='cpu')


def check_sharded_checkpoint(path):
    """Raise ``CheckpointError`` unless ``path`` is a complete sharded checkpoint: its index reads, every
    shard file it names is there and long enough, ``extra.pth`` loads."""
    metadata = read_metadata(path)
    needed = {}
    for info in (metadata.storage_data or {}).values():
        needed[info.relative_path] = max(needed.get(info.relative_path, 0), info.offset + info.length)
    for name, size in sorted(needed.items()):
        filename = osp.join(path, name)
        if not osp.isfile(filename):
            raise CheckpointError(f'The sharded checkpoint {path} lacks its shard file {name} (named in its '
                                  f'{METADATA_FILE})')
        if osp.getsize(filename) < size:
            raise CheckpointError(f'The sharded checkpoint {path} has a truncated shard {filename}: '
                                  f'{osp.getsize(filename)} bytes, its index needs {size}')
    read_extra(path)
    return metadata


def check_checkpoint(path):
    """Raise ``CheckpointError`` unless ``path`` loads: a checkpoint file weights-only
    (``safe_loading.check_loadable``), a folder as a complete sharded checkpoint."""
    if osp.isdir(path):
        check_sharded_checkpoint(path)
    else:
        check_loadable(path)


def model_tensors(metadata):
    """{the plain model's key: DCP's ``TensorStorageMetadata``} of a sharded checkpoint's model part."""
    found = {}
    for key, item in metadata.state_dict_metadata.items():
        location = (metadata.planner_data or {}).get(key)
        if location is None:  # no mappings recorded: DCP's flattening joins the levels with dots
            location = tuple(key.split('.', 1))
        if len(location) == 2 and location[0] == MODEL_KEY:
            if not isinstance(item, TensorStorageMetadata):
                raise CheckpointError(f'{key}: not a tensor in the sharded checkpoint')
            found[location[1]] = item
    return found


def load_plain_model(path):
    """``(state_dict, meta)`` of a sharded checkpoint: the whole model, with the plain model's keys, read in
    this process (no process group; DCP gathers every rank's shards of each tensor)."""
    from torch.distributed.checkpoint import load
    metadata = check_sharded_checkpoint(path)
    tensors = model_tensors(metadata)
    if not tensors:
        raise CheckpointError(f'The sharded checkpoint {path} holds no model tensors (no "{MODEL_KEY}." keys '
                              f'in its {METADATA_FILE})')
    state_dict = {key: torch.empty(item.size, dtype=item.properties.dtype) for key, item in tensors.items()}
    with warnings.catch_warnings():  # DCP says it assumes a single process: it is one
        warnings.filterwarnings('ignore', message='torch.distributed is disabled')
        load({MODEL_KEY: state_dict}, storage_reader=SafeFileSystemReader(path), no_dist=True)
    return state_dict, read_extra(path).get('meta', {})


def convert_to_plain(path, output):
    """Write the plain model file of the sharded checkpoint ``path`` to ``output`` (``state_dict``, ``meta``);
    return (number of tensors, bytes written)."""
    state_dict, meta = load_plain_model(path)
    torch.save({MODEL_KEY: state_dict, 'meta': meta}, output)
    return len(state_dict), osp.getsize(output)
