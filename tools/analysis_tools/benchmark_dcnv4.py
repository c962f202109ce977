"""Benchmark the compiled DCNv4 core against our DCNv3 core (softmax fused) and the reference.

Same shapes, same process, interleaved (one call of each core in turn per round, so load from
other processes hits them alike): forward and forward+backward, for each dtype asked. DCNv4
reads one offset_mask row per pixel and its mask as it is; our DCNv3 op is timed as the
InternImage layer calls it on the CPU, offsets and mask logits as column slices of one tensor and
the softmax fused into the kernel (on CUDA: the softmax, then the DCNv3 op). The reference is
dcnv4_core_pytorch (grid_sample). The table gives median/best milliseconds and the ratios
DCNv3 / DCNv4 and reference / DCNv4 (above 1: DCNv4 is faster).

    python tools/analysis_tools/benchmark_dcnv4.py --threads 2                       # CPU, float32 and bfloat16
    python tools/analysis_tools/benchmark_dcnv4.py --device cuda --dtype float16 --shapes 64,56,56,128,4
    python tools/analysis_tools/benchmark_dcnv4.py --shapes 1,8,8,32,2 --repeat 1    # a quick check that it runs
"""
import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ops_dcnv3  # noqa: E402
from benchmark_dcnv3 import common_arguments, compiled_devices, measure, set_up, summary  # noqa: E402
from benchmark_dcnv3 import make_inputs as dcnv3_inputs  # noqa: E402
from ops_dcnv3.functions import (DCNv4Function, dcnv3_softmax_core, dcnv4_core_pytorch,  # noqa: E402
                                 pack_offset_mask)

# (N, H, W, C, G): the four stages of InternImage-T / FlashInternImage-T at 224 (group width 16),
# and a detection-sized first stage.
SHAPES = [(1, 56, 56, 64, 4), (1, 28, 28, 128, 8), (1, 14, 14, 256, 16), (1, 7, 7, 512, 32), (2, 100, 152, 64, 4)]
CORES = ('dcnv4', 'dcnv3', 'reference')


def make_inputs(shape, device, dtype):
    """value, offset_mask (DCNv4), and offset and mask logits side by side in one tensor (DCNv3): the
    inputs of benchmark_dcnv3.py, the mask's logits its log."""
    (value, offset, mask), params = dcnv3_inputs(shape, 'cpu', torch.float64)
    offset, mask = offset.detach(), mask.detach()
    offset_mask = pack_offset_mask(offset, mask, params[8])
    projected = torch.cat([offset, mask.log()], dim=-1)
    leaf = [t.to(device, dtype).requires_grad_() for t in (value.detach(), offset_mask, projected)]
    return leaf, (*params, 0)


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
    return measure(calls, device, repeat, clock, warm_up=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_arguments(parser)
    parser.add_argument('--dtype', action='append', choices=['float32', 'float16', 'bfloat16', 'float64'],
                        help='dtype(s) (default: float32 and bfloat16)')
    parser.add_argument('--shapes', nargs='+', help='N,H,W,C,G shapes (default: the stage shapes)')
    args = parser.parse_args()
    dtypes = args.dtype or ['float32', 'bfloat16']
    shapes = [tuple(int(v) for v in s.split(',')) for s in args.shapes] if args.shapes else SHAPES
    devices, clock = set_up(args, ', '.join(dtypes))
    legend = ('ms as median/best of the interleaved rounds; v3/v4 = our DCNv3 (fused softmax) over DCNv4, '
              'ref/v4 = reference over DCNv4')
    header = (f'{"device":6} {"dtype":8} {"N,H,W,C,G":>16} {"pass":7} | {"DCNv4 ms":>13} {"DCNv3 ms":>13} '
              f'{"ref ms":>15} | {"v3/v4":>9} {"ref/v4":>11}')
    for device in compiled_devices(devices, legend, header):
        for dtype in dtypes:
            for shape in shapes:
                s = bench(shape, device, getattr(torch, dtype), args.repeat, clock)
                for mode in ('fwd', 'fwd+bwd'):
                    med, best, pair = summary({core: s[(core, mode)] for core in CORES})

                    def ratio(core, width):
                        return f'{med[core] / med["dcnv4"]:.2f}/{best[core] / best["dcnv4"]:.2f}'.rjust(width)
                    print(f'{device:6} {dtype:8} {",".join(map(str, shape)):>16} {mode:7} | {pair("dcnv4")} '
                          f'{pair("dcnv3")} {pair("reference", 15)} | {ratio("dcnv3", 9)} '
                          f'{ratio("reference", 11)}', flush=True)


if __name__ == '__main__':
    main()
