"""Make a sharded checkpoint (a folder that ``tools/train.py --fsdp --sharded-checkpoints`` wrote) the plain
model file that tools/test.py, ``load_from`` and the export tools load::

    python tools/model_converters/sharded_to_plain.py work_dirs/x/iter_160000.pth iter_160000_plain.pth

Runs in one process at any size of the run that wrote it; the output holds ``state_dict`` (the plain model's
keys, every shard gathered) and ``meta``, as a full checkpoint without the optimizer state. The library:
``internimage/checkpoint/sharded.py``.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from internimage.checkpoint.safe_loading import CheckpointError  # noqa: E402
from internimage.checkpoint.sharded import convert_to_plain  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('input', help='sharded checkpoint folder (holding .metadata, __*.distcp, extra.pth)')
    parser.add_argument('output', help='where to write the plain checkpoint file')
    args = parser.parse_args(argv)
    try:
        count, size = convert_to_plain(args.input, args.output)
    except CheckpointError as error:
        sys.exit(str(error))
    print(f'{args.input} -> {args.output}: {count} tensors, {size / 2**20:.1f} MiB')


if __name__ == '__main__':
    main()
