"""Benchmark the compiled DCNv4 core against our DCNv3 core (softmax fused) and the reference.

Same shapes, same process, interleaved (one call of each core in turn per round, so load from
other processes hits them alike): forward and forward+backward, for each dtype asked. DCNv4
reads one offset_mask row per pixel and its mask as it is; our DCNv3 op is timed as the
InternImage layer calls it on the CPU, offsets and mask logits as column slices of one tensor and
the softmax fused into the kernel (on CUDA: the softmax, then the DCNv3 op). The reference is
dcnv4_core_pytorch (grid_sample). The table gives median/best milliseconds and the ratios
DCNv3 / DCNv4 and reference / DCNv4 (above 1: DCNv4 is faster).

    python tools/benchmark_dcnv4.py --threads 2                       # CPU, float32 and bfloat16
    python tools/benchmark_dcnv4.py --device cuda --dtype float16 --shapes 64,56,56,128,4
    python tools/benchmark_dcnv4.py --shapes 1,8,8,32,2 --repeat 1    # a quick check that it runs
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ops_dcnv3  # noqa: E402
from benchmark_dcnv3 import timed  # noqa: E402
from ops_dcnv3.functions import (DCNv4Function, dcnv3_softmax_core, dcnv4_core_pytorch,  # noqa: E402
                                 pack_offset_mask)

# (N, H, W, C, G): the four stages of InternImage-T / FlashInternImage-T at 224 (group width 16),
# and a detection-sized first stage.
SHAPES = [(1, 56, 56, 64, 4), (1, 28, 28, 128, 8), (1, 14, 14, 256, 16), (1, 7, 7, 512, 32), (2, 100, 152, 64, 4)]
CORES = ('dcnv4', 'dcnv3', 'reference')


def make_inputs(shape, device, dtype, kernel=3):
    """value, offset_mask (DCNv4), and offset / mask logits as column slices of one tensor (DCNv3)."""
    n, h, w, c, g = shape
    gen = torch.Generator().manual_seed(0)
    points = kernel * kernel
    value = torch.randn(n, h, w, c, generator=gen)
    projected = torch.randn(n, h, w, g * points * 3, generator=gen)
    offset, logits = projected.split([g * points * 2, g * points], dim=-1)
    offset_mask = pack_offset_mask(offset, torch.softmax(logits.reshape(n, h, w, g, points), -1).reshape(
        n, h, w, -1), g)
    params = (kernel, kernel, 1, 1, 1, 1, 1, 1, g, c // g, 1.0, 0)
    leaf = [t.to(device, dtype).requires_grad_() for t in (value, offset_mask, projected)]
    return leaf, params


def core_inputs(name, leaf):
    value, offset_mask, projected = leaf
    if name == 'dcnv3':
        points3 = projected.shape[-1] // 3
        return [value, *projected.split([2 * points3, points3], dim=-1)], [value, projected]
    return [value, offset_mask], [value, offset_mask]


def run(name, inputs, params):
    if name == 'dcnv4':
        return DCNv4Function.apply(*inputs, *params[:-1], 256, params[-1])
    if name == 'dcnv3':
        return dcnv3_softmax_core(*inputs, *params)
    return dcnv4_core_pytorch(*inputs, *params)


def bench(shape, device, dtype, repeat, clock=time.perf_counter):
    """{(core, 'fwd' | 'fwd+bwd'): [ms, ...]}, measured interleaved."""
    leaf, params = make_inputs(shape, device, dtype)
    calls = {}
    for name in CORES:
        def forward(name=name):
            with torch.no_grad():
                run(name, core_inputs(name, leaf)[0], params)

        def forward_backward(name=name):
            inputs, wrt = core_inputs(name, leaf)  # the split is part of DCNv3's cost, as in the layer
            out = run(name, inputs, params)
            torch.autograd.grad(out, wrt, torch.ones_like(out))
        calls.update({(name, 'fwd'): forward, (name, 'fwd+bwd'): forward_backward})
    for fn in calls.values():  # warm-up
        fn()
    samples = {key: [] for key in calls}
    for _ in range(repeat):
        for key, fn in calls.items():
            samples[key].append(timed(fn, device, clock))
    return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', choices=['cpu', 'cuda'], action='append',
                        help='device(s) to run on (default: cpu, and cuda when available)')
    parser.add_argument('--dtype', action='append', choices=['float32', 'float16', 'bfloat16', 'float64'],
                        help='dtype(s) (default: float32 and bfloat16)')
    parser.add_argument('--shapes', nargs='+', help='N,H,W,C,G shapes (default: the stage shapes)')
    parser.add_argument('--threads', type=int, default=None, help='CPU threads (default: torch default)')
    parser.add_argument('--repeat', type=int, default=20)
    parser.add_argument('--cpu-time', action='store_true', help='time CPU time of the process, not wall time')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.device or ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    dtypes = args.dtype or ['float32', 'bfloat16']
    shapes = [tuple(int(v) for v in s.split(',')) for s in args.shapes] if args.shapes else SHAPES
    clock = time.process_time if args.cpu_time else time.perf_counter
    load = os.getloadavg()
    print(f'ops_dcnv3 backends: {sorted(ops_dcnv3.backends())}; torch {torch.__version__}; '
          f'{torch.get_num_threads()} CPU threads; load average {load[0]:.2f} {load[1]:.2f}; '
          f'{"process CPU" if args.cpu_time else "wall"} time')
    print('ms as median/best of the interleaved rounds; v3/v4 = our DCNv3 (fused softmax) over DCNv4, '
          'ref/v4 = reference over DCNv4')
    header = (f'{"device":6} {"dtype":8} {"N,H,W,C,G":>16} {"pass":7} | {"DCNv4 ms":>13} {"DCNv3 ms":>13} '
              f'{"ref ms":>15} | {"v3/v4":>9} {"ref/v4":>11}')
    print(header)
    print('-' * len(header))
    for device in devices:
        if device not in ops_dcnv3.backends():
            print(f'{device}: no compiled kernel in this build, skipped')
            continue
        for dtype in dtypes:
            for shape in shapes:
                s = bench(shape, device, getattr(torch, dtype), args.repeat, clock)
                for mode in ('fwd', 'fwd+bwd'):
                    med = {core: statistics.median(s[(core, mode)]) for core in CORES}
                    best = {core: min(s[(core, mode)]) for core in CORES}

                    def pair(core, width=13):
                        return f'{med[core]:.2f}/{best[core]:.2f}'.rjust(width)

                    def ratio(core, width):
                        return f'{med[core] / med["dcnv4"]:.2f}/{best[core] / best["dcnv4"]:.2f}'.rjust(width)
                    print(f'{device:6} {dtype:8} {",".join(map(str, shape)):>16} {mode:7} | {pair("dcnv4")} '
                          f'{pair("dcnv3")} {pair("reference", 15)} | {ratio("dcnv3", 9)} '
                          f'{ratio("reference", 11)}', flush=True)


if __name__ == '__main__':
    main()
