"""Files that are either complete or absent: what a checkpoint must be when a job can be killed at
any moment (a preempted job gets SIGKILL after its grace period, in the middle of a save or not).

``AtomicLocalBackend`` is mmengine's local file backend whose ``put`` writes under a temporary name
in the same folder, flushes the data to the disk (``fsync``), renames the file to its name (a rename
within one file system is atomic) and flushes the folder, so that the rename itself survives a
crash (``write_atomically``; ``save_atomically`` streams a ``torch.save`` the same way). It is
registered as the file backend ``atomic_local``; ``CheckpointHook(backend_args=
dict(backend='atomic_local'))`` saves through it. A kill during a save leaves at most a stale
``*.part`` file, which no checkpoint search matches and ``remove_stale_parts`` deletes.

A checkpoint that is a folder (a sharded checkpoint, every process writing its own file into it) is
written the same way one level up: into ``<name>.part/``, flushed, then renamed (``publish_folder``).

Deletions can be deferred (``deferred_removals``): mmengine's CheckpointHook deletes the oldest
checkpoint it keeps (``max_keep_ckpts``) *before* writing the new one; deferred, the deletion
happens once the new one is complete.
"""
import contextlib
import glob
import os
import os.path as osp
import shutil

import torch
from mmengine.fileio import LocalBackend, register_backend

PART_SUFFIX = '.part'


def fsync_folder(folder):
    """Make the entries of ``folder`` (a rename, a new file) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _atomic_file(path):
    """A binary file to write ``path``'s new content into: ``<path>.part``, flushed to the disk and
    renamed to ``path`` when the block ends without an error."""
    path = os.fspath(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    part = path + PART_SUFFIX
    with open(part, 'wb') as f:
        yield f
        f.flush()
        os.fsync(f.fileno())
    os.replace(part, path)
    fsync_folder(folder)


def write_atomically(data, path):
    """Write ``data`` (bytes or str) to ``path`` so that ``path`` holds either its old content or all
    of ``data``, whenever the process dies."""
    with _atomic_file(path) as f:
        f.write(data.encode() if isinstance(data, str) else data)


def save_atomically(obj, path):
    """``torch.save(obj, path)`` so that ``path`` holds either its old content or all of ``obj``: the
    file is written under ``<path>.part`` (streamed, no copy in memory), flushed and renamed."""
    with _atomic_file(path) as f:
        torch.save(obj, f)


def publish_folder(part, path):
    """Rename the complete folder ``part`` to ``path`` (a folder ``path`` already there is replaced:
    moved aside under a ``.part`` name first, deleted after), and make the rename durable."""
    fsync_folder(part)
    parent = osp.dirname(osp.abspath(path))
    old = None
    if osp.lexists(path):
        old = path + '.old' + PART_SUFFIX
        if osp.lexists(old):
            _remove(old)
        os.rename(path, old)
    os.rename(part, path)
    fsync_folder(parent)
    if old is not None:
        _remove(old)


def _remove(path):
    if osp.isdir(path) and not osp.islink(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def remove_stale_parts(folder):
    """Delete what saves killed half-way left in ``folder``, files and folders (call only while
    nothing saves there)."""
    for part in glob.glob(osp.join(glob.escape(os.fspath(folder)), '*' + PART_SUFFIX)):
        _remove(part)


@register_backend('atomic_local', force=True)
class AtomicLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` whose writes are atomic and whose deletions can wait (module docstring)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._deferred = None

    def put(self, obj, filepath):
        write_atomically(obj, filepath)

    def put_text(self, obj, filepath, encoding='utf-8'):
        write_atomically(obj.encode(encoding), filepath)

    def remove(self, filepath):
        if self._deferred is not None:
            self._deferred.append(filepath)
        else:
            super().remove(filepath)

    def rmtree(self, dir_path):
        """Delete a folder (a sharded checkpoint); deferred as ``remove``."""
        if self._deferred is not None:
            self._deferred.append(dir_path)
        else:
            super().rmtree(dir_path)

    @contextlib.contextmanager
    def deferred_removals(self):
        """Deletions asked for inside the block happen when it ends without an error."""
        self._deferred = []
        try:
            yield
            pending, self._deferred = self._deferred, None
            for path in pending:
                if osp.isfile(path):
                    super().remove(path)
                elif osp.isdir(path):
                    super().rmtree(path)
        finally:
            self._deferred = None
