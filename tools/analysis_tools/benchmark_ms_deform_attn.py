"""Benchmark the op package's multi-scale deformable attention against mmcv's.

DINO's shapes for one image: 4 levels at strides 8, 16, 32 and 64 of the (padded) input, 8 heads of
32 channels, 4 points per level; the encoder's queries are its keys (22,323 at 800x1344), the
decoder's 900. Ours (``ops_dcnv3.functions.ms_deform_attn``) against what mmcv runs on that
device: ``multi_scale_deformable_attn_pytorch`` (one grid_sample per level) on the CPU, its CUDA
kernel on a GPU. Same inputs, same process, interleaved rounds (benchmark_dcnv3.measure);
forward and forward+backward, median/best milliseconds and mmcv / ours (above 1: ours is faster).

    python tools/analysis_tools/benchmark_ms_deform_attn.py --threads 2                 # CPU, 800x1344
    python tools/analysis_tools/benchmark_ms_deform_attn.py --device cuda --dtype float16
    python tools/analysis_tools/benchmark_ms_deform_attn.py --size 64,96 --repeat 1    # a quick check that it runs
    python tools/analysis_tools/benchmark_ms_deform_attn.py --threads 2 --heads 1      # fewer heads than threads
"""
import argparse
import math
import sys
import time
from pathlib import Path

import torch
from mmcv.ops.multi_scale_deform_attn import MultiScaleDeformableAttnFunction, multi_scale_deformable_attn_pytorch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_dcnv3 import common_arguments, compiled_devices, measure, set_up, summary  # noqa: E402
from ops_dcnv3.functions import ms_deform_attn  # noqa: E402

HEADS, CHANNELS, POINTS, STRIDES = 8, 32, 4, (8, 16, 32, 64)


def make_inputs(size, queries, device, dtype, heads=HEADS):
    """value, spatial_shapes, level_start_index, sampling_locations (around each query's reference
    point, a few pixels away, as a trained layer samples) and softmaxed attention weights."""
    height, width = size
    shapes = torch.tensor([(math.ceil(height / s), math.ceil(width / s)) for s in STRIDES])
    sizes = shapes.prod(-1)
    starts = torch.cumsum(sizes, 0) - sizes
    keys = int(sizes.sum())
    queries = keys if queries is None else queries
    gen = torch.Generator().manual_seed(0)
    levels = len(STRIDES)
    value = torch.randn(1, keys, heads, CHANNELS, generator=gen)
    reference = torch.rand(1, queries, 1, 1, 1, 2, generator=gen)
    offsets = torch.randn(1, queries, heads, levels, POINTS, 2, generator=gen) * 2  # pixels
    locations = reference + offsets / shapes.flip(-1).view(1, 1, 1, levels, 1, 2)
    weights = torch.randn(1, queries, heads, levels * POINTS, generator=gen).softmax(-1)
    weights = weights.view(1, queries, heads, levels, POINTS)
    floats = [t.to(device, dtype).requires_grad_() for t in (value, locations, weights)]
    return floats, shapes.to(device), starts.to(device)


def theirs(device):
    if device == 'cuda':
        return lambda v, s, i, l, w: MultiScaleDeformableAttnFunction.apply(v, s, i, l, w, 64)
    return lambda v, s, i, l, w: multi_scale_deformable_attn_pytorch(v, s, l, w)


def bench(size, queries, device, dtype, repeat, clock=time.perf_counter, heads=HEADS):
    """{(name, 'fwd' | 'fwd+bwd'): [ms, ...]}, measured interleaved."""
    (value, locations, weights), shapes, starts = make_inputs(size, queries, device, dtype, heads)
    calls = {}
    for name, fn in (('ours', ms_deform_attn), ('mmcv', theirs(device))):
        def forward(fn=fn):
            with torch.no_grad():
                fn(value, shapes, starts, locations, weights)

        def forward_backward(fn=fn):
            out = fn(value, shapes, starts, locations, weights)
            torch.autograd.grad(out, (value, locations, weights), torch.ones_like(out))
        calls.update({(name, 'fwd'): forward, (name, 'fwd+bwd'): forward_backward})
    return measure(calls, device, repeat, clock, warm_up=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_arguments(parser)
    parser.add_argument('--dtype', action='append', choices=['float32', 'float16', 'bfloat16', 'float64'],
                        help='dtype(s) (default: float32)')
    parser.add_argument('--size', default='800,1344', help='padded input H,W (default: 800,1344)')
    parser.add_argument('--heads', type=int, default=HEADS,
                        help=f'attention heads of {CHANNELS} channels (default {HEADS}, DINO\'s; with fewer heads than '
                        'threads the CPU backward cuts the queries into chunks)')
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split(','))
    dtypes = args.dtype or ['float32']
    devices, clock = set_up(args, ', '.join(dtypes))
    legend = ('ms as median/best of the interleaved rounds; x = mmcv over ours (mmcv: grid_sample on the CPU, '
              'its CUDA kernel on a GPU)')
    header = (f'{"device":6} {"dtype":8} {"layer":8} {"queries":>7} {"pass":7} | {"ours ms":>13} {"mmcv ms":>15} | '
              f'{"x":>11}')
    for device in compiled_devices(devices, legend, header):
        for dtype in dtypes:
            for layer, queries in (('encoder', None), ('decoder', 900)):
                s = bench(size, queries, device, getattr(torch, dtype), args.repeat, clock, args.heads)
                count = queries or sum(math.ceil(size[0] / st) * math.ceil(size[1] / st) for st in STRIDES)
                for mode in ('fwd', 'fwd+bwd'):
                    med, best, pair = summary({name: s[(name, mode)] for name in ('ours', 'mmcv')})
                    ratio = f'{med["mmcv"] / med["ours"]:.2f}/{best["mmcv"] / best["ours"]:.2f}'.rjust(11)
                    print(f'{device:6} {dtype:8} {layer:8} {count:>7} {mode:7} | {pair("ours")} {pair("mmcv", 15)} | '
                          f'{ratio}', flush=True)


if __name__ == '__main__':
    main()
