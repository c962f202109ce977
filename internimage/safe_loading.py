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
"""
import copyreg
import pickle

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
        return torch.hub.load_state_dict_from_url(filename, model_dir=model_dir, map_location=map_location,
                                                  weights_only=True)

    checkpoint = load() if rank == 0 else None
    if world_size > 1:
        torch.distributed.barrier()  # rank 0 downloaded it; the others read the cached file
        if rank > 0:
            checkpoint = load()
    return checkpoint


def allow_mmengine_checkpoints():
    """Save mmengine's HistoryBuffer as data, allow the types mmengine writes, and make URL
    checkpoints weights-only too (idempotent)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    from mmengine.runner.checkpoint import CheckpointLoader
    copyreg.pickle(HistoryBuffer, _reduce_history_buffer)
    torch.serialization.add_safe_globals([HistoryBuffer, *_numpy_globals()])
    CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), loader=load_url_weights_only, force=True)


UNSAFE_CHECKPOINT_ERRORS = (pickle.UnpicklingError, )


def describe_refusal(error):
    """A one-paragraph explanation for a checkpoint torch refused to unpickle."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = next((line for line in lines if 'Unsupported global' in line), lines[0] if lines else repr(error))
    return ('Refused to load the checkpoint: it contains pickled objects other than weights, and loading '
            'them could run arbitrary code. Nothing from it was executed. Only tensors, plain containers '
            f'and the types mmengine itself saves are accepted. (torch: {reason})')
