"""Benchmark the compiled DCNv3 core against the pure-PyTorch reference.

Same inputs, same run: forward and forward+backward at the InternImage stage
shapes, printed in milliseconds with the speed-up over the reference.

    python tools/benchmark_dcnv3.py                 # CPU (and CUDA when present)
    python tools/benchmark_dcnv3.py --device cpu --threads 2
"""
import argparse
import statistics
import time

import torch

import ops_dcnv3
from ops_dcnv3.functions import DCNv3Function, dcnv3_core_pytorch

# (N, H, W, C, G) of InternImage stages.
SHAPES = [(1, 56, 56, 64, 4), (1, 28, 28, 128, 8), (2, 100, 152, 64, 4)]


def make_inputs(shape, device, dtype, kernel=3):
    n, h, w, c, g = shape
    gen = torch.Generator().manual_seed(0)
    points = kernel * kernel
    x = torch.randn(n, h, w, c, generator=gen)
    offset = torch.randn(n, h, w, g * points * 2, generator=gen)
    mask = torch.softmax(torch.randn(n, h, w, g, points, generator=gen), -1).reshape(n, h, w, -1)
    params = (kernel, kernel, 1, 1, 1, 1, 1, 1, g, c // g, 1.0)
    return [t.to(device, dtype).requires_grad_() for t in (x, offset, mask)], params


def compiled(x, offset, mask, params):
    return DCNv3Function.apply(x, offset, mask, *params, 256, 0)


def reference(x, offset, mask, params):
    return dcnv3_core_pytorch(x, offset, mask, *params, 0)


def time_ms(fn, device, repeat):
    """Median wall time of fn() in ms, after warm-up."""
    for _ in range(3):
        fn()
    samples = []
    for _ in range(repeat):
        if device == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == 'cuda':
            torch.cuda.synchronize()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def bench(shape, device, dtype, repeat):
    inputs, params = make_inputs(shape, device, dtype)
    grad = torch.randn_like(compiled(*inputs, params))
    row = {}
    for name, core in (('compiled', compiled), ('reference', reference)):
        def forward():
            with torch.no_grad():
                core(*inputs, params)

        def forward_backward():
            out = core(*inputs, params)
            torch.autograd.grad(out, inputs, grad)
        row[name] = (time_ms(forward, device, repeat), time_ms(forward_backward, device, repeat))
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', choices=['cpu', 'cuda'], action='append',
                        help='device(s) to run on (default: cpu, and cuda when available)')
    parser.add_argument('--dtype', default='float32', choices=['float32', 'float16', 'bfloat16', 'float64'])
    parser.add_argument('--threads', type=int, default=None, help='CPU threads (default: torch default)')
    parser.add_argument('--repeat', type=int, default=20)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.device or ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    dtype = getattr(torch, args.dtype)
    print(f'ops_dcnv3 backends: {sorted(ops_dcnv3.backends())}; torch {torch.__version__}; '
          f'{torch.get_num_threads()} CPU threads; {args.dtype}')
    header = (f'{"device":6} {"N,H,W,C,G":>18} | {"fwd ms":>8} {"ref ms":>8} {"x":>6} | '
              f'{"fwd+bwd ms":>10} {"ref ms":>8} {"x":>6}')
    print(header)
    print('-' * len(header))
    for device in devices:
        if device not in ops_dcnv3.backends():
            print(f'{device}: no compiled kernel in this build, skipped')
            continue
        for shape in SHAPES:
            row = bench(shape, device, dtype, args.repeat)
            (cf, cfb), (rf, rfb) = row['compiled'], row['reference']
            print(f'{device:6} {",".join(map(str, shape)):>18} | {cf:8.3f} {rf:8.3f} {rf / cf:6.1f} | '
                  f'{cfb:10.3f} {rfb:8.3f} {rfb / cfb:6.1f}')


if __name__ == '__main__':
    main()
