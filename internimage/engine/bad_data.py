"""Bad samples do not end a long run silently: an image or label map that is empty, truncated or not an
image is named (file and index), skipped and counted in the log, or, with strict data, ends the run
with that name (``BadSampleError``).

``guard_bad_samples(dataset, strict)`` wraps the ``prepare_data`` of an mmengine dataset (and of the
datasets inside a dataset wrapper): before the pipeline runs, the files the sample names (``img_path``,
``seg_map_path``) are checked, reading only their first and last bytes (``file_problem``): empty, a
known image format whose end is missing (JPEG without its end marker, PNG without its IEND chunk: a
copy or download cut short), or no image format at all. OpenCV decodes a truncated JPEG without an
error, greying the missing part: the check is what catches it. Errors of the decoders themselves
are caught too. A skipped sample is replaced the way mmengine replaces one its pipeline drops (another
index, drawn from numpy's generator: reproducible, and exact on resume).
"""
import logging
import os
import os.path as osp

from mmengine.logging import print_log

# Signatures of the image formats the pipelines read, and how a complete file of each ends.
SIGNATURES = {b'\xff\xd8\xff': 'JPEG', b'\x89PNG\r\n\x1a\n': 'PNG', b'BM': 'BMP', b'GIF8': 'GIF',
              b'II*\x00': 'TIFF', b'MM\x00*': 'TIFF', b'RIFF': 'WEBP'}
FILE_KEYS = ('img_path', 'seg_map_path')


# The key of a data loader config that ``internimage.engine.launch`` reads: 'skip' (the default) or 'strict'.
BAD_DATA_KEY = 'bad_data'


class BadSampleError(RuntimeError):
    """A sample that cannot be read; the message names its file and index."""


def file_problem(path):
    """Why the image file ``path`` cannot be a complete image, or None."""
    size = osp.getsize(path)
    if size == 0:
        return 'empty file'
    with open(path, 'rb') as f:
        head = f.read(16)
        f.seek(max(0, size - 16))
        tail = f.read()
    kind = next((name for magic, name in SIGNATURES.items() if head.startswith(magic)), None)
    if kind is None:
        return f'not an image (begins {head[:8]!r})'
    if kind == 'JPEG' and b'\xff\xd9' not in tail:
        return f'truncated JPEG ({size} bytes, no end marker)'
    if kind == 'PNG' and b'IEND' not in tail:
        return f'truncated PNG ({size} bytes, no IEND chunk)'
    return None


def decoder_error(error):
    """Whether ``error`` is a decoder's failure rather than a defect of the code. A missing file is
    neither: it means a wrong data root or list, so the run ends naming it instead of skipping it."""
    import cv2
    if isinstance(error, FileNotFoundError):
        return False
    return (isinstance(error, (OSError, cv2.error))
            or (isinstance(error, AssertionError) and 'failed to load' in str(error)))


class SampleGuard:
    """``prepare_data`` of one dataset, with the checks of the module docstring."""

    def __init__(self, dataset, strict):
        self.dataset, self.strict = dataset, strict
        self.prepare = dataset.prepare_data
        self.skipped = 0

    def __call__(self, index):
        info = self.dataset.get_data_info(index)
        files = [info[key] for key in FILE_KEYS if isinstance(info.get(key), str) and osp.isfile(info[key])]
        problem = next(((path, why) for path in files for why in [file_problem(path)] if why), None)
        if problem is None:
            try:
                return self.prepare(index)
            except Exception as error:
                if not decoder_error(error):
                    raise
                problem = (', '.join(files) or '?', f'{type(error).__name__}: {str(error).strip()[:200]}')
        path, why = problem
        where = f'sample {index} of {type(self.dataset).__name__}: {path}: {why}'
        if self.strict:
            raise BadSampleError(f'bad data ({where}); strict data asked for, so training stops')
        self.skipped += 1
        print_log(f'bad data skipped ({where}); {self.skipped} skipped so far in process {os.getpid()}',
                  logger='current', level=logging.WARNING)
        return None  # mmengine's BaseDataset draws another index


def guard_bad_samples(dataset, strict=False):
    """Install ``SampleGuard`` on ``dataset`` and on the datasets a wrapper holds; return ``dataset``.
    Test-mode datasets are left alone: mmengine replaces no sample there, every one is evaluated."""
    if getattr(dataset, 'test_mode', False):
        return dataset
    inner = getattr(dataset, 'datasets', None) or [getattr(dataset, 'dataset', None)]
    for each in inner:
        if each is not None and each is not dataset:
            guard_bad_samples(each, strict)
    if hasattr(dataset, 'prepare_data') and hasattr(dataset, 'get_data_info') \
            and not isinstance(dataset.prepare_data, SampleGuard):
        dataset.prepare_data = SampleGuard(dataset, strict)
    return dataset

