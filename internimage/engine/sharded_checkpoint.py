"""Writing and resuming sharded checkpoints of an FSDP model (the layout: ``internimage.checkpoint.sharded``):
every process writes its own shards in parallel through ``torch.distributed.checkpoint`` (DCP); nothing is
gathered. Called by ``InternImageFSDPStrategy`` (``internimage.engine.fsdp``) from mmengine's
``save_checkpoint`` / ``load_checkpoint`` / ``resume``.

- ``save_sharded``: mmengine's checkpoint dict (model and optimizer state as torch's
  ``get_state_dict`` gives them sharded, by the plain model's parameter names) into a folder, atomically:
  written as ``<name>.part/`` (DCP flushes each file), renamed by rank 0 once every process has written
  (DCP's last step is a collective), then the other processes go on. A kill at any moment leaves either
  the complete folder or a ``.part`` leftover that no checkpoint search matches.
- ``load_sharded_model`` / ``load_sharded_optimizer``: the shards this process holds now, whatever the
  number of processes that wrote them (DCP reads the overlapping chunks), into the wrapped model and its
  optimizer.
"""
import os
import os.path as osp
import shutil

import torch
import torch.distributed as dist
from torch.distributed.checkpoint import FileSystemWriter, load, save
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                     get_optimizer_state_dict, get_state_dict, set_model_state_dict,
                                                     set_optimizer_state_dict)

from ..checkpoint.safe_loading import CheckpointError
from ..checkpoint.sharded import (EXTRA_FILE, MODEL_KEY, OPTIMIZER_KEY, PARAM_GROUPS_KEY, SafeFileSystemReader,
                                  model_tensors, read_extra, read_metadata)
from .atomic_files import PART_SUFFIX, publish_folder, save_atomically


def sharded_state(model, optimizer=None):
    """``(model state, optimizer state)`` of this process's shards, by the plain model's names (the
    optimizer's is None without an optimizer)."""
    if optimizer is None:
        return get_model_state_dict(model), None
    return get_state_dict(model, optimizer)


def _tensor_leaves(tree, prefix=''):
    """Raise unless every leaf of ``tree`` is a tensor: DCP would pickle anything else into the shards
    (loaded back with unrestricted unpickling); such values go to extra.pth."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            _tensor_leaves(value, f'{prefix}{key}.')
    elif not isinstance(tree, torch.Tensor):
        raise TypeError(f'{prefix[:-1]}: {type(tree).__name__}, not a tensor; a sharded checkpoint holds '
                        'only tensors in its shards')


def save_sharded(checkpoint, path):
    """Write mmengine's ``checkpoint`` dict (``state_dict`` and ``optimizer`` as ``sharded_state`` gives
    them, the rest plain) as the sharded checkpoint folder ``path``; a collective (module docstring)."""
    path = os.fspath(path)
    part = path + PART_SUFFIX
    rank = dist.get_rank()
    extra = {key: value for key, value in checkpoint.items() if key not in (MODEL_KEY, OPTIMIZER_KEY)}
    tensors = {MODEL_KEY: checkpoint[MODEL_KEY]}
    optimizer = checkpoint.get(OPTIMIZER_KEY)
    if optimizer is not None:
        tensors[OPTIMIZER_KEY] = {'state': optimizer['state']}
        extra[PARAM_GROUPS_KEY] = optimizer['param_groups']
    _tensor_leaves(tensors)
    if rank == 0:
        if osp.lexists(part):  # a save killed half-way
            shutil.rmtree(part)
        os.makedirs(part)
        save_atomically(extra, osp.join(part, EXTRA_FILE))
    dist.barrier()  # the folder is there, empty of any earlier attempt
    save(tensors, storage_writer=FileSystemWriter(part, sync_files=True))
    # save() ends with a collective in which rank 0 writes the index after every rank reported its files
    # written and flushed; only then is the folder complete.
    if rank == 0:
        publish_folder(part, path)
    dist.barrier()


def load_sharded_model(model, path, strict=True):
    """Load the model part of the sharded checkpoint ``path`` into the wrapped ``model`` (a collective);
    return (missing keys, unexpected keys). ``strict``: either is an error (``CheckpointError``)."""
    template = get_model_state_dict(model)
    saved = model_tensors(read_metadata(path))
    missing, unexpected = sorted(set(template) - set(saved)), sorted(set(saved) - set(template))
    if strict and (missing or unexpected):
        raise CheckpointError(f'The sharded checkpoint {path} does not fit the model: missing keys {missing[:10]}, '
                              f'unexpected keys {unexpected[:10]}')
    state = {MODEL_KEY: {key: value for key, value in template.items() if key in saved}}
    load(state, storage_reader=SafeFileSystemReader(path))
    set_model_state_dict(model, state[MODEL_KEY], options=StateDictOptions(strict=False))
    return missing, unexpected


def load_sharded_optimizer(model, optimizer, path, param_groups=None):
    """Load the optimizer part of the sharded checkpoint ``path`` into ``optimizer`` (a collective).
    ``param_groups``: the checkpoint's (from extra.pth when not given)."""
    if param_groups is None:
        param_groups = read_extra(path)[PARAM_GROUPS_KEY]
    # torch gives the state of an optimizer that has not stepped yet after a step of lr 0 (which leaves
    # the weights as they are): its tensors are the shapes to read into.
    template = get_optimizer_state_dict(model, optimizer)
    state = {OPTIMIZER_KEY: {'state': template['state']}}
    load(state, storage_reader=SafeFileSystemReader(path))
    set_optimizer_state_dict(model, optimizer, {'state': state[OPTIMIZER_KEY]['state'], 'param_groups': param_groups})
