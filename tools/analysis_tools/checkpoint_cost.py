"""Time and memory of saving a checkpoint of sharded training, full (rank 0 gathers, ``--fsdp``) against
sharded (every rank writes its shards, ``--fsdp --sharded-checkpoints``), on CPU processes over gloo, with
the giants' reduced models, and extrapolated to the published sizes::

    python tools/analysis_tools/checkpoint_cost.py                  # UperNet-H and -G, widths / 8 and / 4, 2 processes
    python tools/analysis_tools/checkpoint_cost.py --models H --divisors 16 8 --gpus 8 16 32

How it measures and what the extrapolation assumes: internimage/analysis/checkpoint_cost.py.
"""
import argparse
import socket
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'tools/misc'))
from internimage.analysis.checkpoint_cost import (extrapolate, extrapolated_table, fits, fits_table,  # noqa: E402
                                                  measured_table, published_parameters, run_measurement)
from make_shapes_dataset import make_dataset  # noqa: E402

CONFIGS = {'H': 'configs/ade20k/upernet_internimage_h_896_160k_ade20k.py',
           'G': 'configs/ade20k/upernet_internimage_g_896_160k_ade20k.py'}


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', choices=sorted(CONFIGS), default=['H', 'G'])
    parser.add_argument('--divisors', type=int, nargs=2, default=[8, 4],
                        help='the two reductions measured: the published widths divided by each')
    parser.add_argument('--processes', type=int, default=2)
    parser.add_argument('--gpus', type=int, nargs='+', default=[8, 16], help='process counts to extrapolate to')
    parser.add_argument('--work-dir', help='where the checkpoints are written (default: a temporary folder)')
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.work_dir) as work_dir:
        data = make_dataset(Path(work_dir) / 'shapes', train=4, val=1, size=96, seed=5)
        measurements, fitted, extrapolations = [], [], []
        for name in args.models:
            config = str(ROOT / CONFIGS[name])
            pair = [run_measurement(f'UperNet-{name}', config, divisor, args.processes, str(data), work_dir,
                                    free_port()) for divisor in args.divisors]
            print('\n'.join(measured_table(pair)), flush=True)
            measurements += pair
            fitted.append(fits_table(f'UperNet-{name}', fits(pair)))
            parameters = published_parameters(config)
            extrapolations += [extrapolate(pair, parameters, gpus) for gpus in args.gpus]
    print('\nMeasured:')
    print('\n'.join(measured_table(measurements)))
    for rows in fitted:
        print('\n' + '\n'.join(rows))
    print('\nExtrapolated to the published sizes:')
    print('\n'.join(extrapolated_table(extrapolations)))


if __name__ == '__main__':
    main()
